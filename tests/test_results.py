from __future__ import annotations

from ragchips import Answer, Passage


def make_answer() -> Answer:
    p = Passage(
        rank=1,
        score=2.0,
        text="La puce <b>sera</b> fabriquée par TSMC.",
        doc_id="d",
        source="seeds/d.txt",
        title="Un titre & co",
        start=10,
        end=48,
    )
    return Answer(
        question="qui fabrique ?",
        answer="La puce sera fabriquée par TSMC. [1]",
        found=True,
        passages=[p],
    )


def test_text_rendering_lists_numbered_sources() -> None:
    text = str(make_answer())
    assert text.startswith("La puce sera fabriquée par TSMC. [1]")
    assert "[1] Un titre & co — seeds/d.txt [10:48]" in text
    assert "« La puce <b>sera</b> fabriquée par TSMC. »" in text


def test_html_rendering_escapes_document_text() -> None:
    html = make_answer()._repr_html_()
    assert "&lt;b&gt;sera&lt;/b&gt;" in html and "<b>sera</b>" not in html
    assert "Un titre &amp; co" in html and "<ol>" in html


def test_markdown_rendering() -> None:
    md = make_answer()._repr_markdown_()
    assert "**Sources**" in md and "`seeds/d.txt`" in md


def test_markdown_source_with_backticks_cannot_inject_html() -> None:
    from dataclasses import replace

    from markdown_it import MarkdownIt

    a = make_answer()
    evil = "docs/a`<img src=x onerror=alert(7)>`.txt"
    a = replace(a, passages=[replace(a.passages[0], source=evil)])
    rendered = MarkdownIt().render(a._repr_markdown_())
    assert "<img" not in rendered and "&lt;img src=x onerror=alert(7)&gt;" in rendered


def test_quote_shortens_long_passages() -> None:
    p = Passage(
        rank=1, score=0, text="mot " * 200, doc_id="d", source="s", title="t", start=0, end=800
    )
    q = p.quote(50)
    assert len(q) == 50 and q.endswith("…")


def test_cited_sentence_and_answer_phrase_are_highlighted() -> None:
    from ragchips.results import Claim

    doc = "Avant. La puce sera fabriquée par TSMC. Après <b>x</b>."
    p = Passage(
        rank=1,
        score=1.0,
        text=doc,
        doc_id="d",
        source="s.txt",
        title="T",
        start=0,
        end=len(doc),
        confidence=0.8,
    )
    a0, a1 = doc.index("La puce"), doc.index(" Après")
    t0 = doc.index("TSMC")
    claim = Claim(doc[a0:a1], 1, "d", a0, a1, "TSMC", t0, t0 + 4)
    a = Answer("qui ?", f"{claim.text} [1]", True, [p], claims=[claim], confidence=0.8)
    html = a._repr_html_()
    assert "<mark>La puce sera fabriquée par <b>TSMC</b>.</mark>" in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html
    md = a._repr_markdown_()
    assert "**La puce sera fabriquée par ***TSMC***.**" in md
    text = str(a)
    assert "▶ « La puce sera fabriquée par [TSMC]. » [7:39]" in text
    d = a.to_dict()
    assert d["claims"][0]["phrase"] == "TSMC" and d["passages"][0]["confidence"] == 0.8
