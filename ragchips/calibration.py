"""Deciding ``found``: does the collection answer this question at all?

Rankings always have a first passage; the question is whether it is good enough. The
signal is the best cosine between the question and any passage. e5 puts questions in
another language than the collection a little lower for the same relevance, so the share
of English function words in the question adds a small bonus (``lang_bonus``). The
threshold and bonus are derived from data (answerable questions and off-topic ones) by
:func:`derive`, stored in the index manifest under ``calibration``, and reproducible with
``tests/bench/bench_found.py``.

:func:`auto_calibrate` derives it for any collection without labelled questions: the
bundled off-topic questions (many domains, French and English) show how high a question
the collection does *not* answer scores on it, and questions made from the collection's
own sentences show how high the ones it does answer score. :meth:`Calibration.confidence`
turns the same score into a number in [0, 1]: 0.5 at the threshold, about 0.1 for the
typical off-topic question, comparable across questions of one collection.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .query import Question, english_share

__all__ = [
    "DEFAULT",
    "Calibration",
    "auto_calibrate",
    "derive",
    "english_share",
    "off_topic_questions",
    "pseudo_questions",
]

# Width of the logistic that maps a score to a confidence when a calibration gives none:
# the seeds' median off-topic question (0.80) sits ln(9) widths under 0.85 (confidence 0.1).
DEFAULT_SCALE = 0.0228

@dataclass(frozen=True)
class Calibration:
    """found = best dense cosine + lang_bonus * english_share >= threshold.

    ``scale`` is the width of the logistic behind :meth:`confidence`; ``source`` says
    where the numbers come from (``"default"``, ``"labelled"``, ``"auto"``).
    """

    threshold: float
    lang_bonus: float
    method: str = "dense+lang"
    scale: float = DEFAULT_SCALE
    source: str = "default"

    def score(self, best_dense: float, question: str | Question) -> float:
        """The found score; a :class:`~ragchips.query.Question` brings its English share
        already measured (``ask()`` passes one, so the question is read once)."""
        share = english_share(question) if isinstance(question, str) else question.english
        return best_dense + self.lang_bonus * share

    def found(self, best_dense: float, question: str | Question) -> bool:
        return self.score(best_dense, question) >= self.threshold

    def confidence(self, dense: float, question: str | Question) -> float:
        """A cosine as a confidence in [0, 1]: 0.5 at the threshold, logistic around it."""
        z = (self.score(dense, question) - self.threshold) / max(self.scale, 1e-6)
        return round(1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z)))), 4)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        # Older manifests hold only the first three; keep them byte-identical.
        if self.scale == DEFAULT_SCALE:
            del out["scale"]
        if self.source == "default":
            del out["source"]
        return out

    @classmethod
    def from_dict(cls, data: Any) -> Calibration:
        """The calibration recorded in a manifest (ValueError if it is malformed)."""
        if not data:
            return DEFAULT
        if not isinstance(data, dict) or data.get("method") != "dense+lang":
            raise ValueError(f"unknown calibration {data!r}")
        try:
            return cls(
                threshold=float(data["threshold"]),
                lang_bonus=float(data["lang_bonus"]),
                scale=float(data.get("scale", DEFAULT_SCALE)),
                source=str(data.get("source", "default")),
            )
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


# How many questions auto_calibrate asks: all bundled off-topic ones, and this many made
# from the collection's sentences (bounded, so it costs a few seconds on any collection).
AUTO_SAMPLE = 24
AUTO_REJECT = 0.9
_WORDS = re.compile(r"[^\W\d_][\w'’-]{3,}")


def pseudo_questions(index: Any, sample: int = AUTO_SAMPLE) -> list[str]:
    """Keyword questions made from sentences spread evenly over the collection.

    Each keeps eight content words of one sentence, in order: no question a reader asks
    copies a whole sentence, but the words they use are the text's words.
    """
    from .sentences import split_sentences

    n = len(index)
    if n == 0:
        return []
    out = []
    for i in range(min(sample, n)):
        p = index.passage(int(i * n / min(sample, n)))
        sentences = [s for s in split_sentences(p.text) if not s.heading]
        if not sentences:
            continue
        longest = max(sentences, key=lambda s: len(s.text))
        words = _WORDS.findall(longest.text)
        if len(words) >= 4:
            out.append(" ".join(words[:8]))
    return out


def _quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def auto_calibrate(
    index: Any,
    reject: float = AUTO_REJECT,
    sample: int = AUTO_SAMPLE,
    lang_bonus: float | None = None,
    off_topic: Sequence[str] | None = None,
) -> Calibration:
    """The ``found`` calibration of ``index`` without labelled questions.

    The threshold rejects ``reject`` of the bundled off-topic questions on this collection,
    but never sits above what one in ten of its own sentence-made questions scores (a
    collection about the bank's topics must still find its own content). ``lang_bonus``
    keeps the default's (English questions cannot be made from a French text).
    ``off_topic`` replaces the bundled bank (benchmarks hold half of it out).
    """
    bonus = DEFAULT.lang_bonus if lang_bonus is None else lang_bonus
    if len(index) == 0:
        return DEFAULT

    def best(question: str) -> float:
        got = index.retrieve(question, 1, "dense")
        return got.best_dense + bonus * got.question.english

    off = [best(q) for q in (off_topic if off_topic is not None else off_topic_questions())]
    own = [best(q) for q in pseudo_questions(index, sample)]
    threshold = _quantile(off, reject) + 5e-4
    if own:
        threshold = min(threshold, _quantile(own, 0.1))
    typical = _quantile(off, 0.5)
    scale = max(0.005, (threshold - typical) / math.log(9))
    return Calibration(
        threshold=round(threshold, 4),
        lang_bonus=bonus,
        scale=round(scale, 4),
        source="auto",
    )
