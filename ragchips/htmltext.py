"""The visible text of an HTML page, laid out as paragraphs.

For an HTML file, passage offsets point into this extracted text (what a reader sees),
not into the markup: the text is stored in the index, so citations stay exact. Scripts,
styles, navigation and forms are dropped; block elements become paragraph breaks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

__all__ = ["Page", "extract_page", "visible_text"]

_SKIP = frozenset(
    {
        "script",
        "style",
        "noscript",
        "template",
        "head",
        "nav",
        "form",
        "svg",
        "iframe",
        "button",
        "select",
        "aside",
        "footer",
    }
)
_BLOCK = frozenset(
    {
        "p",
        "div",
        "section",
        "article",
        "main",
        "header",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "li",
        "ul",
        "ol",
        "table",
        "tr",
        "blockquote",
        "pre",
        "br",
        "hr",
        "figure",
        "figcaption",
        "dd",
        "dt",
        "dl",
        "address",
        "td",
        "th",
    }
)
_VOID = frozenset(
    {
        "br",
        "hr",
        "img",
        "input",
        "meta",
        "link",
        "area",
        "base",
        "col",
        "embed",
        "source",
        "track",
        "wbr",
    }
)


class _Extractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip_depth = 0
        self.title: list[str] = []
        self.h1: list[str] = []
        self._in_title = False
        self._in_h1 = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        if tag in _SKIP and tag not in _VOID:
            self.skip_depth += 1
        if tag == "h1":
            self._in_h1 = True
        if tag in _BLOCK:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if tag in _SKIP and self.skip_depth:
            self.skip_depth -= 1
        if tag == "h1":
            self._in_h1 = False
        if tag in _BLOCK:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title.append(data)
            return
        if self.skip_depth:
            return
        if self._in_h1:
            self.h1.append(data)
        self.parts.append(data)


def visible_text(html: str) -> tuple[str, str | None]:
    """(visible text, page title or first heading)."""
    parser = _Extractor()
    parser.feed(html)
    parser.close()
    raw = "".join(parser.parts)
    blocks = []
    for block in re.split(r"\n\s*\n", raw):
        line = " ".join(block.split())
        if line:
            blocks.append(line)
    title = " ".join("".join(parser.h1).split()) or " ".join("".join(parser.title).split())
    return "\n\n".join(blocks) + ("\n" if blocks else ""), title or None


@dataclass(frozen=True)
class Page:
    """An HTML page as indexed: its text, its title and metadata (date, author...)."""

    text: str
    title: str | None
    metadata: dict[str, Any] = field(default_factory=dict)


def extract_page(html: str) -> Page:
    """The page's text, title and metadata, as the index stores them."""
    text, title = visible_text(html)
    return Page(text, title)
