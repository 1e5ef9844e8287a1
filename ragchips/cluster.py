"""Building an index on a Ray cluster: read, clean, chunk and embed on the workers; write
on the driver with the very code of a local build.

Why Ray Data rather than a home-made queue: an actor pool of model replicas (each loads the
model once), backpressure, task retries and restarted actors when a worker dies are what
batch inference on a cluster needs, and Ray Data has them. The driver only lists the input
files, resolves document ids in file order exactly like :func:`ragchips.reader.read_documents`
(the stream keeps the input order), and writes a segment each time ``shard_passages``
passages have arrived, so it never holds the whole collection. The manifest is swapped once,
at the end, by :func:`ragchips.writer.apply_changes`: a failed job leaves the index as it was.

Nothing here imports ``ray`` at module level: ``ray`` is an optional extra, loaded only when a
build asks for a cluster. The workers need ragchips installed (the same version): the
functions they run are this module's, shipped by reference.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .cluster_worker import EmbedReplica, doc_row, read_and_cut, recipe
from .embedding import Embedder
from .errors import ConfigurationError, NoDocumentsError, RagchipsError
from .reader import (
    Document,
    FileIds,
    discover_files,
    nothing_readable,
    split_sources,
)
from .writer import ChangeReport, Prepared, apply_changes

__all__ = ["RayConfig", "ray_config", "sync_on_ray"]

# The smallest share of the CPUs an embedder replica needs; readers take none (they are
# cheap next to the model, and a reader waiting for a CPU held by a replica would stall).
READ_CPUS = 0.0


@dataclass(frozen=True)
class RayConfig:
    """Where and how to run a build on Ray.

    ``address``: ``None`` starts a Ray instance on this machine for the build; ``"auto"``
    joins the cluster started here with ``ray start``; ``HOST:PORT`` or ``ray://HOST:PORT``
    joins a remote one. ``workers``: embedder replicas (default: one per ``cpus_per_worker``
    CPUs of the cluster). ``batch_passages``: passages per call of a replica.
    ``shard_passages``: passages the driver gathers before writing them as a segment.
    A process already connected to Ray (a notebook) keeps its session: ``address`` and
    ``runtime_env`` are then not used.
    """

    address: str | None = None
    workers: int | None = None
    cpus_per_worker: float = 1.0
    batch_passages: int = 128
    shard_passages: int = 100_000
    runtime_env: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.workers is not None and self.workers < 1:
            raise ConfigurationError("Ray workers must be at least 1")
        if self.cpus_per_worker <= 0:
            raise ConfigurationError("cpus_per_worker must be positive")
        if self.batch_passages < 1 or self.shard_passages < 1:
            raise ConfigurationError("batch_passages and shard_passages must be at least 1")


def ray_config(spec: str | RayConfig | bool | None) -> RayConfig | None:
    """``ray=`` as given to Index.build/sync: an address, ``True`` (a local instance), a
    RayConfig, or None/False (no Ray)."""
    if spec is None or spec is False:
        return None
    if spec is True:
        return RayConfig()
    if isinstance(spec, RayConfig):
        return spec
    if isinstance(spec, str):
        return RayConfig(address=spec or None)
    raise ConfigurationError(f"ray= takes an address, True or a RayConfig, not {spec!r}")


# -- connecting ------------------------------------------------------------------------------


def _import_ray() -> Any:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise ConfigurationError(
            "--ray needs Ray: pip install 'ragchips[ray]' (ray[data])"
        ) from exc
    return ray


def _check_reachable(address: str) -> None:
    """Fail in seconds on an address nobody listens on (ray.init would wait for minutes)."""
    if address == "auto" or address.startswith("local"):
        return
    hostport = address.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigurationError(
            f"bad Ray address {address!r}: use auto, HOST:PORT or ray://HOST:PORT"
        )
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        raise RagchipsError(
            f"cannot reach the Ray cluster at {address}: {exc.strerror or exc} "
            "(start it with 'ray start --head', or pass the address it printed)"
        ) from exc


@contextmanager
def connected(config: RayConfig) -> Iterator[Any]:
    """Ray, initialised for this build (and shut down after it, if this build started it)."""
    ray = _import_ray()
    if ray.is_initialized():  # a notebook or a test already connected: use that session
        yield ray
        return
    quiet = {"logging_level": logging.ERROR, "log_to_driver": False}
    try:
        if config.address is None:
            ray.init(include_dashboard=False, runtime_env=config.runtime_env or None, **quiet)
        else:
            _check_reachable(config.address)
            ray.init(address=config.address, runtime_env=config.runtime_env or None, **quiet)
    except ConnectionError as exc:
        where = config.address or "this machine"
        raise RagchipsError(f"cannot connect to the Ray cluster at {where}: {exc}") from exc
    try:
        yield ray
    finally:
        ray.shutdown()


# Ray Data settings of a build, put back after it (the context is the process's).
_DATA_SETTINGS = {
    "preserve_order": True,  # doc_ids are resolved in file order, as on one machine
    "enable_progress_bars": False,
    "print_on_execution_start": False,
    # One pack a block: a block is what one replica gets, and one JSONL file (read by one
    # task) must still spread over every replica. (A repartition stage would need a CPU,
    # and the replicas hold them all.)
    "target_max_block_size": 1,
}


@contextmanager
def _data_context(ray: Any) -> Iterator[None]:
    ctx = ray.data.DataContext.get_current()
    options = ctx.execution_options
    before = {k: getattr(options if k == "preserve_order" else ctx, k) for k in _DATA_SETTINGS}
    logger = logging.getLogger("ray.data")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        for k, v in _DATA_SETTINGS.items():
            setattr(options if k == "preserve_order" else ctx, k, v)
        yield
    finally:
        for k, v in before.items():
            setattr(options if k == "preserve_order" else ctx, k, v)
        logger.setLevel(level)


def check_workers(ray: Any) -> None:
    """Every alive node can import ragchips, in the driver's version: else one clear line
    (the job itself would fail deep inside Ray with a long traceback)."""
    import ray.cloudpickle as cloudpickle
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    import ragchips

    from . import cluster_worker

    # By value: a worker without ragchips must still be able to run the probe itself.
    cloudpickle.register_pickle_by_value(cluster_worker)
    try:
        probe = ray.remote(num_cpus=0, max_retries=1)(cluster_worker.probe_import)
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        refs = [
            probe.options(
                scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)
            ).remote()
            for n in nodes
        ]
    finally:
        cloudpickle.unregister_pickle_by_value(cluster_worker)
    mine = getattr(ragchips, "__version__", "?")
    for node, answer in zip(nodes, ray.get(refs, timeout=120)):
        where = node.get("NodeManagerAddress", "?")
        if answer.startswith("error:"):
            raise RagchipsError(
                f"a Ray worker on {where} cannot import ragchips ({answer[7:]}): install "
                "'ragchips[ray]' on every node of the cluster"
            )
        if answer != mine:
            raise RagchipsError(
                f"a Ray worker on {where} has ragchips {answer}, the driver {mine}: install "
                "the same version on every node"
            )


# -- on the driver -----------------------------------------------------------------------------


@dataclass
class _Resolver:
    """doc_ids made unique in file order, exactly as read_documents does on one machine
    (``ids.held``: doc_ids kept for files not read, which no JSONL line takes either)."""

    ids: FileIds = field(default_factory=FileIds)
    seen: dict[str, int] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)
    seq: int = -1
    jsonl_ids: list[str] = field(default_factory=list)

    def next_source(self, seq: int) -> None:
        if seq != self.seq:
            for i in self.jsonl_ids:
                self.seen[i] = 1
            self.jsonl_ids = []
            self.seq = seq

    def resolve(self, item: dict[str, Any]) -> str | None:
        """The final doc_id, or None when read_documents would skip this document."""
        doc_id = str(item["doc"]["doc_id"])
        if item.get("given"):
            final = doc_id
        elif item["jsonl"]:
            if doc_id in self.seen or doc_id in self.ids.held:
                return None
            self.jsonl_ids.append(doc_id)
            self.ids.used.add(doc_id)
            final = doc_id
        else:
            self.seen[doc_id] = 1
            final = self.ids.take(doc_id)
        if final in self.used:
            raise RagchipsError(f"doc_id given twice: {final}")
        self.used.add(final)
        return final


def _sources(sources: Iterable[Any], on_skip: Callable[[str, str], None] | None) -> list[dict]:
    docs, paths = split_sources(sources)
    rows: list[dict[str, Any]] = [{"path": "", "doc": json.dumps(doc_row(d))} for d in docs]
    if paths:
        rows.extend({"path": str(p), "doc": ""} for p in discover_files(paths, on_skip=on_skip))
    for i, row in enumerate(rows):
        row["seq"] = i
    return rows


def _unpack(data: bytes, dim: int) -> np.ndarray:
    return np.frombuffer(data, dtype=np.float32).reshape(-1, dim)


class _Gather:
    """The driver's side of the stream: final doc_ids, skipped files reported, unchanged
    documents dropped, and the passages of at most one shard held at a time."""

    def __init__(
        self,
        known: dict[str, str],
        on_skip: Callable[[str, str], None] | None,
        progress: Callable[[int, int], None] | None,
        ids: FileIds | None = None,
    ) -> None:
        self.known = known
        self.on_skip = on_skip
        self.progress = progress
        self.resolver = _Resolver(ids or FileIds())
        self.wanted: dict[str, str] = {}  # doc_id -> content hash, every document read
        self.sources: dict[str, str] = {}  # doc_id -> where it was read
        self.late: list[Prepared] = []  # a known hash under another doc_id
        self.prepared: list[Prepared] = []
        self.vectors: list[np.ndarray] = []
        self.held = 0
        self.done = 0

    def take(self, items: list[dict[str, Any]], vectors: np.ndarray) -> None:
        from .readers import SkipReason

        at = 0
        for item in items:
            self.resolver.next_source(item["seq"])
            if "skip" in item:
                s = item["skip"]
                if self.on_skip is not None:
                    self.on_skip(s["path"], SkipReason(s["reason"], s["kind"]))
                continue
            n = len(item["spans"]) if item["embed"] else 0
            own, at = vectors[at : at + n], at + n
            final = self.resolver.resolve(item)
            if final is None:
                _taken(item, self.on_skip)
                continue
            doc = Document.from_dict(item["doc"])
            if final != doc.doc_id:
                doc = replace(doc, doc_id=final)
            self.wanted[final] = doc.sha256
            self.sources[final] = doc.source
            p = Prepared(doc, [(int(a), int(b)) for a, b in item["spans"]])
            if self.known.get(final) == doc.sha256 or not p.spans:
                continue  # unchanged, or no body text: nothing to write
            if not item["embed"]:
                self.late.append(p)
                continue
            self.prepared.append(p)
            self.vectors.append(own.copy())
            self.held += len(p.spans)
            self.done += len(p.spans)
            if self.progress is not None:
                self.progress(self.done, 0)

    def shard(self) -> tuple[list[Prepared], np.ndarray]:
        """What is held, handed over to be written (and no longer held)."""
        out = self.prepared, np.concatenate(self.vectors) if self.vectors else np.zeros((0, 0))
        self.prepared, self.vectors, self.held = [], [], 0
        return out


def sync_on_ray(
    directory: Path,
    current: dict[str, Any] | None,
    settings: dict[str, Any],
    embedder: Embedder,
    sources: Iterable[Any],
    known: dict[str, str],
    on_skip: Callable[[str, str], None] | None,
    progress: Callable[[int, int], None] | None,
    *,
    config: RayConfig | None,
    report: ChangeReport,
    check: Callable[[dict[str, tuple[str, str]]], None] | None = None,
    kept: Callable[[], set[str]] = set,
    moved: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """Bring the index at ``directory`` to exactly ``sources`` (``current`` None: from
    scratch), embedding new and changed documents on the cluster. ``known``: doc_id to
    content hash of the current index. The caller holds the writer lock."""
    config = config or RayConfig()
    rows = _sources(sources, on_skip)
    if not rows:
        raise NoDocumentsError(nothing_readable())
    chunker = settings["chunker"]
    dim = int(embedder.dim)
    with connected(config) as ray, _data_context(ray):
        check_workers(ray)
        workers = config.workers or max(
            1, int(ray.cluster_resources().get("CPU", 1) // config.cpus_per_worker)
        )

        def stream(inputs: list[dict[str, Any]], hashes: dict[str, str]) -> Iterator[Any]:
            ds = ray.data.from_items(inputs, override_num_blocks=min(len(inputs), 4 * workers))
            ds = ds.map_batches(
                read_and_cut,
                batch_size=1,
                fn_kwargs={"chunker": chunker, "known": hashes, "pack": config.batch_passages},
                num_cpus=READ_CPUS,
            )
            # Ray Data retries a task whose worker died and restarts a dead replica (its
            # defaults: max_retries=-1, max_restarts=-1, max_task_retries=-1); an error
            # raised by ragchips itself is not retried.
            ds = ds.map_batches(
                EmbedReplica,
                batch_size=1,
                fn_constructor_kwargs={"recipe": recipe(embedder)},
                compute=ray.data.ActorPoolStrategy(size=workers),
                num_cpus=config.cpus_per_worker,
            )
            try:
                yield from ds.iter_rows()
            except RagchipsError:
                raise
            except Exception as exc:  # a Ray error: one line, and the ragchips error inside
                raise _explain(exc) from exc

        # A moved document (its file gone, its doc_id read elsewhere) is embedded again, so
        # that it records where it is read from now (the cache makes that cheap).
        hashes = {i: "" if i in moved else sha for i, sha in known.items()}
        # The documents of files no reader here reads, known once the files are listed
        # (above): kept, and their doc_ids held.
        unread_ids = kept()
        gather = _Gather(hashes, on_skip, progress, FileIds(unread_ids))

        def shards() -> Iterator[tuple[list[Prepared], np.ndarray]]:
            for row in stream(rows, hashes):
                gather.take(json.loads(row["items"]), _unpack(row["vectors"], dim))
                if gather.held >= config.shard_passages:
                    yield gather.shard()
            yield gather.shard()
            if gather.late:
                # Rare: another file's doc_id held this content. Embedded now, as given.
                late = [doc_row(p.document) for p in gather.late]
                again = [{"seq": i, "path": "", "doc": json.dumps(d)} for i, d in enumerate(late)]
                got = [_unpack(r["vectors"], dim) for r in stream(again, {})]
                yield gather.late, np.concatenate(got)

        def deletions() -> Iterator[str]:
            wanted = gather.wanted
            if not wanted:
                raise NoDocumentsError(nothing_readable())
            changed = [i for i in wanted if i in known and (known[i] != wanted[i] or i in moved)]
            unread = sorted(i for i in unread_ids if i in known and i not in wanted)
            gone = [i for i in known if i not in wanted and i not in unread]
            if check is not None:
                # Refuses before the manifest is replaced.
                check({i: (sha, gather.sources.get(i, "")) for i, sha in wanted.items()})
            report.added = [i for i in wanted if i not in known]
            report.updated = changed
            report.removed = gone
            report.unread = unread
            report.kept = len(wanted) - len(report.added) - len(changed) + len(unread)
            yield from changed + gone

        return apply_changes(
            directory, current, settings, embedder, shards=shards(), delete=deletions()
        )


def _taken(item: dict[str, Any], on_skip: Callable[[str, str], None] | None) -> None:
    """A JSONL line whose doc_id an earlier file used: skipped, as on one machine."""
    if on_skip is not None:
        doc = item["doc"]
        where = f"{doc['source']}:{doc['metadata'].get('line')}"
        on_skip(
            where, f"{where}: doc_id {doc['doc_id']!r} already used on another file; line skipped"
        )


def _explain(exc: BaseException) -> RagchipsError:
    """A failed Ray job as one line: the ragchips error inside it, or what went wrong."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or e in seen:
            continue
        seen.append(e)
        if isinstance(e, RagchipsError):
            return type(e)(*e.args)
        todo.extend([e.__cause__, e.__context__, getattr(e, "cause", None)])
    text = " ".join(str(e) for e in seen)
    if "No module named 'ragchips" in text:
        return RagchipsError(
            "a Ray worker cannot import ragchips: install 'ragchips[ray]' on every node"
        )
    last = str(exc).strip().splitlines()
    return RagchipsError(f"the Ray job failed: {type(exc).__name__}: {last[-1] if last else ''}")
