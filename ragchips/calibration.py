"""Deciding ``found``: does the collection answer this question at all?

Rankings always have a first passage; the question is whether it is good enough. The
signal is the best cosine between the question and any passage. e5 puts questions in
another language than the collection a little lower for the same relevance, so the share
of English function words in the question adds a small bonus (``lang_bonus``). The
threshold and bonus are derived from data (answerable questions and off-topic ones) by
:func:`derive`, stored in the index manifest under ``calibration``, and reproducible with
``tests/bench/bench_found.py``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT", "Calibration", "derive", "english_share", "off_topic_questions"]

# English function words that are not also French words ("a", "on", "est" are left out).
_ENGLISH = frozenset(
    (
        "the",
        "an",
        "of",
        "to",
        "in",
        "for",
        "with",
        "by",
        "from",
        "at",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "does",
        "did",
        "do",
        "has",
        "have",
        "had",
        "what",
        "who",
        "whom",
        "whose",
        "which",
        "where",
        "when",
        "why",
        "how",
        "and",
        "or",
        "its",
        "it",
        "this",
        "that",
        "these",
        "those",
        "about",
        "into",
        "than",
        "there",
        "their",
        "they",
        "he",
        "she",
        "his",
        "her",
        "will",
        "would",
        "can",
        "could",
        "should",
    )
)
_WORD = re.compile(r"[a-z]+")


def english_share(question: str) -> float:
    """Share of the question's words that are English function words (0 for French)."""
    words = _WORD.findall(question.lower())
    if not words:
        return 0.0
    return sum(1 for w in words if w in _ENGLISH) / len(words)


@dataclass(frozen=True)
class Calibration:
    """found = best dense cosine + lang_bonus * english_share >= threshold."""

    threshold: float
    lang_bonus: float
    method: str = "dense+lang"

    def score(self, best_dense: float, question: str) -> float:
        return best_dense + self.lang_bonus * english_share(question)

    def found(self, best_dense: float, question: str) -> bool:
        return self.score(best_dense, question) >= self.threshold

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> Calibration:
        """The calibration recorded in a manifest (ValueError if it is malformed)."""
        if not data:
            return DEFAULT
        if not isinstance(data, dict) or data.get("method") != "dense+lang":
            raise ValueError(f"unknown calibration {data!r}")
        try:
            return cls(threshold=float(data["threshold"]), lang_bonus=float(data["lang_bonus"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed calibration {data!r}") from exc


# Derived by tests/bench/bench_found.py on the seeds index with the default embedder:
# 51 answerable questions (tests/data/seeds_gold.jsonl) and 34 off-topic ones
# (ragchips/data/offtopic.jsonl, near misses included).
DEFAULT = Calibration(threshold=0.85, lang_bonus=0.08)


def off_topic_questions() -> list[str]:
    """The bundled questions no French news or encyclopedia collection should answer
    about its own documents: cuisine, sport, history, weather, code, near misses."""
    text = (Path(__file__).parent / "data" / "offtopic.jsonl").read_text(encoding="utf-8")
    return [json.loads(line)["question"] for line in text.splitlines() if line.strip()]


def derive(
    answerable: Sequence[tuple[float, str]],
    off_topic: Sequence[tuple[float, str]],
    min_recall: float = 0.95,
    bonuses: Sequence[float] = tuple(i / 100 for i in range(0, 21)),
) -> tuple[Calibration, float, float]:
    """The calibration that rejects the most off-topic questions while keeping at least
    ``min_recall`` of the answerable ones; returns it with (recall, rejection rate)."""
    if not answerable or not off_topic:
        raise ValueError("derive() needs answerable and off-topic examples")
    best: tuple[float, float, Calibration] | None = None
    allowed_misses = math.floor((1 - min_recall) * len(answerable) + 1e-9)
    for bonus in bonuses:
        on = sorted(d + bonus * english_share(q) for d, q in answerable)
        threshold = on[allowed_misses]
        cal = Calibration(threshold=round(threshold - 5e-4, 4), lang_bonus=bonus)
        recall = sum(cal.found(d, q) for d, q in answerable) / len(answerable)
        rejected = sum(not cal.found(d, q) for d, q in off_topic) / len(off_topic)
        key = (rejected, -bonus)
        if best is None or key > (best[0], -best[2].lang_bonus):
            best = (rejected, recall, cal)
    assert best is not None
    return best[2], best[1], best[0]
