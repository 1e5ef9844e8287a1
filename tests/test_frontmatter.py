"""Markdown front matter: metadata and title, never a passage; anything else is body text."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragchips import Index
from ragchips.cleaning import clean
from ragchips.frontmatter import front_matter, front_matter_end
from ragchips.reader import read_document

PAGE = (
    "---\n"
    'title: "Guide de la médiathèque"\n'
    "date: 2024-03-12\n"
    "tags: [bibliothèque, horaires]\n"
    "authors:\n  - Service culturel\n  - Mairie\n"
    "draft: false\n"
    "---\n\n"
    "# Guide de la médiathèque\n\n"
    "La médiathèque municipale est ouverte du mardi au samedi. Elle ferme le lundi.\n"
)


def test_fields_are_read_and_the_body_starts_after_the_block() -> None:
    assert front_matter(PAGE) == {
        "title": "Guide de la médiathèque",
        "date": "2024-03-12",
        "tags": ["bibliothèque", "horaires"],
        "author": "Service culturel, Mairie",
    }
    assert PAGE[front_matter_end(PAGE) :].startswith("\n# Guide")
    crlf = PAGE.replace("\n", "\r\n").replace("---\r\n\r\n#", "...\r\n\r\n#")
    assert front_matter(crlf)["title"] == "Guide de la médiathèque"
    assert front_matter("\ufeff" + PAGE)["date"] == "2024-03-12"


@pytest.mark.parametrize(
    "text",
    [
        "---\nUne ligne de texte, pas du YAML.\n---\nSuite.",  # a horizontal rule, not a mapping
        "---\ntitle: [non fermé\n---\nSuite.",  # YAML that does not parse
        "---\ntitle: Sans fin\nLe texte continue sans ligne de clôture.",
        "Texte.\n---\ntitle: Plus loin\n---\n",  # not at the start
        "---\n!!python/object/apply:os.system ['echo pwned']\n---\nSuite.",  # safe_load refuses
    ],
)
def test_anything_else_is_body_text(text: str) -> None:
    assert front_matter(text) == {} and front_matter_end(text) == 0
    assert clean(text).segments[0][0] == 0


def test_a_markdown_file_s_front_matter_is_metadata_not_a_passage(tmp_path: Path) -> None:
    path = tmp_path / "guide.md"
    path.write_text(PAGE, encoding="utf-8")
    doc = read_document(path)
    assert doc.title == "Guide de la médiathèque"
    assert doc.metadata["date"] == "2024-03-12" and doc.metadata["tags"] == [
        "bibliothèque",
        "horaires",
    ]
    assert doc.text == PAGE  # spans point into the file as it is
    index = Index.build([path], embedder="hash-384")
    texts = [p.text for p in index.passages]
    assert texts and not any("title:" in t or t.startswith("---") for t in texts)
    hits = index.search("médiathèque", k=3, where={"tags": "horaires"})
    assert hits and all(doc.text[h.start : h.end] == h.text for h in hits)
    from ragchips.errors import NoMatchError

    with pytest.raises(NoMatchError, match="no document matches"):
        index.search("médiathèque", k=3, where={"tags": "sport"})
