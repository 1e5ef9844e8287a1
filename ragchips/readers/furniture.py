"""Page furniture: the running headers, footers and page numbers a paginated text repeats.

A PDF's text layer holds them at the top and bottom of every page, where they land in the
middle of the sentence that runs on to the next page ("… L'idée d'un système 1 CHAPITRE 1.
DÉFINITIONS … libre de type Unix …"). They are recognised by what they are on many pages,
never by a single page: a page number on at least a third of the pages, a line whose opening
words recur at the page edge on a tenth of the pages and three or more (and rarely
elsewhere), or an all-capitals
top line when the document tops many pages that way. Only such edge lines are dropped; a
page that goes on mid-sentence is then joined to the next without a paragraph break.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

__all__ = ["join_pages", "strip_furniture"]

# "12", "xiv", "Page 3", "p. 3", "3 / 12", "Page 3 sur 12", "- 3 -", "— 12 —".
_PAGE_NUMBER = re.compile(
    r"(?i)^[\s\-–—|]*(?:(?:page|p\.)\s*)?(?:\d{1,4}|[ivxlcdm]{1,7})"
    r"(?:\s*(?:/|sur|de|of)\s*\d{1,4})?[\s\-–—|]*$"
)
# An edge line's keys: its first characters, digits masked, case and spaces folded.
KEY_CHARS = 24
KEY_WORDS = 3  # and its last words
MIN_REPEATS = 3  # pages an edge line's key must top (or end) to be furniture
EDGE_LINES = 2  # lines looked at on each edge of a page
# Sentence-final marks: a page ending in none of them goes on on the next page.
_ENDS_SENTENCE = tuple('.!?:;»"”)]…')


def _keys(line: str, depth: int = 0) -> tuple[str, ...]:
    """What furniture lines share. At the edge: the opening characters or the closing words, digits
    masked ("CHAPITRE 3. CHOISIR UNE …" on every page of a chapter, "… Ubuntu Packaging
    Guide" after each section's name). One line in, where body text is more often
    formulaic: the whole line as written ("Confidentiel"). None for a short line ("Chapitre
    4"), a heading more often than furniture."""
    folded = " ".join(line.split()).casefold()
    if len(folded) < 12:
        return ()
    if depth:
        return (folded,)
    masked = re.sub(r"\d", "#", folded)
    return ("^" + masked[:KEY_CHARS], " ".join(masked.split()[-KEY_WORDS:]) + "$")


def _is_running_head(line: str) -> bool:
    """An upper-case line with a chapter or section number ("CHAPITRE 3. CHOISIR UNE …
    3.1. QUELLE VERSION …"), as LaTeX classes print them; a slide's title has no number."""
    letters = [c for c in line if c.isalpha()]
    return (
        len(letters) >= 12
        and not any(c.islower() for c in letters)
        and any(c.isdigit() for c in line)
    )


def _edges(lines: list[str]) -> tuple[list[int], list[int]]:
    """Indexes of the first and last non-empty lines of a page (up to EDGE_LINES each)."""
    filled = [i for i, line in enumerate(lines) if line.strip()]
    return filled[:EDGE_LINES], filled[-EDGE_LINES:][::-1]


def strip_furniture(pages: Sequence[str]) -> list[str]:
    """Each page's text without its running header, footer and page number lines (see the
    module's docstring); a document of fewer than ``MIN_REPEATS`` pages is left as it is."""
    if len(pages) < MIN_REPEATS:
        return list(pages)
    split = [page.split("\n") for page in pages]
    drop: list[set[int]] = [set() for _ in split]
    for depth in range(EDGE_LINES):
        for side in (0, 1):  # 0: top, 1: bottom
            _drop_edge(split, drop, depth, side)
    out = []
    for lines, gone in zip(split, drop):
        kept = [line for i, line in enumerate(lines) if i not in gone]
        out.append("\n".join(kept).strip())
    return out


def _drop_edge(split: list[list[str]], drop: list[set[int]], depth: int, side: int) -> None:
    """Mark furniture at one depth of one edge: line ``depth`` from the top (side 0) or the
    bottom (side 1), counting only lines not already dropped, as the page would read now."""
    at: list[int | None] = []
    for lines, gone in zip(split, drop):
        kept = [i for i, line in enumerate(lines) if line.strip() and i not in gone]
        edge = kept if side == 0 else kept[::-1]
        # Deeper lines only where the line above (or below) them was furniture.
        ok = depth == 0 or (len(edge) > 0 and any(i in gone for i in _edges(lines)[side]))
        at.append(edge[0] if ok and edge else None)
    lines_at = [None if i is None else split[p][i] for p, i in enumerate(at)]
    numbers = [line is not None and bool(_PAGE_NUMBER.match(line)) for line in lines_at]
    if sum(numbers) >= max(MIN_REPEATS, len(split) / 3):
        for p, is_number in enumerate(numbers):
            if is_number:
                drop[p].add(at[p])  # type: ignore[arg-type]
    keys = Counter(k for line in lines_at if line is not None for k in _keys(line, depth))
    body = Counter(k for lines in split for line in lines for k in _keys(line, depth))
    caps = [line is not None and _is_running_head(line) for line in lines_at]
    many_caps = side == 0 and depth == 0 and sum(caps) >= max(MIN_REPEATS, len(split) / 5)
    for p, line in enumerate(lines_at):
        if line is None or at[p] in drop[p]:
            continue
        repeated = any(
            keys[k] >= max(MIN_REPEATS, len(split) / 10) and body[k] - keys[k] <= keys[k] // 2
            for k in _keys(line, depth)
        )
        if repeated or (many_caps and caps[p]):
            drop[p].add(at[p])  # type: ignore[arg-type]


def join_pages(pages: Sequence[str]) -> tuple[str, list[list[int]]]:
    """The pages as one text, with each page's ``[start, end]``: a blank line between pages,
    or a single line break where a page stops mid-sentence and the next goes on in lower
    case, so the sentence stays whole."""
    parts: list[str] = []
    spans: list[list[int]] = []
    offset = 0
    for text in pages:
        if parts:
            prev = parts[-1]
            goes_on = prev and not prev.rstrip().endswith(_ENDS_SENTENCE) and text[:1].islower()
            sep = "\n" if goes_on else "\n\n"
            parts.append(sep)
            offset += len(sep)
        spans.append([offset, offset + len(text)])
        parts.append(text)
        offset += len(text)
    return "".join(parts), spans
