"""Quality on the seeds: the gold set and the off-topic questions, on the committed index."""

from __future__ import annotations

from pathlib import Path

from ragchips import ask, open_index
from ragchips.calibration import off_topic_questions
from ragchips.evaluation import evaluate, load_questions

DATA = Path(__file__).resolve().parent / "data"


def test_gold_recall_at_5_is_perfect() -> None:
    idx = open_index()
    questions = load_questions(DATA / "seeds_gold.jsonl")
    assert len(questions) >= 30
    assert sum(1 for q in questions if q.get("lang") == "en") >= 3
    report = evaluate(questions, lambda q, k: ask(q, k=k, index=idx), "hybrid", k=5)
    assert report.recall_at_5 == 1.0, report.misses


def test_found_is_calibrated() -> None:
    idx = open_index()
    gold = load_questions(DATA / "seeds_gold.jsonl")
    off = off_topic_questions()
    assert len(off) >= 20
    found_gold = sum(ask(q["question"], index=idx).found for q in gold) / len(gold)
    rejected = sum(not ask(q, index=idx).found for q in off) / len(off)
    assert found_gold >= 0.95
    assert rejected >= 0.90
