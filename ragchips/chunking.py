"""Split French prose into passages whose offsets are exact.

langchain's RecursiveCharacterTextSplitter does the splitting, with separators ordered for
French: paragraphs, line breaks that end a sentence or start a list item, then sentence
ends (including « guillemets » closing a quoted sentence and the ellipsis "…"), then
clauses. The splitter returns strings, not positions, so each chunk is located again in its
segment with a cursor that only moves forward: text that repeats still gets the position of
*this* occurrence, and ``text[start:end]`` is the chunk by construction.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

__all__ = ["ChunkerSettings", "chunk_spans", "sentence_spans"]

# Sentence end: . ! ? … (or "..."), optionally followed by a closing quote, then space.
# French puts a (narrow) space before ? and !, which needs no special case here.
_SENTENCE_END = r"(?:(?<=[.!?…])|(?<=[.!?…][»\"”)])|(?<=[.!?…]\s»))\s+(?=[^\s,;:.!?»])"
_PARAGRAPH = r"\n[ \t\r\f\v]*\n\s*"
_REST = [_SENTENCE_END, r"(?<=[;:])\s+", r"(?<=,)\s+", r"\s+", ""]  # sentences, clauses
# v2: a line break is a place to cut only where a sentence ends or a list item (or a
# Markdown heading) starts. Plain text and PDF pages are hard-wrapped: cutting at every line
# ended most of their passages mid-sentence (57% of a PDF's passages started in lower case).
# A wrapped line that happens to end in ")" or ";", or a line that starts with a dash used
# as one, is still cut there: rare, and harmless to the spans.
_LINE_END_V2 = (
    r"(?:(?<=[.!?…:;»\"”)])[ \t]*\n\s*"
    r"|\n\s*(?=(?:[-*•–—·▪◦]|\d{1,3}[.)]|#{1,6})[ \t]))"
)
SPLITTERS = {
    "langchain-recursive-fr-v1": [_PARAGRAPH, r"\n\s*", *_REST],  # every line break
    "langchain-recursive-fr-v2": [_PARAGRAPH, _LINE_END_V2, *_REST],
}


@dataclass(frozen=True)
class ChunkerSettings:
    """What decides the passages; stored in the index manifest so a change is noticed."""

    chunk_size: int = 400
    chunk_overlap: int = 80
    # An index keeps the splitter it was built with when it is brought up to date.
    splitter: str = "langchain-recursive-fr-v2"

    def __post_init__(self) -> None:
        from .errors import ConfigurationError

        if self.splitter not in SPLITTERS:
            raise ConfigurationError(
                f"unknown splitter {self.splitter!r}: known ones are {', '.join(SPLITTERS)}"
            )

        if self.chunk_size < 50:
            raise ConfigurationError(
                f"chunk size must be at least 50 characters, not {self.chunk_size}"
            )
        if not 0 <= self.chunk_overlap < self.chunk_size:
            raise ConfigurationError(
                f"chunk overlap must be from 0 to below the chunk size ({self.chunk_size}), "
                f"not {self.chunk_overlap}"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> ChunkerSettings:
        if not isinstance(data, dict):
            return cls()
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@lru_cache(maxsize=8)
def _splitter(chunk_size: int, chunk_overlap: int, name: str) -> Any:
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    return RecursiveCharacterTextSplitter(
        separators=SPLITTERS[name],
        is_separator_regex=True,
        keep_separator="end",
        chunk_size=chunk_size,
        chunk_overlap=chunk_overlap,
        strip_whitespace=True,
    )


def _locate(segment: str, pieces: list[str], overlap: int) -> list[tuple[int, int]]:
    """Find each chunk after the previous one: a chunk starts at most ``overlap``
    characters before the previous chunk ends, so a repeated text is not mistaken for an
    earlier copy of itself."""
    spans: list[tuple[int, int]] = []
    prev_start, prev_end = -1, 0
    for piece in pieces:
        pos = -1
        for lo in (max(prev_start + 1, prev_end - overlap), prev_start + 1, 0):
            pos = segment.find(piece, lo)
            if pos >= 0:
                break
        if pos < 0:
            raise AssertionError("text splitter returned text that is not in its input")
        spans.append((pos, pos + len(piece)))
        prev_start, prev_end = pos, pos + len(piece)
    return spans


def chunk_spans(
    text: str,
    segments: list[tuple[int, int]] | None = None,
    settings: ChunkerSettings | None = None,
) -> list[tuple[int, int]]:
    """Character spans of the passages of ``text``, inside the given body ``segments``."""
    settings = settings or ChunkerSettings()
    splitter = _splitter(settings.chunk_size, settings.chunk_overlap, settings.splitter)
    if segments is None:
        segments = [(0, len(text))]
    spans: list[tuple[int, int]] = []
    for seg_start, seg_end in segments:
        segment = text[seg_start:seg_end]
        pieces = [p for p in splitter.split_text(segment) if p.strip()]
        spans.extend(
            (seg_start + a, seg_start + b)
            for a, b in _locate(segment, pieces, settings.chunk_overlap)
        )
    return spans


# A line break ends a sentence unless the next line goes on in lower case (hard-wrapped text).
_SENTENCE_RE = re.compile(_SENTENCE_END + r"|\n(?!\s*[a-zà-ÿ])\s*")


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Sentence spans of ``text[start:end]``, in the coordinates of ``text``."""
    end = len(text) if end is None else end
    spans = []
    pos = start
    for match in _SENTENCE_RE.finditer(text, start, end):
        piece_end = match.start()
        if text[pos:piece_end].strip():
            spans.append((pos, piece_end))
        pos = match.end()
    if text[pos:end].strip():
        spans.append((pos, len(text[:end].rstrip())))
    return spans
