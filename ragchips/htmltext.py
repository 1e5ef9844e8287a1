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
        "br",
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


class _Extractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip_depth = 0
        self.title: list[str] = []
        self.h1: list[str] = []
        self._in_title = False
        self._in_h1 = False
        self._cells = 0  # cells seen in the current table row

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        if tag in _SKIP and tag not in _VOID:
            self.skip_depth += 1
        if tag == "h1":
            self._in_h1 = True
        if tag in _BLOCK:
            self.parts.append("\n\n")
        if tag == "tr":
            self._cells = 0
        elif tag in _CELL and not self.skip_depth:
            if self._cells:
                self.parts.append(" | ")
            self._cells += 1

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


# Where a page declares when it was published: <meta> tags, <time datetime>, JSON-LD.
_META = re.compile(r"<meta\b[^>]*>", re.I)
_META_DATE = re.compile(r"(?:name|property|itemprop)\s*=\s*[\"']?[\w:.-]*(?:date|time)", re.I)
_ISO = re.compile(r"\b(\d{4}-\d{2}-\d{2})")
_TIME = re.compile(r"<time\b[^>]*\bdatetime\s*=\s*[\"']?(\d{4}-\d{2}-\d{2})", re.I)
_JSON_DATE = re.compile(r"\"date\w*\"\s*:\s*\"(\d{4}-\d{2}-\d{2})")
_PRE = re.compile(r"(<pre\b.*?</pre>|<textarea\b.*?</textarea>)", re.I | re.S)


def declared_dates(html: str) -> set[str]:
    """The dates (YYYY-MM-DD) a page declares in its markup. A date trafilatura finds
    elsewhere is a guess from the text (a log line, a copyright year in a manual) and does
    not make the page a dated article."""
    dates = {m.group(1) for m in _TIME.finditer(html)} | set(_JSON_DATE.findall(html))
    for tag in _META.findall(html):
        if _META_DATE.search(tag):
            dates.update(_ISO.findall(tag))
    return dates


def _unwrap(html: str) -> str:
    """The page with its source line breaks made spaces, outside <pre>: in HTML they are
    spaces, but trafilatura's text keeps them, and each would become a paragraph."""
    parts = _PRE.split(html)
    return "".join(
        p if i % 2 else re.sub(r"[ \t]*[\r\n]+[ \t]*", " ", p) for i, p in enumerate(parts)
    )


def article(html: str) -> Page | None:
    """The article of a news page by trafilatura (body, real title, date, author), or None
    when trafilatura is not installed or the page is not a dated article.

    A page is dated when its markup declares the date trafilatura finds
    (:func:`declared_dates`). Undated pages (a short page, documentation, a list) are left
    to :func:`visible_text`:
    there trafilatura falls back to its baseline extractor, which keeps navigation and
    splits inline markup ("Premier <b>paragraphe</b>." becomes three lines)."""
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
