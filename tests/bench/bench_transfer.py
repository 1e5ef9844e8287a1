"""A collection nobody tuned on: six mostly French chapters of the Debian Reference (HTML).

    sudo bash .ci/install-debian-reference    # Debian's debian-reference-fr
    python tests/bench/bench_transfer.py [--out /tmp/ragchips-transfer]

The questions (tests/data/transfer/: 60 French, 30 English translations, 40 off-topic of
which 20 are near misses about Debian, Linux, Vim...) were written from the text before any
answer was looked at (notes/transfer.md). The chapters are indexed by the real CLI with the
automatic `found` calibration, then asked with ``ragchips eval``'s metrics. A retrieved
passage counts only if it holds the answer (each question gives it as ``phrase``). Prints
numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from _common import ROOT, index_with_cli  # tests/bench is sys.path[0] for a script

from ragchips import ask
from ragchips.evaluation import evaluate, load_questions

SOURCE = Path("/usr/share/debian-reference")
CHAPTERS = ("ch01", "ch02", "ch05", "ch10", "ch11", "pr01")  # the mostly French ones
DATA = ROOT / "tests" / "data" / "transfer"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="/tmp/ragchips-transfer")
    args = parser.parse_args()
    if not (SOURCE / "ch01.fr.html").is_file():
        print(f"{SOURCE} has no French chapters: run .ci/install-debian-reference", file=sys.stderr)
        return 2
    out = Path(args.out)
    corpus, index_dir = out / "corpus", out / "index"
    shutil.rmtree(out, ignore_errors=True)
    corpus.mkdir(parents=True)
    for name in CHAPTERS:  # doc id = file stem, as the questions name them
        shutil.copy(SOURCE / f"{name}.fr.html", corpus / f"{name}.html")
    index = index_with_cli(corpus, index_dir)
    print(f"{len(index)} passages from {len(CHAPTERS)} chapters of {SOURCE}")
    print(
        "| questions | recall@1 | recall@5 | MRR@10 | answer contains gold | first sentence "
        "| marked phrase is the answer | found |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for label, name in (("French (60)", "questions.jsonl"), ("English (30)", "questions_en.jsonl")):
        questions = load_questions(DATA / name)
        r = evaluate(questions, lambda q, k: ask(q, k=k, index=index), "hybrid")
        phrase = (
            "n/a"
            if r.phrase_accuracy is None
            else f"{r.phrase_accuracy:.3f} of {r.phrase_questions}"
        )
        print(
            f"| {label} | {r.recall_at_1:.3f} | {r.recall_at_5:.3f} | {r.mrr_at_10:.3f} "
            f"| {r.answer_containment:.3f} | {r.first_sentence_containment:.3f} | {phrase} "
            f"| {r.found_rate:.3f} |"
        )
    lines = (DATA / "offtopic.txt").read_text(encoding="utf-8").splitlines()
    off = [x.strip() for x in lines if x.strip() and not x.startswith("#")]
    rejected = [not ask(q, index=index).found for q in off]
    far, near = rejected[:20], rejected[20:]
    print(
        f"off-topic rejected: {sum(rejected)}/{len(off)} "
        f"(unrelated {sum(far)}/{len(far)}, near misses {sum(near)}/{len(near)})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
