"""A question analysed once, and what retrieving it found.

:class:`Question` holds everything that depends only on the question's text: its French
terms (grouped by word, as BM25 scores them), the kind of answer it asks for, its share
of English function words (the ``found`` rule's language term) and whether it is a
keyword search. :meth:`ragchips.Index.retrieve` builds one, ranks with it and returns a
:class:`Retrieval` that also carries the hits, the terms' weights in this collection and
the calibration; the answer code reads from that object, so nothing on the way from the
question to the printed answer analyses the question again.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .analysis import analyze_query
from .answertype import AnswerType, answer_type, question_words

if TYPE_CHECKING:
    from .calibration import Calibration
    from .ranking import Hit

__all__ = ["Question", "Retrieval", "coverage", "english_share", "is_keyword_query"]

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
_ASCII_WORD = re.compile(r"[a-z]+")
_QUESTION_WORD = re.compile(
    r"\b(qui|que|quoi|quel(le)?s?|quand|où|comment|combien|pourquoi|lequel|laquelle|est-ce|"
    r"who|what|when|where|which|why|how)\b",
    re.I,
)


def english_share(question: str) -> float:
    """Share of the question's words that are English function words (0 for French)."""
    words = _ASCII_WORD.findall(question.lower())
    if not words:
        return 0.0
    return sum(1 for w in words if w in _ENGLISH) / len(words)


def is_keyword_query(question: str) -> bool:
    """A search, not a question: at most three words, no question mark, no question word."""
    words = question.split()
    return 0 < len(words) <= 3 and "?" not in question and not _QUESTION_WORD.search(question)


@dataclass(frozen=True)
class Question:
    """The question as every stage sees it; build it with :meth:`of`."""

    text: str
    groups: tuple[tuple[str, ...], ...]  # stemmed terms per word (alternative spellings)
    kind: AnswerType | None  # the kind of answer asked for (ragchips.answertype)
    english: float  # share of English function words
    keyword: bool  # a keyword search ("Tigris"), not a question
    words: frozenset[str]  # lower-case words, to tell an answer from the question's own words

    @classmethod
    def of(cls, text: str) -> Question:
        return cls(
            text=text,
            groups=tuple(tuple(g) for g in analyze_query(text)),
            kind=answer_type(text),
            english=english_share(text),
            keyword=is_keyword_query(text),
            words=question_words(text),
        )

    @property
    def terms(self) -> list[str]:
        """The question's terms in order, as the stemmed BM25 field sees them."""
        return [t for g in self.groups for t in g]


def coverage(
    question: Question, weights: dict[str, float], passage_terms: Iterable[str], n: int
) -> float:
    """The share of the question's weight (idf) that a passage holds. A term the collection
    does not know weighs the most (a word no passage holds is the sign of an off-topic
    question), so a question about something else covers little of itself."""
    unknown = math.log1p((max(n, 1) + 0.5) / 0.5)
    terms = dict.fromkeys(question.terms)
    if not terms:
        return 0.0
    w = {t: weights.get(t) or unknown for t in terms}
    held = set(passage_terms)
    return sum(v for t, v in w.items() if t in held) / sum(w.values())


@dataclass(frozen=True)
class Retrieval:
    """One question's pass through an index: everything the answer needs."""

    question: Question
    mode: str
    hits: list[Hit]
    best_dense: float  # the best cosine among the allowed passages (what found is decided on)
    weights: dict[str, float]  # idf of the question's terms in this collection
    calibration: Calibration
    coverage: float = 0.0  # the first passage's share of the question's weight

    @property
    def found(self) -> bool:
        """Whether the best cosine clears the collection's threshold."""
        return self.calibration.found(self.best_dense, self.question, self.coverage)

    @property
    def confidence(self) -> float:
        return self.calibration.confidence(self.best_dense, self.question, self.coverage)

    def hit_confidence(self, hit: Hit) -> float | None:
        """A hit's cosine as a confidence (None without a cosine: lexical mode)."""
        return None if hit.dense is None else self.calibration.confidence(hit.dense, self.question)
