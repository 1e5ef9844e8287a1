"""Page furniture: the running headers, footers and page numbers a paginated text repeats.

A PDF's text layer holds them at the top and bottom of every page, where they land in the
middle of the sentence that runs on to the next page ("… L'idée d'un système 1 CHAPITRE 1.
DÉFINITIONS … libre de type Unix …"). They are told from content by what they do across
pages, never by one page, and only at a page's first or last two lines:
- a page number counts up with the pages (on a third of them at least);
- a running line repeats as it is, but for a number that is the page's own ("© 2017
  ACME 27"), or repeats its closing words after a changing section name ("1.2. Mise en
  route Ubuntu Packaging Guide"), on a tenth of the pages (at least 3, at most 8 needed)
  and rarely elsewhere; it is no sentence (no final full stop), since minutes and invoices
  repeat their formulas on every page too;
- an upper-case numbered head whose first word tops many pages ("CHAPITRE 7. LES BASES …").
Only pages of three lines or more lose a running line or head. A page that stops
mid-sentence is then joined to the next without a paragraph break.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter, defaultdict
from collections.abc import Sequence

__all__ = ["join_pages", "strip_furniture"]

# "12", "xiv", "Page 3", "p. 3", "3 / 12", "Page 3 sur 12", "- 3 -", "— 12 —".
_PAGE_NUMBER = re.compile(
    r"(?i)^[\s\-–—|]*(?:(?:page|p\.)\s*)?(\d{1,4}|[ivxlcdm]{1,7})"
    r"(?:\s*(?:/|sur|de|of)\s*\d{1,4})?[\s\-–—|]*$"
)
_ROMAN = {"i": 1, "v": 5, "x": 10, "l": 50, "c": 100, "d": 500, "m": 1000}
_DIGITS = re.compile(r"\d+")
KEY_WORDS = 3  # the closing words a section-named running line repeats
MIN_REPEATS = 3  # pages a running line must be on, at least
MAX_REPEATS = 8  # and at most, however long the book
MIN_LINES = 3  # a page shorter than this keeps its lines (a slide, an invoice line)
EDGE_LINES = 2  # lines looked at on each edge of a page
COUNTING = 0.8  # share of steps where a page number (or a number in a line) goes up
# Sentence-final marks: a page ending in none of them goes on on the next page.
_ENDS_SENTENCE = tuple('.!?:;»"”)]…')


def _number(text: str) -> int | None:
    if text.isdigit():
        return int(text)
    values = [_ROMAN.get(c, 0) for c in text.lower()]
    if not all(values):
        return None
    return sum(-v if i + 1 < len(values) and v < values[i + 1] else v for i, v in enumerate(values))


def _counts_up(pairs: list[tuple[int, int]]) -> bool:
    """Whether numbers seen on pages (page index, number) go up as the pages do."""
    if len(pairs) < 2:
        return False
    steps = [b[1] > a[1] for a, b in itertools.pairwise(pairs)]
    return sum(steps) >= COUNTING * len(steps)


def _fold(line: str) -> str:
    return " ".join(line.split()).casefold()


def _running_keys(line: str, depth: int) -> tuple[str, ...]:
    """What a running line's copies share: the line with its numbers masked; at the edge
    also its closing words ("… ubuntu packaging guide"). None for a short line ("Chapitre
    4", a heading more often than furniture) or a sentence."""
    folded = _fold(line)
    if len(folded) < 12 or (folded.endswith((".", "!", "?")) and not folded.endswith("...")):
        return ()
    keys = ["=" + _DIGITS.sub("#", folded)]
    if depth == 0 and len(folded.split()) > KEY_WORDS:
        keys.append("$" + " ".join(folded.split()[-KEY_WORDS:]))
    return tuple(keys)


def _is_running_head(line: str) -> bool:
    """An upper-case line with a chapter or section number ("CHAPITRE 3. CHOISIR UNE …
    3.1. QUELLE VERSION …"), as LaTeX classes print them."""
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
        # How often each key occurs anywhere in the document: the same for both edges.
        body = Counter(k for lines in split for line in lines for k in _running_keys(line, depth))
        for side in (0, 1):  # 0: top, 1: bottom
            _drop_edge(split, drop, depth, side, body)
    out = []
    for lines, gone in zip(split, drop):
        kept = [line for i, line in enumerate(lines) if i not in gone]
        out.append("\n".join(kept).strip())
    return out


def _drop_edge(
    split: list[list[str]], drop: list[set[int]], depth: int, side: int, body: Counter[str]
) -> None:
    """Mark furniture at one depth of one edge: line ``depth`` from the top (side 0) or the
    bottom (side 1), counting only lines not already dropped, as the page would read now;
    ``body`` counts each key of that depth over the whole document."""
    at: list[int | None] = []
    filled: list[int] = []
    for lines, gone in zip(split, drop):
        kept = [i for i, line in enumerate(lines) if line.strip() and i not in gone]
        edge = kept if side == 0 else kept[::-1]
        # Deeper lines only where the line above (or below) them was furniture.
        ok = depth == 0 or (len(edge) > 0 and any(i in gone for i in _edges(lines)[side]))
        at.append(edge[0] if ok and edge else None)
        filled.append(len(kept))
    lines_at = [None if i is None else split[p][i] for p, i in enumerate(at)]

    numbers = []
    for p, line in enumerate(lines_at):
        m = _PAGE_NUMBER.match(line) if line is not None else None
        value = _number(m.group(1)) if m else None
        if value is not None:
            numbers.append((p, value))
    if len(numbers) >= max(MIN_REPEATS, len(split) / 3) and _counts_up(numbers):
        for p, _value in numbers:
            drop[p].add(at[p])  # type: ignore[arg-type]

    need = max(MIN_REPEATS, min(len(split) / 10, MAX_REPEATS))
    groups: dict[str, list[int]] = defaultdict(list)
    for p, line in enumerate(lines_at):
        if line is not None and at[p] not in drop[p]:
            for key in _running_keys(line, depth):
                groups[key].append(p)
    heads = {p for p, line in enumerate(lines_at) if line is not None and _is_running_head(line)}
    first_words = Counter(_DIGITS.sub("#", _fold(lines_at[p] or "").split()[0]) for p in heads)
    for p, line in enumerate(lines_at):
        if line is None or at[p] in drop[p] or filled[p] < MIN_LINES:
            continue
        running = any(
            len(groups[k]) >= need
            and body[k] - len(groups[k]) <= len(groups[k]) // 2
            and _numbers_count_pages(k, groups[k], lines_at)
            for k in _running_keys(line, depth)
        )
        word = _DIGITS.sub("#", _fold(line).split()[0])
        head = (
            side == 0
            and depth == 0
            and p in heads
            and any(c.isalpha() for c in word)
            and first_words[word] >= max(MIN_REPEATS, len(split) / 5)
        )
        if running or head:
            drop[p].add(at[p])  # type: ignore[arg-type]


def _numbers_count_pages(key: str, pages: list[int], lines_at: list[str | None]) -> bool:
    """Whether the numbers that differ between a running line's copies are page numbers
    (the page's place plus a fixed offset: "27", "28" …), as in a footer; an invoice's number
    and date, or the day of each session in minutes, are not."""
    if not key.startswith("="):
        return True  # closing words: the section name before them changes, not a number
    runs = [[int(n) for n in _DIGITS.findall(lines_at[p] or "")] for p in pages]
    for position in range(min(len(r) for r in runs)):
        values = [r[position] for r in runs]
        if len(set(values)) == 1:
            continue
        # A page number: the same offset from the page's place on most copies.
        offsets = Counter(v - p for v, p in zip(values, pages))
        if offsets.most_common(1)[0][1] < COUNTING * len(values):
            return False
    return True


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
