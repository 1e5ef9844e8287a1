from __future__ import annotations

from pathlib import Path

from ragchips.chunking import ChunkerSettings, chunk_spans, sentence_spans
from ragchips.cleaning import clean

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def test_spans_are_exact_on_the_seeds() -> None:
    for path in sorted(SEEDS.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        spans = chunk_spans(text, clean(text).segments)
        assert spans
        for a, b in spans:
            piece = text[a:b]
            assert piece == piece.strip() and piece
            assert b - a <= ChunkerSettings().chunk_size


def test_repeated_text_gets_increasing_distinct_offsets() -> None:
    para = "La puce est gravée à Taïwan. Elle sera produite en 2026."
    text = "\n\n".join([para] * 12)
    settings = ChunkerSettings(chunk_size=120, chunk_overlap=0)
    spans = chunk_spans(text, None, settings)
    starts = [a for a, _ in spans]
    assert starts == sorted(set(starts))
    assert all(text[a:b] in (para, para + "\n\n" + para) or para in text[a:b] for a, b in spans)
    # together the chunks cover every occurrence
    covered = set()
    for a, b in spans:
        covered.update(range(a, b))
    assert all(i in covered for i in range(len(text)) if not text[i].isspace())


def test_overlap_keeps_order_and_exactness() -> None:
    text = " ".join(f"Phrase numéro {i} sur la fabrication des puces." for i in range(60))
    spans = chunk_spans(text, None, ChunkerSettings(chunk_size=200, chunk_overlap=60))
    assert len(spans) > 5
    assert [a for a, _ in spans] == sorted(a for a, _ in spans)
    assert any(spans[i][0] < spans[i - 1][1] for i in range(1, len(spans)))  # real overlap


def test_french_sentences_with_guillemets_and_ellipsis() -> None:
    text = (
        "« Le facteur limitant est la capacité. » Il l’a dit hier… Puis il est parti ! "
        "Était-ce prévu ? M. Dupont ne sait pas."
    )
    sentences = [text[a:b] for a, b in sentence_spans(text)]
    assert sentences[0] == "« Le facteur limitant est la capacité. »"
    assert sentences[1] == "Il l’a dit hier…"
    assert sentences[2] == "Puis il est parti !"
    assert sentences[3] == "Était-ce prévu ?"


def test_numbers_and_decimals_do_not_split_sentences() -> None:
    text = "Le marché pèse 14,2 milliards et 3.5 % de croissance. Fin."
    sentences = [text[a:b] for a, b in sentence_spans(text)]
    assert sentences == ["Le marché pèse 14,2 milliards et 3.5 % de croissance.", "Fin."]


def test_sentence_spans_respect_bounds() -> None:
    text = "Avant. Dedans un. Dedans deux. Après."
    start = text.index("Dedans")
    end = text.index(" Après")
    assert [text[a:b] for a, b in sentence_spans(text, start, end)] == [
        "Dedans un.",
        "Dedans deux.",
    ]


def test_chunks_never_cross_removed_furniture() -> None:
    text = "Titre\n\nCorps un.\nPartager · Tweeter · Voir les commentaires\nCorps deux."
    c = clean(text)
    spans = chunk_spans(text, c.segments)
    assert all("Partager" not in text[a:b] for a, b in spans)


def test_bad_settings_are_clear_errors() -> None:
    import pytest

    from ragchips.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="at least 50"):
        ChunkerSettings(chunk_size=0)
    with pytest.raises(ConfigurationError, match="overlap"):
        ChunkerSettings(chunk_size=100, chunk_overlap=100)
    with pytest.raises(ConfigurationError, match="unknown splitter 'v9': known ones are"):
        ChunkerSettings(splitter="v9")


def test_hard_wrapped_text_is_cut_where_sentences_end() -> None:
    """Plain text and PDF pages wrap every ~70 characters: a passage ends where a sentence
    does, not where a line does (the first splitter cut at every line break)."""
    words = [
        "le",
        "conseil",
        "municipal",
        "examine",
        "la",
        "rénovation",
        "de",
        "l’école",
        "et",
        "vote",
        "le",
        "budget",
    ]
    sentences = [" ".join(words[i % 5 :] + words[: i % 5]).capitalize() + "." for i in range(30)]
    flowing = " ".join(sentences)
    lines, line = [], ""
    for word in flowing.split():
        if len(line) + len(word) + 1 > 70:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    text = "\n".join([*lines, line])
    spans = chunk_spans(text)
    assert len(spans) > 3
    assert all(text[a:b][0].isupper() and text[a:b].endswith(".") for a, b in spans)
    old = chunk_spans(text, settings=ChunkerSettings(splitter="langchain-recursive-fr-v1"))
    assert not all(text[a:b].endswith(".") for a, b in old)  # what v1 did
