"""Results: passages with exact citations, and answers that carry their sources.

An :class:`Answer` renders itself for people (text in a terminal, HTML and Markdown in a
notebook) and for programs (:meth:`Answer.to_dict`, the exact JSON of ``ask --json`` and of
the HTTP service), always with its numbered sources attached.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from typing import Any

__all__ = ["Answer", "AnswerStream", "Claim", "Passage"]


@dataclass(frozen=True)
class Passage:
    """A span of one source document: ``document text[start:end] == text`` exactly.

    ``rank`` is 1-based in search results (0 for passages listed from the index);
    ``score`` is the fused retrieval score (higher is better, only meaningful for ranking
    within one question); ``confidence`` in [0, 1] is how likely this passage is to be
    about the question, from the collection's calibration (0.5 at the ``found``
    threshold), comparable across questions; ``None`` outside search results.
    """

    rank: int
    score: float
    text: str
    doc_id: str
    source: str
    title: str
    start: int
    end: int
    passage_id: int = -1
    metadata: dict[str, Any] = field(default_factory=dict)
    confidence: float | None = None
    # The 1-based page where the passage starts, for paginated documents (PDF): derived
    # from the document's ``metadata["pages"]``, which is not repeated in every passage.
    page: int | None = None

    def __post_init__(self) -> None:
        pages = self.metadata.get("pages")
        # Kept aside (not a field, not serialised): the pages of what is cited inside it.
        object.__setattr__(self, "_pages", pages if isinstance(pages, list) else None)
        if isinstance(pages, list):
            from .readers.pages import page_at

            if self.page is None:
                object.__setattr__(self, "page", page_at(pages, self.start))
            rest = {k: v for k, v in self.metadata.items() if k != "pages"}
            object.__setattr__(self, "metadata", rest)

    def ranked(self, rank: int, like: Passage | None = None) -> Passage:
        """This passage at another rank, keeping the pages its claims read (which
        ``dataclasses.replace`` would drop: they are not a field); ``like``: the passage
        to take them from, when this one is a copy a plugin made."""
        out = replace(self, rank=rank)
        object.__setattr__(out, "_pages", getattr(like or self, "_pages", None))
        return out

    def page_at(self, offset: int) -> int | None:
        """The page of character ``offset`` of the document (a sentence cited inside this
        passage may lie on a later page than its start); None without pages."""
        pages = getattr(self, "_pages", None)
        if pages is None:
            return self.page
        from .readers.pages import page_at

        return page_at(pages, offset)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def quote(self, width: int = 220) -> str:
        """The passage on one line, shortened for display."""
        flat = " ".join(self.text.split())
        return flat if len(flat) <= width else flat[: width - 1].rstrip() + "…"


@dataclass(frozen=True)
class Claim:
    """One sentence of an answer and exactly where it comes from.

    ``document text[start:end] == text`` (the same coordinates as :class:`Passage`);
    ``passage`` is the ``[n]`` it cites. ``phrase`` is the answer phrase inside the
    sentence (a date, a name, "TSMC") when the kind of answer asked for is known, with its
    own span ``[phrase_start:phrase_end]`` into the document text. ``page`` is the 1-based
    page the sentence starts on, for paginated documents (PDF).
    """

    text: str
    passage: int
    doc_id: str
    start: int
    end: int
    phrase: str | None = None
    phrase_start: int | None = None
    phrase_end: int | None = None
    page: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Answer:
    """The answer to one question, with the passages it cites as ``[n]`` (n = rank).

    ``claims`` are the answer's sentences with their exact spans (extractive answers);
    ``confidence`` in [0, 1] is the calibrated belief that the collection answers the
    question (``found`` is ``confidence >= 0.5``).
    """

    question: str
    answer: str
    found: bool
    passages: list[Passage]
    mode: str = "hybrid"
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    claims: list[Claim] = field(default_factory=list)
    confidence: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.answer,
            "found": self.found,
            "confidence": self.confidence,
            "mode": self.mode,
            "claims": [c.to_dict() for c in self.claims],
            "passages": [p.to_dict() for p in self.passages],
            "warnings": list(self.warnings),
            "timings": dict(self.timings),
        }

    # -- for people ---------------------------------------------------------------------

    def _claims_of(self, p: Passage) -> list[Claim]:
        return [c for c in self.claims if c.passage == p.rank and c.doc_id == p.doc_id]

    def __str__(self) -> str:
        lines = [self.answer, ""]
        if self.passages:
            lines.append("Sources :")
            for p in self.passages:
                lines.append(
                    f"[{p.rank}] {p.title} — {p.source}{page_label(p.page)} [{p.start}:{p.end}]"
                )
                cited = self._claims_of(p)
                if cited:
                    # The cited sentence itself, with its span, then the passage around it.
                    for c in cited:
                        lines.append(f"    ▶ « {_mark(c, '[', ']')} »{_where(c)}")
                else:
                    lines.append(f"    « {p.quote()} »")
        for w in self.warnings:
            lines.append(f"avertissement : {w}")
        return "\n".join(lines).rstrip() + "\n"

    def _repr_markdown_(self) -> str:
        out = [f"**{_md(self.question)}**", "", _md(self.answer), ""]
        if self.passages:
            out.append("**Sources**")
            out.append("")
            for p in self.passages:
                out.append(
                    f"{p.rank}. *{_md(p.title)}* — {_code(p.source)}{page_label(p.page)} "
                    f"[{p.start}:{p.end}]  \n"
                    f"   > {_highlight(p, self._claims_of(p), _md, '**', '**', '***', '***')}"
                )
        return "\n".join(out)

    def _repr_html_(self) -> str:
        esc = html.escape
        items = "".join(
            f"<li value='{p.rank}'><b>{esc(p.title)}</b> — <code>{esc(p.source)}</code>"
            f"{page_label(p.page)} [{p.start}:{p.end}]<blockquote>"
            f"{_highlight(p, self._claims_of(p), esc, '<mark>', '</mark>', '<b>', '</b>')}"
            f"</blockquote></li>"
            for p in self.passages
        )
        sources = f"<p><b>Sources</b></p><ol>{items}</ol>" if items else ""
        warn = "".join(f"<p><i>{esc(w)}</i></p>" for w in self.warnings)
        return (
            f"<div class='ragchips-answer'><p><b>{esc(self.question)}</b></p>"
            f"<p>{esc(self.answer)}</p>{sources}{warn}</div>"
        )


def page_label(page: int | None) -> str:
    """ ", p. 3" after a source, for paginated documents; nothing otherwise."""
    return f", p. {page}" if page is not None else ""


def _where(c: Claim) -> str:
    """A claim's span, and its page when the document has pages."""
    return f" p. {c.page} [{c.start}:{c.end}]" if c.page is not None else f" [{c.start}:{c.end}]"


def _mark(c: Claim, open_: str, close: str) -> str:
    """The claim's sentence on one line with its answer phrase between the marks."""
    text = c.text
    if c.phrase is not None and c.phrase_start is not None and c.phrase_end is not None:
        a, b = c.phrase_start - c.start, c.phrase_end - c.start
        text = text[:a] + open_ + text[a:b] + close + text[b:]
    return " ".join(text.split())


def _highlight(
    p: Passage,
    claims: list[Claim],
    escape: Callable[[str], str],
    open_: str,
    close: str,
    popen: str,
    pclose: str,
    width: int = 400,
) -> str:
    """The passage with its cited sentences (and answer phrases) marked, escaped."""
    if not claims:
        return escape(p.quote(width))
    cuts: list[tuple[int, int, str, str]] = []
    for c in claims:
        a, b = c.start - p.start, c.end - p.start
        if 0 <= a < b <= len(p.text):
            cuts.append((a, b, open_, close))
            if c.phrase_start is not None and c.phrase_end is not None:
                cuts.append((c.phrase_start - p.start, c.phrase_end - p.start, popen, pclose))
    events: list[tuple[int, int, str]] = []
    for a, b, o, cl in cuts:
        events.append((a, 1 if o == popen else 0, o))
        events.append((b, -2 if cl == pclose else -1, cl))
    events.sort(key=lambda e: (e[0], e[1]))
    out, pos = [], 0
    for at, _, mark in events:
        out.append(escape(p.text[pos:at]))
        out.append(mark)
        pos = at
    out.append(escape(p.text[pos:]))
    return " ".join("".join(out).split())


def _code(text: str) -> str:
    """A Markdown code span that ``text`` cannot close: a file name holding a backtick
    ("a`<img onerror=…>`.txt") would otherwise end the span and let HTML through."""
    text = " ".join(text.splitlines())
    fence = "`" * (max((len(r) for r in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _md(text: str) -> str:
    for ch in "\\`*_[]<>#|":
        text = text.replace(ch, "\\" + ch)
    return text


class AnswerStream:
    """An answer being written: iterate for text deltas; sources are known from the start.

    ``passages`` and ``found`` are set before the first token (a chatbot can show the
    sources at once); :attr:`final` is the complete :class:`Answer`, with the citation check
    applied, once the stream is exhausted (reading it consumes what is left).
    """

    def __init__(
        self,
        question: str,
        passages: list[Passage],
        found: bool,
        mode: str,
        chunks: Iterator[str],
        finish: Callable[[str], tuple[str, list[str]]],
        timings: dict[str, float] | None = None,
        claims: list[Claim] | None = None,
        confidence: float | None = None,
    ) -> None:
        self.question = question
        self.claims = list(claims or [])
        self.confidence = confidence
        self.passages = passages
        self.found = found
        self.mode = mode
        self._chunks = chunks
        self._finish = finish
        self._parts: list[str] = []
        self._final: Answer | None = None
        self._timings = dict(timings or {})

    def __iter__(self) -> Iterator[str]:
        for chunk in self._chunks:
            self._parts.append(chunk)
            yield chunk
        self._close()

    def _close(self) -> None:
        if self._final is None:
            text, warnings = self._finish("".join(self._parts))
            self._final = Answer(
                question=self.question,
                answer=text,
                found=self.found,
                passages=self.passages,
                mode=self.mode,
                warnings=warnings,
                timings=self._timings,
                claims=self.claims,
                confidence=self.confidence,
            )

    @property
    def final(self) -> Answer:
        if self._final is None:
            for _ in self:
                pass
        assert self._final is not None
        return self._final
