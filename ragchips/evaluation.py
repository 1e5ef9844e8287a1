"""Measure retrieval and answers on a question set, the same way for every collection.

A question line is ``{"question", "doc_id" and/or "answers", optional "phrase"}``. A
retrieved passage is relevant when it comes from ``doc_id`` and, if a ``phrase`` is given,
contains it (so a gold set can demand the exact passage, not just the right article); with
a phrase and no ``doc_id`` (the same questions on a collection in other files), any passage
holding the phrase is.
Without a phrase, rankings are scored per document: repeated passages of one document
count once, at their best rank, as in document retrieval benchmarks. The ``passage_*``
figures rank every returned passage instead (the rank of the first passage of the gold
document among all returned passages), as passage-retrieval pipelines are usually scored.
Answer containment is reported for the whole answer and for its first sentence alone.
"""

from __future__ import annotations

import json
import math
import os
import re
import statistics
import sys
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import InvalidQuestionError, RagchipsError

_MARKER = re.compile(r"\[\d+\]")

__all__ = ["EvalReport", "evaluate", "load_questions", "normalise", "question_lines"]


def normalise(text: str) -> str:
    """Lower case, no accents, single spaces, unified apostrophes: for containment checks."""
    text = unicodedata.normalize("NFKD", text.replace("’", "'"))
    text = "".join(c for c in text if not unicodedata.combining(c))
    return " ".join(text.lower().split())


def question_lines(
    path: str | os.PathLike[str], blank: bool = False
) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, record)`` for every non-blank line of a questions JSONL file whose
    record is an object with a ``question`` string (non-empty, unless ``blank``: a batch
    reports a blank question as that question's error); anything else is a one-line error
    naming the line. The one reader of question files (eval, batch, calibrate)."""
    p = Path(path)
    if str(path) == "-":  # standard input: ask --questions - --out answers.jsonl < q.jsonl
        data = sys.stdin.buffer.read()
    elif p.is_dir():
        raise RagchipsError(f"{p}: a folder, not a questions file")
    elif not p.exists():
        raise RagchipsError(f"{p}: no such questions file")
    else:
        data = p.read_bytes()  # a file, or a pipe such as <(zcat q.jsonl.gz)
    # Bytes, split at \n, \r\n or \r (an old Mac file), so that a line that is not UTF-8
    # is named by its number.
    for n, raw in enumerate(data.splitlines(), 1):
        try:
            line = raw.decode("utf-8-sig")  # a BOM (Notepad) is not part of the JSON
        except UnicodeDecodeError:
            raise RagchipsError(f"{p}:{n}: not UTF-8 text") from None
        if not line.strip():
            continue
        try:
            q = json.loads(line)
        except json.JSONDecodeError as exc:
            raise RagchipsError(f"{p}:{n}: not valid JSON ({exc.msg})") from None
        if not isinstance(q, dict) or not isinstance(q.get("question"), str):
            raise RagchipsError(f"{p}:{n}: a question line needs a 'question' string")
        if not blank and not q["question"].strip():
            raise RagchipsError(f"{p}:{n}: a question line needs a non-empty 'question'")
        yield n, q


def load_questions(path: str | os.PathLike[str], gold: bool = True) -> list[dict[str, Any]]:
    """Read a questions JSONL file; a bad line is an error naming its line number.
    ``gold``: every line must say what answers it (``doc_id``, ``answers`` or ``phrase``)."""
    from .index import check_question

    out = []
    for n, q in question_lines(path):
        try:
            check_question(q["question"])  # a question ask() refuses: say which line
        except InvalidQuestionError as exc:
            raise RagchipsError(f"{path}:{n}: {exc}") from None
        if gold and not q.get("doc_id") and not q.get("answers") and not q.get("phrase"):
            raise RagchipsError(
                f"{path}:{n}: a question line needs 'doc_id', 'answers' or 'phrase'"
            )
        for key in ("doc_id", "phrase"):
            if q.get(key) is not None and not isinstance(q[key], str):
                raise RagchipsError(f"{path}:{n}: {key!r} must be a string")
        answers = q.get("answers")
        if answers is not None and not (
            isinstance(answers, list) and all(isinstance(a, str) for a in answers)
        ):
            raise RagchipsError(f"{path}:{n}: 'answers' must be a list of strings, e.g. [\"TSMC\"]")
        out.append(q)
    if not out:
        raise RagchipsError(f"{path}: no questions")
    return out


@dataclass
class EvalReport:
    """Averages over the questions of one run (one mode)."""

    mode: str
    questions: int
    recall_at_1: float
    recall_at_5: float
    recall_at_10: float
    mrr_at_10: float
    ndcg_at_10: float
    answer_containment: float | None
    found_rate: float
    latency_ms_median: float
    latency_ms_p95: float
    misses: list[str] = field(default_factory=list)
    passage_recall_at_1: float = 0.0
    passage_recall_at_5: float = 0.0
    passage_recall_at_10: float = 0.0
    passage_mrr_at_10: float = 0.0
    first_sentence_containment: float | None = None
    # Of the questions of a known answer kind whose answer cites a sentence holding the
    # gold answer: the share whose marked phrase is that answer (one contains the other).
    phrase_accuracy: float | None = None
    phrase_questions: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _first_relevant_rank(q: dict[str, Any], passages: Sequence[Any]) -> int | None:
    gold = q.get("doc_id")
    phrase = q.get("phrase")
    answers = [normalise(a) for a in q.get("answers") or []]
    seen: list[str] = []
    for p in passages:
        if phrase is not None:
            key = f"{p.doc_id}:{p.start}"
            in_doc = not gold or p.doc_id == gold  # no doc_id: the phrase alone judges
            relevant = in_doc and normalise(phrase) in normalise(p.text)
        elif gold:
            key = p.doc_id
            relevant = p.doc_id == gold
        else:
            key = f"{p.doc_id}:{p.start}"
            text = normalise(p.text)
            relevant = any(a in text for a in answers)
        if key in seen:
            continue
        seen.append(key)
        if relevant:
            return len(seen)
    return None


def _first_passage_rank(q: dict[str, Any], passages: Sequence[Any]) -> int | None:
    """Rank among all returned passages (none merged) of the first relevant one."""
    gold = q.get("doc_id")
    phrase = q.get("phrase")
    answers = [normalise(a) for a in q.get("answers") or []]
    for i, p in enumerate(passages, 1):
        if gold:
            relevant = p.doc_id == gold and (
                phrase is None or normalise(phrase) in normalise(p.text)
            )
        elif phrase is not None:
            relevant = normalise(phrase) in normalise(p.text)
        else:
            relevant = any(a in normalise(p.text) for a in answers)
        if relevant:
            return i
    return None


def first_sentence(answer: Any) -> str:
    """The answer's first sentence: its first claim, else the text up to the first [n]."""
    claims = getattr(answer, "claims", None)
    if claims:
        return str(claims[0].text)
    text = str(answer.answer)
    m = _MARKER.search(text)
    return text[: m.start()] if m else text


def _holds_words(text: str, part: str) -> bool:
    """Whether ``part`` is in ``text`` as whole words ("7" is not in "7 000")."""
    return re.search(rf"(?<!\w){re.escape(part)}(?!\w)", text) is not None


def phrase_hit(q: dict[str, Any], answer: Any) -> bool | None:
    """Whether the phrase marked in the claim holding the gold answer is that answer: one
    holds the other as whole words ("80 personnes" for "80", "Taiwan Semiconductor" for
    "Taiwan Semiconductor Manufacturing Company", not "7" for "7 000 milliards"); ``None``
    when the question asks for no known kind or no claim holds the answer."""
    from .answertype import answer_type

    gold = [normalise(a) for a in q["answers"]]
    if answer_type(q["question"]) is None:
        return None
    for claim in getattr(answer, "claims", None) or []:
        if any(g in normalise(claim.text) for g in gold):
            phrase = normalise(claim.phrase or "")
            return bool(phrase) and any(
                _holds_words(phrase, g) or _holds_words(g, phrase) for g in gold
            )
    return None


def evaluate(
    questions: Sequence[dict[str, Any]],
    answer_fn: Callable[[str, int], Any],
    mode: str,
    k: int = 10,
) -> EvalReport:
    """Run ``answer_fn(question, k)`` (returns an Answer) on every question and average."""
    ranks: list[int | None] = []
    passage_ranks: list[int | None] = []
    contained: list[bool] = []
    contained_first: list[bool] = []
    phrases: list[bool] = []
    found: list[bool] = []
    latencies: list[float] = []
    misses = []
    for q in questions:
        t = time.perf_counter()
        ans = answer_fn(q["question"], k)
        latencies.append((time.perf_counter() - t) * 1000)
        rank = _first_relevant_rank(q, ans.passages)
        ranks.append(rank)
        passage_ranks.append(_first_passage_rank(q, ans.passages))
        found.append(bool(ans.found))
        if rank is None or rank > 5:
            misses.append(str(q.get("id", q["question"])))
        if q.get("answers"):
            text = normalise(ans.answer)
            contained.append(any(normalise(a) in text for a in q["answers"]))
            first = normalise(first_sentence(ans))
            contained_first.append(any(normalise(a) in first for a in q["answers"]))
            hit = phrase_hit(q, ans)
            if hit is not None:
                phrases.append(hit)
    n = len(questions)

    def recall(at: int, rs: list[int | None] = ranks) -> float:
        return sum(1 for r in rs if r is not None and r <= at) / n

    lat = sorted(latencies)
    return EvalReport(
        mode=mode,
        questions=n,
        recall_at_1=recall(1),
        recall_at_5=recall(5),
        recall_at_10=recall(10),
        mrr_at_10=sum(1 / r for r in ranks if r is not None and r <= 10) / n,
        ndcg_at_10=sum(1 / math.log2(r + 1) for r in ranks if r is not None and r <= 10) / n,
        answer_containment=(sum(contained) / len(contained)) if contained else None,
        found_rate=sum(found) / n,
        latency_ms_median=statistics.median(lat),
        latency_ms_p95=lat[min(len(lat) - 1, math.ceil(0.95 * len(lat)) - 1)],
        misses=misses,
        passage_recall_at_1=recall(1, passage_ranks),
        passage_recall_at_5=recall(5, passage_ranks),
        passage_recall_at_10=recall(10, passage_ranks),
        passage_mrr_at_10=sum(1 / r for r in passage_ranks if r is not None and r <= 10) / n,
        first_sentence_containment=(
            sum(contained_first) / len(contained_first) if contained_first else None
        ),
        phrase_accuracy=sum(phrases) / len(phrases) if phrases else None,
        phrase_questions=len(phrases),
    )
