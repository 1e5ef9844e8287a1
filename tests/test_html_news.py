"""News pages: trafilatura's article against the visible text, measured; the winner is used."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from ragchips import Index
from ragchips.reader import read_document

sys.path.insert(0, str(Path(__file__).parent / "bench"))
import bench_html

PAGES = Path(__file__).parent / "data" / "html_news"


def test_article_extractor_wins_where_it_is_used() -> None:
    results = bench_html.measure()
    assert len(results) == 6
    mean = {
        name: {
            key: sum(r[name][key] for r in results.values()) / len(results)
            for key in ("recall", "precision", "title", "date", "author")
        }
        for name in ("builtin", "trafilatura")
    }
    art, old = mean["trafilatura"], mean["builtin"]
    assert art["recall"] >= old["recall"] >= 0.99  # nothing of the article is lost
    assert art["precision"] > old["precision"] + 0.05  # comments, related lists, banners out
    assert art["title"] >= old["title"] and art["date"] == 1.0 and art["author"] >= 5 / 6


def test_news_pages_are_read_as_articles_with_date_and_author(tmp_path: Path) -> None:
    doc = read_document(PAGES / "mairie.html")
    assert doc.title == "Rennes : la ville ouvre trois nouvelles crèches"
    assert doc.metadata["date"] == "2024-03-12" and doc.metadata["author"] == "Claire Lemoine"
    assert doc.metadata["extractor"] == "trafilatura" and doc.metadata["format"] == "html"
    assert "Yannick35" not in doc.text and "À lire aussi" not in doc.text  # comments, related
    assert "cookies" not in doc.text
    for page in PAGES.glob("*.html"):
        shutil.copy(page, tmp_path / page.name)
    index = Index.build([tmp_path], embedder="hash-384")
    for row in range(len(index)):
        p = index.passage(row)
        assert index.document(p.doc_id).text[p.start : p.end] == p.text
    hits = index.search("crèches", k=5, mode="lexical", where={"date": "2024-03-12"})
    assert {h.doc_id for h in hits} == {"mairie"}


def test_visible_text_can_be_chosen_instead(tmp_path: Path) -> None:
    from ragchips.readers import reader_for, register
    from ragchips.readers.text import HtmlReader

    before = reader_for("x.html")
    register(HtmlReader(article=False))
    try:
        doc = read_document(PAGES / "mairie.html")
        assert doc.metadata["extractor"] == "visible-text" and "Yannick35" in doc.text
    finally:
        register(before)
