"""The visible text of an HTML page, laid out as paragraphs.

For an HTML file, passage offsets point into this extracted text (what a reader sees),
not into the markup: the text is stored in the index, so citations stay exact. Scripts,
styles, navigation and forms are dropped; block elements become paragraph breaks, a
``<br>`` a line break inside its paragraph, and ``<pre>`` keeps its lines and indentation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from .htmldates import declared_dates

__all__ = ["Page", "article", "extract_page", "visible_text"]

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
        "hr",
        "figure",
        "figcaption",
        "dd",
        "dt",
        "dl",
        "address",
    }
)
# A table row is one block, its cells joined by " | ": a cell alone ("Enregistrement des
# actions de dpkg") loses the key of its row ("/var/log/dpkg.log").
_CELL = frozenset({"td", "th"})
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


_SPACES = re.compile(r"\s+")


class _Extractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[tuple[str, bool]] = []  # (text, from a <pre>)
        self._buf: list[str] = []
        self._buf_pre = False
        self.skip_depth = 0
        self.title: list[str] = []
        self.h1: list[str] = []
        self._in_title = False
        self._in_h1 = False
        self._cells = 0  # cells seen in the current table row
        self._in_cell = 0  # open table cells: blocks inside one are spaces, the row one block
        self._pre = 0  # open <pre>: the only place where source whitespace is kept

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        if tag in _SKIP and tag not in _VOID:
            self.skip_depth += 1
        if tag == "h1":
            self._in_h1 = True
        if tag == "pre":
            self._pre += 1
        if tag in _BLOCK:
            self._break(tag)
        elif tag == "br" and not self.skip_depth:
            self._buf.append(" " if self._in_cell else "\n")
        if tag == "tr":
            self._cells = 0
        elif tag in _CELL and not self.skip_depth:
            if self._cells:
                self._buf.append(" | ")
            self._cells += 1
            self._in_cell += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if tag in _SKIP and self.skip_depth:
            self.skip_depth -= 1
        if tag == "h1":
            self._in_h1 = False
        if tag == "pre" and self._pre:
            self._pre -= 1
        if tag in _CELL and self._in_cell:
            self._in_cell -= 1
        if tag in _BLOCK:
            self._break(tag)

    def _break(self, tag: str) -> None:
        """A block's edge: a paragraph break, but only a space inside a table cell."""
        if self._in_cell and tag not in ("tr", "table"):
            self._buf.append(" ")
        else:
            self.flush()

    def flush(self) -> None:
        if self._buf:
            self.blocks.append(("".join(self._buf), self._buf_pre))
        self._buf = []
        self._buf_pre = self._pre > 0

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title.append(data)
            return
        if self.skip_depth:
            return
        if self._in_h1:
            self.h1.append(data)
        # Outside <pre>, a source line break is a space: a blank line inside a <p>, or
        # between the cells of one row, is no paragraph break.
        self._buf.append(data if self._pre else _SPACES.sub(" ", data))


def visible_text(html: str) -> tuple[str, str | None]:
    """(visible text, page title or first heading)."""
    parser = _Extractor()
    parser.feed(html)
    parser.close()
    parser.flush()
    blocks = []
    for raw, pre in parser.blocks:
        for block in re.split(r"\n[^\S\n]*\n", raw):
            if pre:  # a listing: its lines and indentation are its meaning
                lines = [line.rstrip() for line in block.expandtabs(8).split("\n")]
            else:  # source whitespace is a space; what is left of a line is a <br>
                lines = [" ".join(line.split()) for line in block.split("\n")]
            kept = "\n".join(lines).strip("\n")
            if kept.strip():
                blocks.append(kept)
    title = " ".join("".join(parser.h1).split()) or " ".join("".join(parser.title).split())
    return "\n\n".join(blocks) + ("\n" if blocks else ""), title or None


@dataclass(frozen=True)
class Page:
    """An HTML page as indexed: its text, its title and metadata (date, author...)."""

    text: str
    title: str | None
    metadata: dict[str, Any] = field(default_factory=dict)


def extract_page(html: str, use_article: bool = True) -> Page:
    """The page's text, title and metadata, as the index stores them.

    trafilatura's article (when installed and it finds one) wins over the visible text:
    on the news pages of tests/data/html_news it keeps the same body recall with higher
    precision (no comments, related lists or banners) and finds date and author (see
    tests/bench/bench_html.py). Other pages fall back to :func:`visible_text`.
    """
    text, title = visible_text(html)
    found = article(html) if use_article else None
    if found is None:
        return Page(text, title, {"extractor": "visible-text"})
    return Page(found.text, found.title or title, {**found.metadata, "extractor": "trafilatura"})


def _blocks(text: str) -> str:
    """One paragraph per line -> blank-line separated blocks, whitespace collapsed."""
    lines = [" ".join(line.split()) for line in text.splitlines()]
    kept = [line for line in lines if line]
    return "\n\n".join(kept) + ("\n" if kept else "")


_PRE = re.compile(r"<(pre|textarea)\b", re.I)
_BREAKS = re.compile(r"[\r\n]+")


def _unwrap(html: str) -> str:
    """The page with its source line breaks made spaces, outside <pre> and <textarea>: in
    HTML they are spaces, but trafilatura's text keeps them, and each would become a
    paragraph. Linear in the page, even with unclosed tags."""
    out, i, low = [], 0, html.lower()
    while (m := _PRE.search(html, i)) is not None:
        out.append(_BREAKS.sub(" ", html[i : m.start()]))
        close = low.find(f"</{m.group(1).lower()}", m.end())
        i = len(html) if close < 0 else close
        out.append(html[m.start() : i])
    out.append(_BREAKS.sub(" ", html[i:]))
    return "".join(out)


def article(html: str) -> Page | None:
    """The article of a news page by trafilatura (body, real title, date, author), or None
    when trafilatura is not installed or the page is not a dated article.

    A page is dated when its markup declares the date trafilatura finds
    (:func:`ragchips.htmldates.declared_dates`). Undated pages (a short page,
    documentation, a list) are left to :func:`visible_text`: there trafilatura falls back
    to its baseline extractor, which keeps navigation and splits inline markup ("Premier
    <b>paragraphe</b>." becomes three lines)."""
    try:
        import trafilatura
    except ImportError:
        return None
    found = trafilatura.bare_extraction(
        _unwrap(html), with_metadata=True, include_comments=False, include_tables=True
    )
    if found is None:
        return None
    data = found.as_dict() if hasattr(found, "as_dict") else dict(found)
    body = _blocks(data.get("text") or "")
    date = str(data.get("date") or "")[:10]
    if not body or not date or date not in declared_dates(html):
        return None
    title = " ".join((data.get("title") or "").split()) or None
    if title and not body.startswith(title):
        body = f"{title}\n\n{body}"  # the headline is part of the article
    metadata = {k: str(data[k]) for k in ("date", "author") if data.get(k)}
    return Page(body, title, metadata)
