"""``ragchips eval|calibrate``: measuring a collection's answers and its ``found`` rule."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from .cli import _emit, _fraction, _k

__all__ = ["add_eval_commands"]


def add_eval_commands(sub: Any) -> None:
    _add_eval(sub)
    _add_calibrate(sub)


def _add_eval(sub: Any) -> None:
    p = sub.add_parser("eval", help="measure retrieval and answers on a question set")
    p.add_argument("questions", help='JSONL: {"question", "doc_id" and/or "answers"}')
    p.add_argument("--index", metavar="DIR", help="index folder (default: bundled)")
    p.add_argument("-k", "--k", type=_k, default=10, help="passages per question")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--mode", default="hybrid", help="hybrid (default), dense or lexical")
    group.add_argument("--compare", action="store_true", help="all three modes side by side")
    p.add_argument("--json", action="store_true", help="print the reports as JSON")
    p.set_defaults(run=_run_eval)


def _run_eval(args: argparse.Namespace) -> int:
    from .api import ask, open_index
    from .evaluation import evaluate, load_questions
    from .index import MODES

    questions = load_questions(args.questions)
    k = args.k
    index = open_index(args.index)
    in_index = set(index.doc_ids())
    unknown = [q["doc_id"] for q in questions if q.get("doc_id") and q["doc_id"] not in in_index]
    if unknown:  # a typo in a gold file scores 0 and says nothing otherwise
        n = len(unknown)
        print(
            f"warning: {n} question{'s' if n > 1 else ''} name a doc_id the index does not hold "
            f"(first: {unknown[0]!r}); {'they score' if n > 1 else 'it scores'} 0 at every rank",
            file=sys.stderr,
        )
    modes = list(MODES) if args.compare else [args.mode]
    reports = []
    for mode in modes:

        def answer(q: str, kk: int, m: str = mode) -> Any:
            return ask(q, k=kk, index=index, mode=m)

        reports.append(evaluate(questions, answer, mode, k))
    if args.json:
        return _emit(lambda: [r.to_dict() for r in reports], str, True)
    print(f"{len(questions)} questions, index {index.path}, k={k}")
    header = (
        "| mode | recall@1 | recall@5 | recall@10 | MRR@10 | nDCG@10 | answer contains gold "
        "| first sentence contains gold | found | latency median / p95 (ms) |"
    )
    with_phrase = sum(1 for q in questions if q.get("phrase"))
    if with_phrase == len(questions):
        print("ranks of the first passage from the gold document that holds the question's phrase:")
    elif with_phrase:
        print(
            f"ranks: for the {with_phrase} questions with a phrase, the first passage from the "
            "gold document that holds it; for the others, passages of one document merged:"
        )
    else:
        print("document-level ranks (passages of one document merged):")
    print(header)
    print("|---" * 10 + "|")

    def share(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.3f}"

    for r in reports:
        print(
            f"| {r.mode} | {r.recall_at_1:.3f} | {r.recall_at_5:.3f} | {r.recall_at_10:.3f} "
            f"| {r.mrr_at_10:.3f} | {r.ndcg_at_10:.3f} | {share(r.answer_containment)} "
            f"| {share(r.first_sentence_containment)} | {r.found_rate:.3f} "
            f"| {r.latency_ms_median:.1f} / {r.latency_ms_p95:.1f} |"
        )
    for r in reports:
        if r.phrase_accuracy is not None:
            print(
                f"{r.mode}: the marked answer phrase is the gold answer for "
                f"{r.phrase_accuracy:.3f} of the {r.phrase_questions} questions of a known "
                "kind whose answer cites a sentence holding it"
            )
    print()
    print("passage-level ranks (first passage of the gold document among all returned):")
    print("| mode | recall@1 | recall@5 | recall@10 | MRR@10 |")
    print("|---" * 5 + "|")
    for r in reports:
        print(
            f"| {r.mode} | {r.passage_recall_at_1:.3f} | {r.passage_recall_at_5:.3f} "
            f"| {r.passage_recall_at_10:.3f} | {r.passage_mrr_at_10:.3f} |"
        )
    return 0


def _add_calibrate(sub: Any) -> None:
    p = sub.add_parser(
        "calibrate", help="derive the found threshold of an index from answerable questions"
    )
    p.add_argument("questions", nargs="?", help="JSONL of questions the collection answers")
    p.add_argument(
        "--auto",
        action="store_true",
        help="derive it from the collection itself and the bundled off-topic questions",
    )
    p.add_argument("--index", metavar="DIR", help="index folder (default: bundled)")
    p.add_argument("--off-topic", metavar="FILE", help="JSONL of off-topic questions")
    p.add_argument(
        "--min-recall", type=_fraction("--min-recall"), default=0.95, help="default 0.95"
    )
    p.add_argument("--dry-run", action="store_true", help="print, do not store")
    p.set_defaults(run=_run_calibrate)


def _run_calibrate(args: argparse.Namespace) -> int:
    from .api import open_index
    from .calibration import derive, off_topic_questions
    from .evaluation import load_questions
    from .storage import update_manifest

    index = open_index(args.index)
    if args.auto:
        from .calibration import auto_calibrate

        t = time.perf_counter()
        cal = auto_calibrate(index)
        print(
            f"threshold {cal.threshold} (English questions {cal.threshold_en}), "
            f"scale {cal.scale}: "
            f"derived without labelled questions in {time.perf_counter() - t:.1f} s"
        )
        if not args.dry_run and index.path is not None:
            update_manifest(index.path, {"calibration": cal.to_dict()})
            print(f"stored in {index.path / 'manifest.json'}")
        return 0
    if not args.questions:
        from .errors import ConfigurationError

        raise ConfigurationError("give a questions file, or --auto")
    answerable = [q["question"] for q in load_questions(args.questions)]
    if args.off_topic:
        off = [q["question"] for q in load_questions(args.off_topic, gold=False)]
    else:
        off = off_topic_questions()

    def scored(questions: list[str]) -> list[tuple[float, str]]:
        return [(index.best_dense(index.embed_query(q)), q) for q in questions]

    cal, recall, rejected = derive(scored(answerable), scored(off), min_recall=args.min_recall)
    print(
        f"threshold {cal.threshold}, lang_bonus {cal.lang_bonus}: {recall:.1%} of "
        f"{len(answerable)} answerable questions found, {rejected:.1%} of {len(off)} "
        "off-topic questions rejected"
    )
    if args.dry_run:
        return 0
    if index.path is None:  # pragma: no cover - open_index always sets it
        raise RuntimeError("index has no folder")
    update_manifest(index.path, {"calibration": cal.to_dict()})
    print(f"stored in {index.path / 'manifest.json'}")
    return 0
