"""Answers and found on PIAF (half A tunes, half B reports) and the seeds gold set.

    .venv/bin/python tests/bench/bench_answers.py --piaf-index /tmp/ragchips-piaf [--halves AB]
    .venv/bin/python tests/bench/bench_answers.py --halves AB --stored-only   # fast: no auto

PIAF is split by article (even article number: half A, used to tune answer.py; odd: half
B). For every collection the ``found`` calibration is derived automatically
(``auto_calibrate``: no labelled question), with the off-topic bank split in two: the
calibration uses one half, the rejection rate is measured on the other, and the other way
round. Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time
from pathlib import Path

from _common import ROOT  # tests/bench is sys.path[0] for a script

from ragchips import ask, open_index
from ragchips.calibration import auto_calibrate, off_topic_questions
from ragchips.evaluation import first_sentence, normalise, phrase_hit

PIAF_QUESTIONS = ROOT.parent / "shared" / "eval" / "piaf" / "questions.jsonl"


def read(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def half(q: dict) -> str:
    m = re.search(r"-a(\d+)-", q["doc_id"])
    return "A" if m and int(m.group(1)) % 2 == 0 else "B"


def measure(idx, questions: list[dict], off: list[str]) -> dict[str, float]:  # type: ignore[no-untyped-def]
    found = contained = first = found_contained = 0
    lat = []
    chars = []  # the cited sentences of each answer, spaces collapsed, markers left out
    chars_found: list[int] = []  # the same, found answers only
    chars_weak: list[int] = []  # the same, weak evidence (found=False): the closest sentences
    sentences = []
    phrases: list[bool] = []  # the marked phrase is the gold answer (ragchips eval's rule)
    for q in questions:
        t = time.perf_counter()
        a = ask(q["question"], k=5, index=idx)
        lat.append(time.perf_counter() - t)
        gold = [normalise(x) for x in q.get("answers") or []]
        found += a.found
        c = any(g in normalise(a.answer) for g in gold)
        contained += c
        found_contained += c and a.found
        first += any(g in normalise(first_sentence(a)) for g in gold)
        if gold and (hit := phrase_hit(q, a)) is not None:
            phrases.append(hit)
        if a.claims:
            sentences.append(len(a.claims))
            chars.append(len(" ".join(" ".join(c.text.split()) for c in a.claims)))
            (chars_found if a.found else chars_weak).append(chars[-1])
    n = len(questions)
    rejected = sum(not ask(q, k=5, index=idx).found for q in off) / max(1, len(off))
    return {
        "questions": n,
        "found": found / n,
        "answer_contains_gold": contained / n,
        "found_and_contains_gold": found_contained / n,
        "first_sentence_contains_gold": first / n,
        "answer_chars_mean": statistics.mean(chars) if chars else 0.0,
        "answer_chars_found_mean": statistics.mean(chars_found) if chars_found else 0.0,
        "answer_chars_weak_mean": statistics.mean(chars_weak) if chars_weak else 0.0,
        "sentences_per_answer": statistics.mean(sentences) if sentences else 0.0,
        "phrase_is_gold": statistics.mean(phrases) if phrases else 0.0,
        "phrase_questions": len(phrases),
        "off_topic_rejected": rejected,
        "off_topic_questions": len(off),
        "ask_ms_median": 1000 * statistics.median(lat),
    }


def run(name: str, idx, questions: list[dict], stored_only: bool = False) -> None:  # type: ignore[no-untyped-def]
    bank = off_topic_questions()
    if stored_only:
        r = measure(idx, questions, bank)
        print(f"{name} stored calibration {idx.calibration.threshold}: {json.dumps(r)}", flush=True)
        return
    halves = (bank[0::2], bank[1::2])
    default = idx.calibration
    rows = []
    for i, (calib_half, held_out) in enumerate((halves, halves[::-1])):
        t = time.perf_counter()
        cal = auto_calibrate(idx, off_topic=calib_half)
        took = time.perf_counter() - t
        idx._calibration = cal  # the index's own calibration, as a build would store it
        r = measure(idx, questions, held_out)
        r.update(threshold=cal.threshold, calibrate_s=took)
        rows.append(r)
        print(f"{name} auto (bank half {i}): {json.dumps(r)}", flush=True)
    idx._calibration = default
    mean = {k: statistics.mean(r[k] for r in rows) for k in rows[0]}
    print(f"{name} auto, mean of both bank halves: {json.dumps(mean)}")
    r = measure(idx, questions, bank)
    print(f"{name} stored calibration {default.threshold}: {json.dumps(r)}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--piaf-index", default="/tmp/ragchips-piaf")
    parser.add_argument("--only", choices=("seeds", "piaf"))
    parser.add_argument("--halves", default="B", help="PIAF halves to run: A, B or AB")
    parser.add_argument(
        "--stored-only",
        action="store_true",
        help="only the index's stored calibration (skips the slow automatic ones)",
    )
    args = parser.parse_args()
    if args.only != "piaf":
        gold = read(ROOT / "tests" / "data" / "seeds_gold.jsonl")
        seeds = open_index(None)
        run("seeds", seeds, gold, args.stored_only)
        for lang in ("fr", "en"):
            sub = [q for q in gold if q.get("lang") == lang]
            found = sum(ask(q["question"], index=seeds).found for q in sub) / len(sub)
            print(f"seeds {lang}: {len(sub)} questions, found {found:.3f}")
    if args.only != "seeds" and PIAF_QUESTIONS.is_file():
        piaf = read(PIAF_QUESTIONS)
        idx = open_index(args.piaf_index)
        for h in args.halves:
            run(f"piaf-{h}", idx, [q for q in piaf if half(q) == h], args.stored_only)


if __name__ == "__main__":
    main()
