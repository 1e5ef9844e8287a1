"""Extractive answers: the best sentences of the best passages, each one cited.

No model writes anything here: every word of the answer is copied from a passage, and
each sentence carries the ``[n]`` marker of the passage it comes from, so a reader can
check it in one glance. Sentences are scored by the question words they contain
(weighted by rarity, after French analysis) plus the rank of their passage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .answertype import answer_type, has_candidate
from .chunking import sentence_spans
from .results import Passage

__all__ = ["NOT_FOUND_MESSAGE", "extract_answer"]

NOT_FOUND_MESSAGE = "Je n'ai trouvé dans la collection aucun passage qui réponde à cette question."
MAX_ANSWER_CHARS = 450
MAX_SENTENCES = 2
# Passages read for answer sentences; lower ones rarely hold a better sentence.
READ_PASSAGES = 3


@dataclass(frozen=True)
class _Candidate:
    score: float
    rank: int
    text: str
    order: tuple[int, int]


def _clean_sentence(text: str) -> str:
    text = " ".join(text.split())
    return text.lstrip("•-–—*· ").strip()


def extract_answer(
    question_terms: list[str],
    passages: list[Passage],
    weight: dict[str, float] | None = None,
    question: str = "",
) -> str:
    """Up to two cited sentences from the top passages that best cover the question."""
    if not passages:
        return ""
    from .analysis import analyze

    qterms = set(question_terms)
    weight = weight or {}
    kind = answer_type(question) if question else None
    candidates: list[_Candidate] = []
    for p in passages[:READ_PASSAGES]:
        for a, b in sentence_spans(p.text):
            sentence = _clean_sentence(p.text[a:b])
            if len(sentence) < 15 or sentence == _clean_sentence(p.title):
                continue  # a headline repeats the question's topic, it answers nothing
            terms = set(analyze(sentence))
            overlap = sum(weight.get(t, 1.0) for t in qterms & terms)
            length_penalty = 0.15 * math.log1p(max(0, len(sentence) - 250) / 100)
            score = overlap + 1.0 / (p.rank + 1) - length_penalty
            if kind is not None and has_candidate(kind, question, sentence):
                score += 1.0
            candidates.append(_Candidate(score, p.rank, sentence, (p.rank, a)))
    if not candidates:
        first = passages[0]
        return f"{first.quote(MAX_ANSWER_CHARS)} [{first.rank}]"
    candidates.sort(key=lambda c: (-c.score, c.order))
    chosen = [candidates[0]]
    best = candidates[0].score
    total = len(chosen[0].text)
    for c in candidates[1:]:
        if len(chosen) >= MAX_SENTENCES:
            break
        if c.score < 0.6 * best or total + len(c.text) > MAX_ANSWER_CHARS:
            continue
        if any(c.text == o.text for o in chosen):
            continue
        chosen.append(c)
        total += len(c.text)
    parts = []
    for c in chosen:
        text = c.text
        if len(text) > MAX_ANSWER_CHARS:
            text = text[: MAX_ANSWER_CHARS - 1].rstrip() + "…"
        parts.append(f"{text} [{c.rank}]")
    return " ".join(parts)
