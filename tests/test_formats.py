"""PDF (with pages), Word and OpenDocument files, read by the real libraries, indexed and cited;
unsupported files and scans reported; a reader plugin found through its entry point."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ragchips import Index
from ragchips.reader import read_document, read_documents
from ragchips.readers import page_of
from ragchips.readers.pages import page_at

sys.path.insert(0, str(Path(__file__).parent))
from pdfgen import write_pdf

BIN = Path(sys.executable).parent
TOPICS = [
    "le budget communal",
    "la rénovation de l’école",
    "les transports en commun",
    "la gestion de l’eau",
    "les espaces verts",
    "la sécurité routière",
    "la médiathèque",
    "le marché de Noël",
    "l’éclairage public",
    "la collecte des déchets",
    "le plan local d’urbanisme",
    "les associations sportives",
]


def report_pages(n_pages: int = 12, lines_per_page: int = 18) -> list[list[str]]:
    """Known text per page: every line names its page, so any passage's page is checkable."""
    pages = []
    for p in range(1, n_pages + 1):
        topic = TOPICS[(p - 1) % len(TOPICS)]
        pages.append(
            [f"Chapitre {p} : {topic}."]
            + [
                f"Page {p}, ligne {i} : le conseil municipal examine {topic} "
                f"et vote la mesure {p}-{i}."
                for i in range(1, lines_per_page)
            ]
        )
    return pages


def expected_page(passage_text: str) -> int:
    """The page a passage starts on, read from its own first words ("Page 7, ligne ...")."""
    import re

    m = re.search(r"(?:Page|Chapitre) (\d+)", passage_text)
    assert m, passage_text[:80]
    return int(m.group(1))


def test_pdf_text_and_pages_are_exact(tmp_path: Path) -> None:
    pages = report_pages(3, 4)
    path = write_pdf(tmp_path / "rapport.pdf", pages, title="Rapport d’activité 2024")
    doc = read_document(path)
    assert doc.title == "Rapport d’activité 2024" and doc.metadata["format"] == "pdf"
    spans = doc.metadata["pages"]
    assert len(spans) == 3
    for (start, end), lines in zip(spans, pages):
        assert doc.text[start:end] == "\n".join(lines)  # accents and apostrophes kept
    assert page_of(doc, spans[1][0]) == 2 and page_of(doc, spans[2][1] - 1) == 3
    assert page_at([], 10) is None


def test_pdf_page_accuracy_of_every_passage(tmp_path: Path) -> None:
    """Index a 12-page PDF with known text per page: every passage has the right page."""
    path = write_pdf(tmp_path / "conseil.pdf", report_pages())
    index = Index.build([path], embedder="hash-384")
    doc = index.document("conseil")
    passages = [index.passage(row) for row in range(len(index))]
    assert len(passages) > 12
    right = 0
    for p in passages:
        assert doc.text[p.start : p.end] == p.text
        assert "pages" not in p.metadata  # kept once, on the document
        right += p.page == expected_page(p.text)
    assert right == len(passages), f"page accuracy {right}/{len(passages)}"
    hit = index.search("mesure 7-9 médiathèque", k=1, mode="lexical")[0]
    assert hit.page == 7 and hit.to_dict()["page"] == 7


def test_scan_pdf_is_skipped_with_a_warning_that_says_so(tmp_path: Path) -> None:
    write_pdf(tmp_path / "scan.pdf", [None, None])
    (tmp_path / "note.txt").write_text("Note\n\nUn texte lisible.", encoding="utf-8")
    skipped: list[tuple[str, str]] = []
    docs = read_documents([tmp_path], on_skip=lambda p, r: skipped.append((p, r)))
    assert [d.doc_id for d in docs] == ["note"]
    [(path, reason)] = skipped
    assert path.endswith("scan.pdf") and reason.kind == "no-text-layer"
    assert "without a text layer" in reason and "OCR" in reason


def test_docx_paragraphs_tables_title_author(tmp_path: Path) -> None:
    import docx

    d = docx.Document()
    d.core_properties.author = "Anne Martin"
    d.add_heading("Compte rendu du conseil", 0)
    d.add_paragraph("Le conseil municipal s’est réuni à Lyon le 3 mars.")
    table = d.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "Budget voté"
    table.cell(0, 1).text = "12 000 €"
    table.cell(1, 0).text = "Subvention"
    d.add_paragraph("La séance est levée à 22 h.")
    d.save(tmp_path / "cr.docx")
    doc = read_document(tmp_path / "cr.docx")
    assert doc.title == "Compte rendu du conseil"
    assert doc.metadata == {"format": "docx", "author": "Anne Martin"}
    assert doc.text.split("\n\n") == [
        "Compte rendu du conseil",
        "Le conseil municipal s’est réuni à Lyon le 3 mars.",
        "Budget voté | 12 000 €",
        "Subvention",
        "La séance est levée à 22 h.\n",
    ]


def test_odt_headings_paragraphs_and_title(tmp_path: Path) -> None:
    from odf import dc
    from odf.opendocument import OpenDocumentText
    from odf.table import Table, TableCell, TableRow
    from odf.text import H, List, ListItem, P

    o = OpenDocumentText()
    o.meta.addElement(dc.Title(text="Note de service"))
    o.text.addElement(H(outlinelevel=1, text="Horaires d’été"))
    o.text.addElement(P(text="La mairie ferme à 16 h en août."))
    items = List()
    item = ListItem()
    item.addElement(P(text="Permanence le samedi matin."))
    items.addElement(item)
    o.text.addElement(items)
    table = Table(name="Horaires")
    for values in (("Lundi", "9 h – 12 h|14 h – 17 h"), ("Mardi", "")):
        row = TableRow()
        for value in values:
            cell = TableCell()
            for paragraph in value.split("|"):  # a cell of two paragraphs is one cell
                cell.addElement(P(text=paragraph))
            row.addElement(cell)
        table.addElement(row)
    o.text.addElement(table)
    o.save(str(tmp_path / "note.odt"))
    doc = read_document(tmp_path / "note.odt")
    assert doc.title == "Note de service" and doc.metadata["format"] == "odt"
    assert doc.text == (
        "Horaires d’été\n\nLa mairie ferme à 16 h en août.\n\nPermanence le samedi matin.\n\n"
        "Lundi | 9 h – 12 h 14 h – 17 h\n\nMardi\n"
    )


@pytest.mark.parametrize(("name", "data"), [("bad.docx", b"PK\x03\x04 broken"), ("bad.odt", b"x")])
def test_broken_office_files_are_one_line_errors(tmp_path: Path, name: str, data: bytes) -> None:
    from ragchips.errors import UnreadableFileError

    (tmp_path / name).write_bytes(data)
    with pytest.raises(UnreadableFileError, match="not a readable") as info:
        read_document(tmp_path / name)
    assert "\n" not in str(info.value)


def test_missing_extra_is_named(tmp_path: Path) -> None:
    write_pdf(tmp_path / "r.pdf", [["Un rapport."]])
    code = (
        "import sys; sys.modules['pypdfium2'] = None\n"
        "from ragchips.reader import read_documents\n"
        "out = []\n"
        f"read_documents([{str(tmp_path)!r}], on_skip=lambda p, r: out.append((r.kind, str(r))))\n"
        "print(out)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "missing-extra" in out.stdout and "pip install 'ragchips[formats]'" in out.stdout


def test_index_command_reports_files_not_indexed_grouped(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    write_pdf(docs / "rapport.pdf", report_pages(2, 6), title="Rapport")
    write_pdf(docs / "scan.pdf", [None])
    (docs / "slides.pptx").write_bytes(b"PK\x03\x04")
    (docs / "budget.xlsx").write_bytes(b"PK\x03\x04")
    (docs / "old.xlsx").write_bytes(b"PK\x03\x04")
    out = subprocess.run(
        [str(BIN / "ragchips"), "index", str(docs), "--out", str(tmp_path / "idx")],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "RAGCHIPS_E5_ENGINE": "native"},
    )
    assert out.returncode == 0, out.stderr
    assert "indexed 1 documents" in out.stdout and "(1 files skipped)" in out.stdout
    assert "3 unsupported files ignored: .pptx, .xlsx" in out.stderr
    assert "scan.pdf" in out.stderr and "without a text layer" in out.stderr
    ask = subprocess.run(
        [
            str(BIN / "ask"),
            "rénovation école",
            "-k",
            "1",
            "--mode",
            "lexical",
            "--index",
            str(tmp_path / "idx"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ask.returncode == 0, ask.stderr
    assert "rapport.pdf, p. 2 [" in ask.stdout


PLUGIN = '''
from pathlib import Path
from ragchips.readers import Extracted

class ShoutReader:
    """A toy format: .shout files, read upper-case."""
    name = "shout"
    suffixes = (".shout",)

    def read(self, path: Path, data: bytes) -> Extracted:
        return Extracted(data.decode("utf-8").upper(), None, {"format": "shout"})
'''


def test_reader_plugin_found_through_its_entry_point(tmp_path: Path) -> None:
    """A separate package adds a format by declaring a ``ragchips.readers`` entry point."""
    site = tmp_path / "site"
    (site / "ragchips_shout-1.0.dist-info").mkdir(parents=True)
    (site / "ragchips_shout.py").write_text(textwrap.dedent(PLUGIN), encoding="utf-8")
    dist = site / "ragchips_shout-1.0.dist-info"
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ragchips-shout\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[ragchips.readers]\nshout = ragchips_shout:ShoutReader\n"
    )
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "cri.shout").write_text("Titre\n\nbonjour à tous", encoding="utf-8")
    code = (
        "import json; from ragchips.reader import read_documents\n"
        f"d = read_documents([{str(tmp_path / 'docs')!r}])[0]\n"
        "print(json.dumps([d.text, d.title, d.metadata]))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *sys.path])}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert json.loads(out.stdout) == ["TITRE\n\nBONJOUR À TOUS", "TITRE", {"format": "shout"}]


def test_register_replaces_and_rejects_non_readers(tmp_path: Path) -> None:
    from ragchips.errors import ConfigurationError
    from ragchips.readers import Extracted, reader_for, register, unregister

    class Upper:
        name = "upper"
        suffixes = (".up",)

        def read(self, path: Path, data: bytes) -> Extracted:
            return Extracted(data.decode().upper())

    (tmp_path / "a.up").write_text("Titre\n\ntexte", encoding="utf-8")
    register(Upper())
    try:
        assert reader_for("x.UP").name == "upper"
        assert read_document(tmp_path / "a.up").text == "TITRE\n\nTEXTE"
    finally:
        unregister(".up")
    assert reader_for("x.up") is None
    with pytest.raises(ConfigurationError, match="not a Reader"):
        register(object())  # type: ignore[arg-type]


def test_pdf_size_limit_is_the_readers_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The text-file limit does not refuse a PDF, whose bytes are mostly not text."""
    from ragchips import reader

    monkeypatch.setattr(reader, "MAX_FILE_BYTES", 10)
    pdf = write_pdf(tmp_path / "r.pdf", [["Un rapport de plus de dix octets."]])
    assert read_document(pdf).text == "Un rapport de plus de dix octets.\n"
    (tmp_path / "t.txt").write_text("Un texte de plus de dix octets.", encoding="utf-8")
    from ragchips.errors import UnreadableFileError

    with pytest.raises(UnreadableFileError, match="limit"):
        read_document(tmp_path / "t.txt")


def test_pdf_hyphenation_points_join_the_word_and_keep_written_hyphens() -> None:
    from ragchips.readers.pdf import document_words, normalise_page_text

    soft = {"nom\ufffebreux": "nombreux", "meil\ufffeleur": "meilleur", "ru\ufffeelle": "ruelle"}
    soft |= {"vil\ufffe\r\nles": "villes", "docu\x02\r\nmentation": "documentation"}
    written = {
        "contient\ufffeil": "contient-il",
        "Assurez\x02\r\nvous": "Assurez-vous",
        "Jean\ufffe\r\nPierre": "Jean-Pierre",
        "peut\ufffe\r\nêtre": "peut-être",
        "mail\ufffetransport-agent": "mail-transport-agent",
        "mail-transport\ufffe\r\nagent": "mail-transport-agent",
        "c'est-à\ufffe\r\ndire": "c'est-à-dire",
    }
    for raw, text in (soft | written).items():
        assert normalise_page_text(f"le mot {raw} ici\r\n") == f"le mot {text} ici", raw
    # The document's own words decide first: "week-end" is written so on another page.
    pages = ["Il part les week-ends.", "les week\ufffe\r\nends sont"]
    assert normalise_page_text(pages[1], document_words(pages)) == "les week-ends sont"


def test_spans_point_into_the_text_read_document_gives_back(
    tmp_path: Path, native_embedder
) -> None:
    """A BOM, cp1252 and Windows line endings: every passage and claim span is exact in
    ``read_document(source).text``, the text as ragchips read it (README, "In Python")."""
    from ragchips import ask

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "fondue.txt").write_text(
        "La fondue savoyarde se prépare avec trois fromages : beaufort, comté et emmental.",
        encoding="utf-8-sig",
    )
    cidre = "Le cidre de Cornouaille est élaboré avec des pommes récoltées à la main."
    (docs / "cidre.txt").write_bytes(cidre.encode("cp1252"))
    (docs / "galette.txt").write_bytes(
        b"La galette\r\n\r\nLa galette de sarrasin est la sp\xc3\xa9cialit\xc3\xa9 de Rennes.\r\n"
    )
    index = Index.build([docs], embedder=native_embedder, out=tmp_path / "idx")
    for question in (
        "Quels fromages pour la fondue ?",
        "Comment est récolté le cidre ?",
        "De quelle ville la galette de sarrasin est-elle la spécialité ?",
    ):
        a = ask(question, k=3, index=index)
        for p in a.passages:
            assert read_document(p.source).text[p.start : p.end] == p.text
        for c in a.claims:
            doc = index.document(c.doc_id)
            assert read_document(doc.source).text[c.start : c.end] == c.text
    assert "\r" not in ask("spécialité de Rennes", k=1, index=index).claims[0].text


def test_a_claim_gives_the_page_of_its_own_sentence(tmp_path: Path, native_embedder) -> None:
    """A passage may start on one page and the cited sentence lie on a later one: the claim
    says the sentence's page, and every surface shows pages (chat citations included)."""
    from ragchips import ask
    from ragchips.server.routes.chat import sources_block
    from ragchips.server.schemas import Citation

    docs = tmp_path / "docs"
    docs.mkdir()
    write_pdf(
        docs / "mairie.pdf",
        [
            ["Première page : le budget communal est voté en mars."],
            ["Deuxième page : la voirie sera refaite en juin."],
            ["Troisième page : la cantine scolaire servira des repas bio."],
        ],
    )
    index = Index.build([docs], embedder=native_embedder, out=tmp_path / "idx")
    a = ask("Que servira la cantine scolaire ?", k=1, index=index)
    claim, passage = a.claims[0], a.passages[0]
    assert "cantine" in claim.text and claim.page == 3
    assert passage.page == 1 and a.to_dict()["claims"][0]["page"] == 3
    assert f"p. 3 [{claim.start}:{claim.end}]" in str(a)
    assert "p. 1" in a._repr_html_() and "p. 1" in a._repr_markdown_()
    assert Citation.of(passage).page == 1 and ", p. 1 [" in sources_block(a.passages)

    # A reranker's copies of the passages keep their pages too.
    class Same:
        name = "same"

        def rerank(self, question: str, passages: list) -> list:
            return [dataclasses.replace(p, score=0.0) for p in passages]

    b = ask("Que servira la cantine scolaire ?", k=1, index=index, rerank=Same())
    assert b.claims[0].page == 3 and b.passages[0].page_at(b.claims[0].start) == 3
