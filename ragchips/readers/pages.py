"""Pages of a paginated document: ``metadata["pages"]`` holds ``[start, end]`` per page.

The offsets are character offsets into the extracted text the index stores, so a
passage's page follows from its start offset alone, without reopening the file.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from typing import Any

__all__ = ["page_at", "page_of"]


def page_at(pages: Sequence[Sequence[int]], offset: int) -> int | None:
    """The 1-based page holding ``offset`` (the page before it for a separator between
    pages); None when there are no pages."""
    if not pages:
        return None
    starts = [int(p[0]) for p in pages]
    return max(1, bisect_right(starts, offset))


def page_of(document: Any, offset: int) -> int | None:
    """The page of ``document`` (a :class:`~ragchips.reader.Document` or anything with a
    ``metadata`` mapping) where character ``offset`` of its text lies, or None."""
    pages = (getattr(document, "metadata", None) or {}).get("pages")
    return page_at(pages, offset) if isinstance(pages, list) else None
