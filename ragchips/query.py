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
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .analysis import analyze_query
from .answertype import AnswerType, answer_type, question_words

if TYPE_CHECKING:
    from .calibration import Calibration
    from .ranking import Hit, Stats

__all__ = [
    "Question",
    "Retrieval",
    "agreement",
    "coverage",
    "english_share",
    "is_keyword_query",
    "rare_evidence",
]

# English function words that are not also French words ("a", "on", "est", "an" and "or"
# are left out: "par an", "la Palme d'or" are French).
_ENGLISH = frozenset(
    (
        "the",
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
        # Round 21: an English question of PIAF's translations held only one of the words
        # above ("How many..."); these changed no other question of the 1,140 the benches
        # ask, French ones included ("must" is left out: "le must" is French).
        "many",
        "much",
        "may",
        "might",
        "shall",
        "not",
        "you",
        "your",
        "we",
        "our",
        "my",
        "him",
        "them",
        "all",
        "any",
        "some",
        "more",
        "most",
        "other",
        "such",
        "only",
        "also",
        "each",
        "between",
        "after",
        "before",
        "during",
        "under",
        "over",
        "through",
        "without",
        "within",
        "while",
        "then",
    )
)
# French function words that are not English words: a question opening on no question word
# (below) that holds at least as many of them as English ones is French, whatever English
# title, command or phrase it quotes ("date de sortie de the last of us").
_FRENCH = frozenset(
    [
        "le",
        "la",
        "les",
        "un",
        "une",
        "des",
        "du",
        "de",
        "d",
        "l",
        "qui",
        "que",
        "qu",
        "quoi",
        "quel",
        "quelle",
        "quels",
        "quelles",
        "quand",
        "où",
        "comment",
        "combien",
        "pourquoi",
        "lequel",
        "laquelle",
        "lesquels",
        "lesquelles",
        "est",
        "sont",
        "ont",
        "été",
        "était",
        "dans",
        "pour",
        "par",
        "sur",
        "sous",
        "avec",
        "sans",
        "entre",
        "chez",
        "vers",
        "après",
        "avant",
        "depuis",
        "pendant",
        "et",
        "ou",
        "mais",
        "donc",
        "ce",
        "cet",
        "cette",
        "ces",
        "il",
        "elle",
        "ils",
        "elles",
        "je",
        "j",
        "nous",
        "vous",
        "son",
        "sa",
        "ses",
        "leur",
        "leurs",
        "au",
        "aux",
        "en",
        "ne",
        "pas",
        "se",
        "y",
        "à",
    ]  # not "s": "Altman's"
)
# A question that opens on a question word or an auxiliary of one language is of that
# language, whatever titles it quotes: "Who founded Le Monde?", "Who wrote Les
# Misérables?" are English, "Qui a réalisé The Lord of the Rings ?" French. Only a question
# opening otherwise ("date de sortie de the last of us") is weighed word by word.
_ENGLISH_OPENING = frozenset(
    {
        "who", "whom", "whose", "what", "when", "where", "which", "why", "how", "is", "are",
        "was", "were", "do", "does", "did", "can", "could", "will", "would", "should", "has",
        "have", "had",
    }
)  # fmt: skip
_FRENCH_OPENING = frozenset(
    {
        "qui", "que", "qu", "quoi", "quel", "quelle", "quels", "quelles", "quand", "où",
        "comment", "combien", "pourquoi", "lequel", "laquelle", "lesquels", "lesquelles",
    }
)  # fmt: skip
# Words, accented ones whole ("forêt" is not "for"), and where a sentence starts in them.
_WORD_OR_START = re.compile(r"[^\W\d_]+|^|[:.!?]")
_ANY_WORD = re.compile(r"[^\W\d_]+|\d+")
_QUESTION_WORD = re.compile(
    r"\b(qui|que|quoi|quel(le)?s?|quand|où|comment|combien|pourquoi|lequel|laquelle|est-ce|"
    r"who|what|when|where|which|why|how)\b",
    re.I,
)


def english_share(question: str) -> float:
    """Share of the question's words that are English function words (0 for French: a
    question opening on a French question word, or opening on no question word of either
    language and holding at least as many French function words as English ones).

    A capitalised word that does not start a sentence is a name ("Pourquoi Will Turner...",
    "le budget IT"), not one, unless the question capitalises most of its words ("What Was
    The Cause...", "WHO IS THE CEO?")."""
    words: list[tuple[str, bool]] = []  # (word, starts a sentence)
    start = True
    for token in _WORD_OR_START.findall(question):
        if not token or token in ":.!?":
            start = True
            continue
        words.append((token, start))
        start = False
    if not words:
        return 0.0
    capitalised = sum(w[0].isupper() for w, _ in words)
    names = 2 * capitalised <= len(words)  # else a title's or a shout's capitals say nothing

    def counts(w: str, first: bool) -> bool:
        return not (names and not first and w[0].isupper())

    opening = words[0][0].lower()
    if opening in _FRENCH_OPENING:
        return 0.0  # French, quoting English ("Qui a chanté The Wall ?")
    english = sum(1 for w, f in words if w.isascii() and w.lower() in _ENGLISH and counts(w, f))
    if opening not in _ENGLISH_OPENING:
        french = sum(1 for w, f in words if w.lower() in _FRENCH and counts(w, f))
        if french >= english:
            return 0.0  # French, quoting English ("date de sortie de the last of us")
    return english / len(words)


def only_function_words(question: Question) -> bool:
    """True when every word of the question is an English function word ("what is the"):
    the French analysis keeps them as terms, but they say nothing of what is asked."""
    words = _ANY_WORD.findall(question.text.lower())
    return bool(words) and all(w in _ENGLISH for w in words)


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


def rare_evidence(
    question: Question, weights: dict[str, float], passage_terms: Iterable[str], n: int
) -> float:
    """How much rare evidence a passage shares with the question: the idf of the question's
    terms the passage holds, summed, in units of the largest idf a known term can have in
    this collection, log(1 + n) (so about "how many rare terms", whatever its size). A
    question the passage answers usually shares its names and rare words with it; an
    off-topic one, at most common words."""
    held = set(passage_terms)
    total = sum(weights.get(t) or 0.0 for t in dict.fromkeys(question.terms) if t in held)
    return total / math.log1p(max(n, 1))


# agreement(): the passages closest by cosine that are looked for among the best by BM25.
AGREE_DENSE = 3
AGREE_LEXICAL = 10


def agreement(
    dense_rows: np.ndarray,
    lexical_rows: np.ndarray,
    lexical: dict[str, np.ndarray],
    stats: dict[str, Stats],
) -> float:
    """Whether the two rankings point at the same passages: 1 when one of the AGREE_DENSE
    passages closest by cosine is also the best by BM25 (each field's score over its
    deviation in the collection, summed), 0.9 when it is second... 0 when none is among
    the AGREE_LEXICAL best. A question the collection answers is usually near its passage
    in words and in meaning; an off-topic one lands on unrelated passages each way."""
    if not len(lexical_rows) or not len(dense_rows):
        return 0.0
    total = np.zeros(len(lexical_rows))
    for field, scores in lexical.items():
        sd = stats[field].sd if field in stats else 0.0
        if sd > 1e-12:
            total += scores / sd
    depth = min(AGREE_LEXICAL, len(total))
    top = np.argpartition(-total, depth - 1)[:depth] if len(total) > depth else np.arange(depth)
    top = top[np.lexsort((top, -total[top]))]  # best first, ties in candidate order
    rank = {int(r): i for i, r in enumerate(lexical_rows[top].tolist())}
    best = min(rank.get(int(r), AGREE_LEXICAL) for r in dense_rows[:AGREE_DENSE])
    return (AGREE_LEXICAL - best) / AGREE_LEXICAL


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
    rare: float = 0.0  # the rare evidence the first passage shares with it (rare_evidence)
    passage_terms: Callable[[int], list[str]] | None = None  # a row's stemmed terms
    passages: int = 0  # live passages in the collection (for the terms' weights)
    agreement: float = 0.0  # of the dense and lexical rankings (see agreement())
    query_vector: np.ndarray | None = None  # the question embedded, for answer sentences

    @property
    def found(self) -> bool:
        """Whether the question's score clears the collection's threshold (never for a
        question made only of English function words: it asks nothing)."""
        if only_function_words(self.question):
            return False
        return self.calibration.found(
            self.best_dense, self.question, self.coverage, self.rare, self.agreement
        )

    @property
    def confidence(self) -> float:
        if only_function_words(self.question):
            return 0.0
        return self.calibration.confidence(
            self.best_dense, self.question, self.coverage, self.rare, self.agreement
        )

    def hit_confidence(self, hit: Hit) -> float | None:
        """A hit's confidence: the found score of this passage (its cosine, its share of the
        question's weight and its rare evidence, with the question's agreement); None
        without a cosine (lexical mode)."""
        if hit.dense is None:
            return None
        if only_function_words(self.question):
            return 0.0
        cover = rare = 0.0
        if self.passage_terms is not None:
            held = self.passage_terms(hit.row)
            cover = coverage(self.question, self.weights, held, self.passages)
            rare = rare_evidence(self.question, self.weights, held, self.passages)
        return self.calibration.confidence(hit.dense, self.question, cover, rare, self.agreement)
