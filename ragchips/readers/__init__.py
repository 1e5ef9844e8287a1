"""One reader per file format, found by suffix; plugins add more through entry points.

A reader turns one file into the text that passage offsets point into (the index stores
that text, so citations stay exact whatever the format), a title if the file has one and
metadata for ``where=`` filters. Built-in readers: plain text and Markdown, HTML, and,
with the ``formats`` extra, PDF (each passage knows its page), Word (.docx) and
OpenDocument (.odt). A separate package adds a format by declaring an entry point in the
``ragchips.readers`` group that names a :class:`Reader` (an object or a class)::

    [project.entry-points."ragchips.readers"]
    rtf = "ragchips_rtf:RtfReader"

Only the standard library is imported here, so that listing the formats costs nothing; the
query path never imports this package.
"""

from __future__ import annotations

from .base import (
    ENTRY_POINT_GROUP,
    Extracted,
    Reader,
    SkipReason,
    reader_for,
    register,
    registered_suffixes,
    unregister,
)
from .pages import page_of

__all__ = [
    "ENTRY_POINT_GROUP",
    "Extracted",
    "Reader",
    "SkipReason",
    "page_of",
    "reader_for",
    "register",
    "registered_suffixes",
    "unregister",
]
