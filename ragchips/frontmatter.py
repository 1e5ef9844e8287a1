"""YAML front matter (Hugo, Jekyll, MkDocs, Obsidian): metadata, not body text.

A Markdown page that opens with ``---`` / ``key: value`` lines / ``---`` carries its title,
date, author and tags there. Indexed as text, that block became a passage of its own
("--- title: … date: …"), the document's title was "---", and questions were answered with
it. It is read with PyYAML's ``safe_load`` (which builds plain data only, never objects) and
only when it parses to a mapping; the text itself is never edited, so spans stay exact.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

__all__ = ["front_matter", "front_matter_end"]

_OPEN = re.compile(r"\A\ufeff?---[ \t]*\r?\n")
_CLOSE = re.compile(r"^(?:---|\.\.\.)[ \t]*\r?$", re.M)
MAX_CHARS = 20_000  # a block longer than this is no front matter
# Fields kept, and the names others give them.
_FIELDS = {
    "title": "title",
    "date": "date",
    "author": "author",
    "authors": "author",
    "tags": "tags",
    "categories": "categories",
    "keywords": "tags",
    "lang": "lang",
    "language": "lang",
}


def _block(text: str) -> tuple[int, int, int] | None:
    """(start of the YAML, its end, end of the closing line) when ``text`` opens with one."""
    opening = _OPEN.match(text)
    if opening is None:
        return None
    closing = _CLOSE.search(text, opening.end(), opening.end() + MAX_CHARS)
    if closing is None:
        return None
    end = closing.end()
    if text.startswith("\r\n", end):
        end += 2
    elif text.startswith("\n", end):
        end += 1
    return opening.end(), closing.start(), end


def _read(text: str) -> tuple[dict[str, Any], int] | None:
    """The front matter as data, and where the body starts; None without one."""
    block = _block(text)
    if block is None:
        return None
    import yaml

    try:
        data = yaml.safe_load(text[block[0] : block[1]])
    except yaml.YAMLError:
        return None
    return (data, block[2]) if isinstance(data, dict) else None


def front_matter_end(text: str) -> int:
    """Where the body starts: after the front matter's closing line, or 0 without one."""
    read = _read(text)
    return read[1] if read else 0


def _value(name: str, value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()[:10]
    if isinstance(value, list):
        items = [str(v).strip() for v in value if isinstance(v, (str, int, float)) and str(v)]
        if name == "author":
            return ", ".join(items) or None
        return items or None
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        text = str(value).strip()
        if name in ("tags", "categories"):
            return [t.strip() for t in text.split(",") if t.strip()] or None
        return text[:10] if name == "date" and re.match(r"\d{4}-\d\d-\d\d", text) else text
    return None


def front_matter(text: str) -> dict[str, Any]:
    """The front matter's title, date (ISO), author, tags, categories and language; ``{}``
    without front matter or when its YAML does not parse to a mapping."""
    read = _read(text)
    data = read[0] if read else {}
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = _FIELDS.get(str(key).lower())
        if name is None or name in out:
            continue
        kept = _value(name, value)
        if kept:
            out[name] = kept
    return out
