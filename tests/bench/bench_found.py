"""Derive the ``found`` calibration from data and print how it separates the questions.

    .venv/bin/python tests/bench/bench_found.py [--index indexes/seeds]

Answerable: tests/data/seeds_gold.jsonl; off-topic: ragchips/data/offtopic.jsonl. The printed
calibration is what ragchips.calibration.DEFAULT holds.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ragchips import open_index
from ragchips.calibration import DEFAULT, derive, off_topic_questions

DATA = Path(__file__).resolve().parents[1] / "data"


def questions(name: str) -> list[str]:
    lines = (DATA / name).read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["question"] for line in lines if line.strip()]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--index", default=None)
    args = parser.parse_args()
    idx = open_index(args.index)

    def scored(qs: list[str]) -> list[tuple[float, str]]:
        return [(idx.best_dense(idx.embed_query(q)), q) for q in qs]

    on = scored(questions("seeds_gold.jsonl"))
    off = scored(off_topic_questions())
    cal, recall, rejected = derive(on, off)
    print(
        f"derived: threshold {cal.threshold}, lang_bonus {cal.lang_bonus}: "
        f"answerable found {recall:.1%} of {len(on)}, off-topic rejected {rejected:.1%} "
        f"of {len(off)}"
    )
    for name, c in (("shipped default", DEFAULT), ("index", idx.calibration)):
        r = sum(c.found(d, q) for d, q in on) / len(on)
        x = sum(not c.found(d, q) for d, q in off) / len(off)
        print(
            f"{name}: threshold {c.threshold}, lang_bonus {c.lang_bonus}: answerable found "
            f"{r:.1%}, off-topic rejected {x:.1%}"
        )
    print("off-topic questions still found:")
    for d, q in off:
        if idx.calibration.found(d, q):
            print(f"  {idx.calibration.score(d, q):.3f}  {q}")


if __name__ == "__main__":
    main()
