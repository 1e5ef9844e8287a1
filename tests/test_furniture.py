"""Page furniture: running headers, footers and page numbers left out; sentences kept whole."""

from __future__ import annotations

import sys
from pathlib import Path

from ragchips import Index
from ragchips.reader import read_document
from ragchips.readers.furniture import join_pages, strip_furniture
from ragchips.sentences import split_sentences

sys.path.insert(0, str(Path(__file__).parent))
from pdfgen import write_pdf

SECTIONS = ["1.2. LE BUDGET", "1.3. LES ÉCOLES", "2.1. L’EAU", "2.4. LES ROUTES", "3.1. LA MAIRIE"]


def _book(n: int = 10) -> list[list[str]]:
    """A book's pages as a LaTeX class prints them: an upper-case running header naming the
    section (it changes every two pages), the body, a page number; each page ends
    mid-sentence and the next goes on, except on the chapter's first page."""
    pages = []
    for p in range(1, n + 1):
        header = [] if p == 1 else [f"CHAPITRE 1. LA COMMUNE {SECTIONS[p // 2 % 5]}"]
        body = [
            f"la séance {p} s’ouvre." if p > 1 else "Chapitre 1",
            f"Le conseil examine le dossier numéro {p} et vote la mesure",
        ]
        pages.append(header + body + [str(p)])
    return pages


def test_headers_and_page_numbers_are_left_out_and_the_sentence_goes_on() -> None:
    pages = ["\n".join(lines) for lines in _book()]
    stripped = strip_furniture(pages)
    for text in stripped:
        assert "CHAPITRE 1. LA COMMUNE" not in text
        assert not text.splitlines()[-1].isdigit()  # the page number is gone
    assert stripped[0].startswith("Chapitre 1\n")  # a short heading is not furniture
    text, spans = join_pages(stripped)
    assert [text[a:b] for a, b in spans] == stripped
    # "… vote la mesure" / "la séance 2 s’ouvre.": one sentence across the page break.
    sentences = [s.text for s in split_sentences(text)]
    assert "Le conseil examine le dossier numéro 1 et vote la mesure\nla séance 2 s’ouvre." in (
        sentences
    )


def test_a_page_that_ends_a_sentence_is_followed_by_a_paragraph_break() -> None:
    text, spans = join_pages(["Fin de la page.", "Nouvelle page.", "suite en minuscules"])
    assert text == "Fin de la page.\n\nNouvelle page.\n\nsuite en minuscules"
    assert spans == [[0, 15], [17, 31], [33, 52]]
    text, _ = join_pages(["Le maire a signé le", "contrat hier."])
    assert text == "Le maire a signé le\ncontrat hier."


def test_body_lines_that_repeat_everywhere_are_not_furniture() -> None:
    """Lines that open with the same words at the page edge *and* all through the body
    (minutes, logs, a table) are content, and a document of two pages is left alone."""
    pages = [
        "\n".join(f"Article {p}.{i} : le conseil municipal adopte la mesure." for i in range(6))
        for p in range(12)
    ]
    assert strip_furniture(pages) == pages
    two = ["EN-TÊTE DU RAPPORT ANNUEL\nTexte.\n1", "EN-TÊTE DU RAPPORT ANNUEL\nSuite.\n2"]
    assert strip_furniture(two) == two


def test_a_footer_with_the_page_count_and_a_repeated_title_are_furniture() -> None:
    topics = ["Le budget a été voté.", "Une école ouvre.", "La route est refaite."] * 2
    pages = [
        f"Rapport d’activité 2024 de la commune\n{topic}\nPage {p} sur 6"
        for p, topic in enumerate(topics, 1)
    ]
    assert strip_furniture(pages) == topics


def test_a_real_pdf_with_headers_and_footers_reads_whole_sentences(tmp_path: Path) -> None:
    path = write_pdf(tmp_path / "livre.pdf", _book(), title="Livre")
    doc = read_document(path)
    assert "CHAPITRE 1. LA COMMUNE" not in doc.text
    assert "vote la mesure\nla séance 2 s’ouvre." in doc.text
    spans = doc.metadata["pages"]
    assert len(spans) == 10 and doc.text[spans[3][0] :].startswith("la séance 4 s’ouvre.")
    index = Index.build([path], embedder="hash-384")
    for hit in index.search("dossier numéro 7 mesure", k=3, mode="lexical"):
        assert doc.text[hit.start : hit.end] == hit.text
        assert hit.page == next(n for n, (a, b) in enumerate(spans, 1) if a <= hit.start <= b)


def test_a_header_that_ends_with_the_book_title_is_furniture() -> None:
    """Sphinx-style odd pages: the section's name, then the book's title."""
    sections = ["1.1. Mise en route", "1.2. Les paquets", "1.3. Le budget", "2.1. Les écoles"]
    bodies = ["On commence ici.", "Chaque paquet compte.", "Le budget passe.", "Une école ouvre."]
    pages = [
        f"{s} Guide du conseil municipal\n{b}\nSuite du texte." for s, b in zip(sections, bodies)
    ]
    assert strip_furniture(pages) == [f"{b}\nSuite du texte." for b in bodies]


def _kept_all(pages: list[str]) -> bool:
    return strip_furniture(pages) == [p.strip() for p in pages]


def test_formulas_that_content_repeats_on_every_page_stay() -> None:
    """Invoices, minutes, statements, slides and Q&A repeat a pattern on every page, but
    their numbers and dates do not count with the pages, or the line is a sentence."""
    # (An invoice number that went up by one with the pages, or a line repeated word for
    # word at every page's foot, would be read as a page number or a footer.)
    invoices = [
        f"Facture n° 2024-{(37 * p) % 101:04d} du {(11 * p) % 28 + 1:02d}/03/2024\n"
        f"Client : Mairie de Brest\nMontant : {100 + 7 * p} euros\nPaiement à 30 jours."
        for p in range(1, 9)
    ]
    minutes = [
        f"Séance du conseil municipal du {3 + 7 * p} mars 2024\nLe conseil vote le point {p}.\n"
        f"Le débat porte sur l’école.\nLa séance est levée à 21 h 10."
        for p in range(8)
    ]
    statement = [
        "\n".join(f"{d:02d}/03 PRLV SEPA EDF FACTURE {d * p}" for d in range(1, 31))
        for p in range(1, 6)
    ]
    slides = [f"{p}. CONTEXTE DU PROJET NUMÉRO {p}\n- vote prévu en juin" for p in range(1, 9)]
    one_liners = [f"Le conseil municipal a voté la mesure numéro {i}." for i in range(10)]
    questions = [
        f"Question {i} : combien coûte la cantine ?\nRéponse : {i} euros par repas."
        for i in range(9)
    ]
    table = ["\n".join(str(v) for v in (7 * p % 11, 3 * p % 13, 5 * p % 17)) for p in range(9)]
    for pages in (invoices, minutes, statement, slides, one_liners, questions, table):
        assert _kept_all(pages), pages[0][:60]


def test_a_long_book_loses_its_mixed_case_running_heads() -> None:
    """Five chapters of twenty pages, each page topped by its chapter's name: a head needs
    at most eight repeats, not a tenth of the book."""
    pages = [
        f"Chapitre {c}. Le titre du chapitre {c}\nLe texte de la page {20 * c + i} commence ici.\n"
        f"Il continue sur une autre ligne.\n{20 * c + i + 1}"
        for c in range(5)
        for i in range(20)
    ]
    out = strip_furniture(pages)
    assert not any("Chapitre" in page or page.splitlines()[-1].isdigit() for page in out)
