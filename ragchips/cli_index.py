"""``ragchips index|verify|upgrade|compact``: building an index and looking after it."""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

__all__ = ["add_index_commands"]


def _progress(args: argparse.Namespace) -> tuple[Any, Any]:
    """A tqdm bar on a terminal (passages/s, time left); in a log, a line every 30 s
    (``RAGCHIPS_PROGRESS_EVERY`` seconds): a long job is never silent. The total grows
    while files are still being read."""
    state: dict[str, Any] = {"bar": None, "last": 0.0, "t0": time.monotonic()}
    show = args.progress if args.progress is not None else sys.stderr.isatty()
    every = os.environ.get("RAGCHIPS_PROGRESS_EVERY", "")
    period = float(every) if every.replace(".", "", 1).isdigit() else 30.0

    def progress(done: int, total: int) -> None:
        # total 0: not known yet (a Ray build counts passages as they arrive)
        if show:
            if state["bar"] is None:
                from tqdm import tqdm

                state["bar"] = tqdm(total=total or None, desc="embedding", unit="passage")
            if total and total != state["bar"].total:
                state["bar"].total = total
            state["bar"].update(done - state["bar"].n)
            return
        now = time.monotonic()
        if now - state["last"] >= period or done == total:
            state["last"] = now
            rate = done / max(now - state["t0"], 1e-9)
            left = f", {(total - done) / rate:.0f} s left" if rate and total else ""
            of = f"/{total}" if total else ""
            print(f"embedding: {done}{of} passages, {rate:.1f}/s{left}", file=sys.stderr)

    def close() -> None:
        if state["bar"] is not None:
            state["bar"].close()

    return progress, close


def _one_line_warning(message: Any, *_: Any, **__: Any) -> None:
    print(f"warning: {message}", file=sys.stderr)


def _run_index(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from .dense import DenseConfig
    from .index import Index
    from .reader import summarise_skips
    from .updates import kept_chunker

    skipped: list[tuple[str, str]] = []

    def on_skip(path: str, reason: str) -> None:
        skipped.append((path, reason))
        if getattr(reason, "kind", "") != "unsupported":  # those are listed once, below
            print(f"warning: skipped {reason}", file=sys.stderr)

    progress, close = _progress(args)
    chunker = None  # the index keeps its own (kept_chunker), or a new one gets the defaults
    if args.chunk_size is not None or args.chunk_overlap is not None:
        base = kept_chunker(args.out, args.full)
        chunker = replace(
            base,
            chunk_size=base.chunk_size if args.chunk_size is None else args.chunk_size,
            chunk_overlap=base.chunk_overlap if args.chunk_overlap is None else args.chunk_overlap,
        )
    dense = DenseConfig(kind=args.dense, nprobe=args.nprobe) if args.dense else None
    # A warning (an unusable embedding cache) is one line, like the skipped files.
    warnings.showwarning = _one_line_warning
    try:
        index, report = Index.sync(
            args.paths,
            args.out,
            embedder=args.embedder,
            chunker=chunker,
            on_skip=on_skip,
            progress=progress,
            dense=dense,
            full=args.full,
            wait=args.wait,
            ray=_ray(args),
            prune=args.prune,
        )
    finally:
        close()
        for line in summarise_skips(skipped):
            print(line, file=sys.stderr)
    counts = index.manifest["counts"]
    not_read = [s for s in skipped if getattr(s[1], "kind", "") != "unsupported"]
    print(
        f"indexed {counts['documents']} documents, {counts['passages']} passages -> {args.out}"
        f" ({report.summary()})" + (f" ({len(not_read)} files skipped)" if not_read else "")
    )
    if report.unread:
        n, them = len(report.unread), "them" if len(report.unread) > 1 else "it"
        print(
            f"kept {n} document{'s' if n > 1 else ''} as {'they were' if n > 1 else 'it was'} "
            f"({report.unread[0]}{', ...' if n > 1 else ''}): no reader here reads "
            f"{'their' if n > 1 else 'its'} file's format now; install its reader to update "
            f"{them}, or delete the file to remove {them}",
            file=sys.stderr,
        )
    from .calibration import print_recalibration

    print_recalibration(index)
    return 0


def _ray(args: argparse.Namespace) -> Any:
    """--ray [ADDRESS] (and --ray-workers) as Index.sync's ray=; None without --ray."""
    from .errors import ConfigurationError

    if args.ray is None:
        if args.ray_workers is not None:
            raise ConfigurationError("--ray-workers needs --ray")
        return None
    from .cluster import RayConfig

    return RayConfig(address=args.ray or None, workers=args.ray_workers)


def _run_verify(args: argparse.Namespace) -> int:
    from .maintenance import verify

    report = verify(Path(args.dir))
    if report.leftovers:
        print(
            f"note: left by an interrupted write or an old generation, removed by the next "
            f"update or compact: {', '.join(report.leftovers)}"
        )
    if report.ok:
        print(
            f"ok: {report.documents} documents, {report.passages} passages, "
            f"{report.segments} segments; every file matches its sha256"
        )
        return 0
    for p in report.problems:
        print(f"problem: {p}", file=sys.stderr)
    print(
        f"{args.dir} is damaged: rebuild it with 'ragchips index PATH... --out {args.dir} --full'"
        " (the documents are re-read and re-embedded)",
        file=sys.stderr,
    )
    return 1


def _run_upgrade(args: argparse.Namespace) -> int:
    from .maintenance import is_format_1, upgrade
    from .storage import FORMAT_VERSION, read_manifest

    if (Path(args.dir) / "manifest.json").is_file() and not is_format_1(Path(args.dir)):
        read_manifest(Path(args.dir))  # a damaged or foreign manifest is said as such
        # Already current: nothing to do, and not an error (a script may run it every time).
        print(f"{args.dir} is already at format {FORMAT_VERSION}: nothing to upgrade")
        return 0
    manifest = upgrade(Path(args.dir))
    counts = manifest["counts"]
    print(
        f"upgraded {args.dir} to format {manifest['version']}: "
        f"{counts['documents']} documents, {counts['passages']} passages (nothing re-embedded)"
    )
    return 0


def _run_compact(args: argparse.Namespace) -> int:
    from .dense import DenseConfig
    from .index import Index

    index = Index.load(args.dir)
    before = len(index.segments)
    dense = None
    if args.dense:
        dense = DenseConfig(
            kind=args.dense, nprobe=args.nprobe, min_rows=args.min_rows, nlist=args.nlist
        )
    index.compact(dense)
    print(f"compacted {args.dir}: {before} segments -> {len(index.segments)}")
    return 0


def _wait(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, not {text!r}") from None
    if not 0 <= value <= 86400:
        raise argparse.ArgumentTypeError("--wait takes 0 to 86400 seconds")
    return value


def add_index_commands(sub: Any) -> None:
    """Declare ``index``, ``verify``, ``upgrade`` and ``compact`` on a subparsers object."""
    from .chunking import ChunkerSettings
    from .cli import _int_in
    from .dense import DENSE_KINDS

    defaults = ChunkerSettings()
    p = sub.add_parser(
        "index",
        help="build or update an index from files or folders",
        description="Build an index, or bring an existing one up to date: only new or changed "
        "documents are embedded, those whose files are gone are removed.",
    )
    p.add_argument(
        "paths", nargs="+", help="files or folders (.txt, .md, .html, .jsonl, .pdf, .docx, .odt)"
    )
    p.add_argument("--out", required=True, metavar="DIR", help="index folder to write")
    p.add_argument(
        "--embedder",
        default=None,
        help="e5-small (default for a new index; an existing one keeps its own), "
        "st:<sentence-transformers model>, hash-<dim> (no model: tests) or a plugin's name",
    )
    p.add_argument(
        "--chunk-size",
        type=_int_in("--chunk-size", 50),
        default=None,
        help=f"characters per passage (a new index: {defaults.chunk_size}; an existing one "
        "keeps its own)",
    )
    p.add_argument(
        "--chunk-overlap",
        type=_int_in("--chunk-overlap", 0),
        default=None,
        help=f"characters shared by neighbouring passages ({defaults.chunk_overlap})",
    )
    p.add_argument("--full", action="store_true", help="rebuild everything, embed every passage")
    p.add_argument(
        "--prune",
        action="store_true",
        help="remove the documents whose files still exist but lie under none of PATHS (without "
        "it, such an update is refused: files that are gone are always removed)",
    )
    p.add_argument(
        "--dense",
        choices=DENSE_KINDS,
        default=None,
        help="dense index: exact (flat), approximate (ivf, hnsw) or auto (default: flat while "
        "small, ivf for segments of 50,000 passages or more)",
    )
    _nprobe_option(p)
    p.add_argument(
        "--wait",
        type=_wait,
        default=0.0,
        metavar="SECONDS",
        help="wait for another writer to finish (default: fail at once)",
    )
    p.add_argument(
        "--ray",
        nargs="?",
        const="",
        default=None,
        metavar="ADDRESS",
        help="read, chunk and embed on a Ray cluster (pip install 'ragchips[ray]'): 'auto' for "
        "the cluster started here with 'ray start', HOST:PORT for another; alone, a Ray "
        "instance on this machine. The index is written here, as without --ray",
    )
    p.add_argument(
        "--ray-workers",
        type=_int_in("--ray-workers", 1),
        default=None,
        metavar="N",
        help="embedding replicas on the cluster (default: one per CPU)",
    )
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show a progress bar (default: when stderr is a terminal; else a line every 30 s)",
    )
    p.set_defaults(run=_run_index)

    p = sub.add_parser("verify", help="check every file and part of an index; say how to repair")
    p.add_argument("dir", metavar="DIR")
    p.set_defaults(run=_run_verify)

    p = sub.add_parser("upgrade", help="upgrade an index of an older format in place")
    p.add_argument("dir", metavar="DIR")
    p.set_defaults(run=_run_upgrade)

    p = sub.add_parser("compact", help="merge an index's segments, dropping deleted passages")
    p.add_argument("dir", metavar="DIR")
    p.add_argument(
        "--dense",
        choices=DENSE_KINDS,
        default=None,
        help="rebuild the dense index this way (no passage is embedded again)",
    )
    _nprobe_option(p)
    p.add_argument(
        "--nlist", type=_int_in("--nlist", 0), default=0, help="IVF lists (default: ~4 sqrt(n))"
    )
    p.add_argument(
        "--min-rows",
        type=_int_in("--min-rows", 0),
        default=20_000,
        help="smallest segment that gets an approximate index (default 20000)",
    )
    p.set_defaults(run=_run_compact)


def _nprobe_option(p: argparse.ArgumentParser) -> None:
    from .cli import _int_in

    p.add_argument(
        "--nprobe",
        type=_int_in("--nprobe", 0),
        default=0,
        help="IVF lists searched (default 0: as many as hold about 8,000 vectors)",
    )
