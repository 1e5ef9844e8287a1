"""Results: passages with exact citations, and answers that carry their sources.

An :class:`Answer` renders itself for people (text in a terminal, HTML and Markdown in a
notebook) and for programs (:meth:`Answer.to_dict`, the exact JSON of ``ask --json`` and of
the HTTP service), always with its numbered sources attached.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Answer", "AnswerStream", "Passage"]


@dataclass(frozen=True)
class Passage:
    """A span of one source document: ``document text[start:end] == text`` exactly.

    ``rank`` is 1-based in search results (0 for passages listed from the index);
    ``score`` is the fused retrieval score (higher is better).
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
    # The 1-based page where the passage starts, for paginated documents (PDF): derived
    # from the document's ``metadata["pages"]``, which is not repeated in every passage.
    page: int | None = None

    def __post_init__(self) -> None:
        pages = self.metadata.get("pages")
        if isinstance(pages, list):
            from .readers.pages import page_at

            if self.page is None:
                object.__setattr__(self, "page", page_at(pages, self.start))
            rest = {k: v for k, v in self.metadata.items() if k != "pages"}
            object.__setattr__(self, "metadata", rest)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def quote(self, width: int = 220) -> str:
        """The passage on one line, shortened for display."""
        flat = " ".join(self.text.split())
        return flat if len(flat) <= width else flat[: width - 1].rstrip() + "…"


@dataclass(frozen=True)
class Answer:
    """The answer to one question, with the passages it cites as ``[n]`` (n = rank)."""

    question: str
    answer: str
    found: bool
    passages: list[Passage]
    mode: str = "hybrid"
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.answer,
            "found": self.found,
            "mode": self.mode,
            "passages": [p.to_dict() for p in self.passages],
            "warnings": list(self.warnings),
            "timings": dict(self.timings),
        }

    # -- for people ---------------------------------------------------------------------

    def __str__(self) -> str:
        lines = [self.answer, ""]
        if self.passages:
            lines.append("Sources :")
            for p in self.passages:
                page = f", p. {p.page}" if p.page is not None else ""
                lines.append(f"[{p.rank}] {p.title} — {p.source}{page} [{p.start}:{p.end}]")
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
                    f"{p.rank}. *{_md(p.title)}* — `{p.source}` [{p.start}:{p.end}]  \n"
                    f"   > {_md(p.quote(400))}"
                )
        return "\n".join(out)

    def _repr_html_(self) -> str:
        esc = html.escape
        items = "".join(
            f"<li value='{p.rank}'><b>{esc(p.title)}</b> — <code>{esc(p.source)}</code> "
            f"[{p.start}:{p.end}]<blockquote>{esc(p.quote(400))}</blockquote></li>"
            for p in self.passages
        )
        sources = f"<p><b>Sources</b></p><ol>{items}</ol>" if items else ""
        warn = "".join(f"<p><i>{esc(w)}</i></p>" for w in self.warnings)
        return (
            f"<div class='ragchips-answer'><p><b>{esc(self.question)}</b></p>"
            f"<p>{esc(self.answer)}</p>{sources}{warn}</div>"
        )


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
    ) -> None:
        self.question = question
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
            )

    @property
    def final(self) -> Answer:
        if self._final is None:
            for _ in self:
                pass
        assert self._final is not None
        return self._final
