"""The dates an HTML page declares about itself, in its markup.

A news page says when it was published: ``<meta property="article:published_time">``,
``<meta name="DC.date">``, ``<time datetime>``, ``<abbr class="published" title>``, an
element whose class names a date ("date", "published", "dateline"), JSON-LD's
``datePublished``. trafilatura (through htmldate) also guesses dates from the text, such as
a log line or a build date in a manual; such a guess must not make a manual a dated article
(:func:`ragchips.htmltext.article`), nor give it a ``date`` that filters would trust.

Parsed with the standard library's HTML parser (linear in the page, whatever the markup).
Values are read in the usual forms: ISO ``2024-03-13``, ``20240313``, ``13/03/2024``
(day first, and month first when that is the only valid reading), ``2024/03/13``,
``13 mars 2024``, ``March 13, 2024``.
"""

from __future__ import annotations

import contextlib
import re
from datetime import date
from html.parser import HTMLParser

__all__ = ["declared_dates", "parse_dates"]

_MONTHS = {
    name: i + 1
    for i, names in enumerate(
        (
            "janvier january jan",
            "février fevrier february feb",
            "mars march mar",
            "avril april apr",
            "mai may",
            "juin june jun",
            "juillet july jul",
            "août aout august aug",
            "septembre september sep sept",
            "octobre october oct",
            "novembre november nov",
            "décembre decembre december dec",
        )
    )
    for name in names.split()
}
_MONTH = "|".join(sorted(_MONTHS, key=len, reverse=True))
_ISO = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")
_COMPACT = re.compile(r"(?<!\d)(\d{4})(\d{2})(\d{2})(?!\d)")
_SLASHED = re.compile(r"(?<!\d)(\d{1,2})[/.](\d{1,2})[/.](\d{4})(?!\d)")
_YEAR_FIRST = re.compile(r"(?<!\d)(\d{4})/(\d{1,2})/(\d{1,2})(?!\d)")
_WORDS = re.compile(rf"(?<!\d)(\d{{1,2}})(?:er)?\.?\s+({_MONTH})\.?\s+(\d{{4}})(?!\d)", re.I)
_WORDS_EN = re.compile(rf"\b({_MONTH})\.?\s+(\d{{1,2}}),?\s+(\d{{4}})(?!\d)", re.I)
# What in an attribute's name or an element's class says "this is the page's date".
# A word of it, between separators: "article:published_time", "DC.date", "entry-date",
# "pubdate"; not "timeline" or "runtime".
_DATE_NAME = re.compile(
    r"(?:^|[\s_.:-])(?:date|time|pub|pubdate|published|created|issued|dateline|updated)"
    r"(?:$|[\s_.:-])",
    re.I,
)
_JSON_DATE = re.compile(r"\"date\w*\"\s*:\s*\"([^\"]{6,40})\"")
_MAX_TEXT = 80  # characters of a date element's text read


def _valid(y: int, m: int, d: int, out: set[str]) -> None:
    with contextlib.suppress(ValueError):  # 31/02, month 13: not a date
        out.add(date(y, m, d).isoformat())


def parse_dates(value: str) -> set[str]:
    """Every date (YYYY-MM-DD) written in ``value``, in the forms the module lists."""
    out: set[str] = set()
    for m in _ISO.finditer(value):
        _valid(int(m[1]), int(m[2]), int(m[3]), out)
    for m in _COMPACT.finditer(value):
        _valid(int(m[1]), int(m[2]), int(m[3]), out)
    for m in _YEAR_FIRST.finditer(value):
        _valid(int(m[1]), int(m[2]), int(m[3]), out)
    for m in _SLASHED.finditer(value):
        a, b, y = int(m[1]), int(m[2]), int(m[3])
        _valid(y, b, a, out)  # day first, as in French
        if a <= 12 < b:
            _valid(y, a, b, out)  # 03/13/2024 can only be month first
    for m in _WORDS.finditer(value):
        _valid(int(m[3]), _MONTHS[m[2].lower()], int(m[1]), out)
    for m in _WORDS_EN.finditer(value):
        _valid(int(m[3]), _MONTHS[m[1].lower()], int(m[2]), out)
    return out


class _Dates(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.dates: set[str] = set()
        self._reading: list[str] = []  # tags whose text is a date
        self._text: list[str] = []
        self._json = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): v or "" for k, v in attrs}
        if tag == "meta":
            named = " ".join(a.get(k, "") for k in ("name", "property", "itemprop", "http-equiv"))
            if _DATE_NAME.search(named):
                self.dates |= parse_dates(a.get("content", ""))
            return
        if tag == "script":
            self._json = "ld+json" in a.get("type", "")
            return
        for key in ("datetime", "title", "content"):
            if key in a and (tag in ("time", "abbr") or _DATE_NAME.search(a.get("class", ""))):
                self.dates |= parse_dates(a[key])
        labelled = _DATE_NAME.search(" ".join((a.get("class", ""), a.get("itemprop", ""))))
        if tag == "time" or labelled:
            self._reading.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._json = False
        if self._reading and self._reading[-1] == tag:
            self._reading.pop()
            if not self._reading:
                self.dates |= parse_dates("".join(self._text)[:_MAX_TEXT])
                self._text = []

    def handle_data(self, data: str) -> None:
        if self._json:
            for value in _JSON_DATE.findall(data):
                self.dates |= parse_dates(value)
        elif self._reading and sum(map(len, self._text)) < _MAX_TEXT:
            self._text.append(data)


def declared_dates(html: str) -> set[str]:
    """The dates (YYYY-MM-DD) a page declares in its markup, not guessed from its text."""
    parser = _Dates()
    parser.feed(html)
    parser.close()
    return parser.dates
