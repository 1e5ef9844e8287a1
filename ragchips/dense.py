"""Dense search per segment: exact while a segment is small, approximate (FAISS) beyond.

Every segment keeps its vectors in ``vectors.npy``, rounded to float16 values
(:func:`stored_vectors`): they are the truth. A small segment stores them as float32 and is
scanned. A large one stores float16 and carries an approximate FAISS index: IVF with
float16 lists of the vectors themselves (no residuals), whose scores are the exact cosines
of the stored values, so fused scores never depend on the approximation, only the
candidate list does; or HNSW, whose candidates' cosines are read back from the vectors.
Deleted passages are masked at search time (FAISS ``IDSelectorBitmap``), so nothing is ever
removed from a FAISS index in place and ids never shift.

The collection-wide mean and deviation of the cosines, which hybrid fusion needs, come from
each segment's first and second moments (sum of vectors, sum of outer products): for a
question q, mean = q.S/N and E[cos^2] = q^T G q / N, exact without scoring every passage.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import RagchipsError

__all__ = [
    "DENSE_KINDS",
    "DenseConfig",
    "SegmentDense",
    "as_float32",
    "build_ann",
    "moments",
    "process_threads",
    "query_threads",
    "side_thread",
    "stored_vectors",
]

DENSE_KINDS = ("auto", "flat", "ivf", "hnsw")
SCAN_ROWS = 8192


@dataclass(frozen=True)
class DenseConfig:
    """How segments search their vectors; recorded in the manifest.

    ``auto``: exact while a segment holds fewer than ``auto_rows`` passages, IVF beyond.
    ``ivf``/``hnsw``: approximate for segments of at least ``min_rows`` passages.
    """

    kind: str = "auto"
    auto_rows: int = 50_000
    min_rows: int = 20_000
    nlist: int = 0  # 0: about 4 * sqrt(rows), a power of two
    # IVF lists searched; 0: as many as hold about SCAN_ROWS vectors (see probes()).
    nprobe: int = 0
    hnsw_m: int = 32
    ef_search: int = 128

    def __post_init__(self) -> None:
        if self.kind not in DENSE_KINDS:
            raise RagchipsError(
                f"unknown dense index {self.kind!r}: use one of {', '.join(DENSE_KINDS)}"
            )
        for name in ("auto_rows", "min_rows", "nlist", "nprobe", "hnsw_m", "ef_search"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise RagchipsError(f"dense setting {name} must be a whole number >= 0")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> DenseConfig:
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise ValueError("dense settings are malformed")
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def probes(self, nlist: int, ntotal: int) -> int:
        """IVF lists to search: the recall of the rescored candidate list follows how many
        vectors are scanned, not the share of lists (measured on PIAF questions over
        synthetic e5 collections: ~8,000 scanned keep recall@10 at 0.99 of exact search,
        at 95,848 passages in 1,024 lists as at 958,242 in 4,096)."""
        if self.nprobe:
            return self.nprobe
        per_list = max(ntotal / max(nlist, 1), 1.0)
        return int(min(nlist, max(8, math.ceil(SCAN_ROWS / per_list))))

    def ann_kind(self, rows: int) -> str | None:
        """The approximate index a segment of ``rows`` passages gets, if any."""
        if self.kind == "auto":
            return "ivf" if rows >= self.auto_rows else None
        if self.kind == "flat" or rows < max(self.min_rows, 1):
            return None
        return self.kind


_BLAS: list[Any] | None = None
_BLAS_MODULES = 0


@contextlib.contextmanager
def query_threads() -> Iterator[None]:
    """A context in which BLAS uses ``$RAGCHIPS_QUERY_THREADS`` threads (default 1).

    Why: a question's products are small; OpenBLAS threads that spin on a busy machine
    turned a 0.04 ms product over 1,902 vectors into 12 ms (measured here at load 3). The
    limit holds only while a question is scored, so bulk work keeps every core. The BLAS
    libraries are found once (threadpoolctl) and set directly: threadpoolctl's own
    ``limit()`` inspects every library on each entry and exit, 0.1 ms a question."""
    global _BLAS, _BLAS_MODULES
    if _BLAS is None or len(sys.modules) != _BLAS_MODULES:
        # Looked for again whenever modules were imported since: one may have brought
        # another BLAS (torch's, FAISS's).
        try:
            from threadpoolctl import ThreadpoolController

            _BLAS = list(ThreadpoolController().select(user_api="blas").lib_controllers)
        except ImportError:  # pragma: no cover - threadpoolctl is a dependency
            _BLAS = []
        _BLAS_MODULES = len(sys.modules)
    text = os.environ.get("RAGCHIPS_QUERY_THREADS", "1")
    limit = int(text) if text.isdigit() and int(text) > 0 else 1
    changed = []
    for lib in _BLAS:
        before = lib.get_num_threads()
        if before != limit:
            lib.set_num_threads(limit)
            changed.append((lib, before))
    try:
        yield
    finally:
        for lib, before in changed:
            lib.set_num_threads(before)


_POOLS: dict[str, tuple[int, ThreadPoolExecutor]] = {}
_POOLS_LOCK = threading.Lock()


def process_threads(name: str, workers: int) -> ThreadPoolExecutor | None:
    """This process's pool of ``workers`` threads called ``name``; None on one core.

    One pool per process id: a forked child (a server worker, a Ray task) gets its own,
    since threads do not survive ``fork``."""
    if _cores() < 2:
        return None
    pid = os.getpid()
    with _POOLS_LOCK:
        held = _POOLS.get(name)
        if held is None or held[0] != pid:
            held = _POOLS[name] = (pid, ThreadPoolExecutor(workers, thread_name_prefix=name))
        return held[1]


def side_thread() -> ThreadPoolExecutor | None:
    """This process's worker threads for a question's dense search, when asked for
    (``RAGCHIPS_QUERY_PARALLEL=1``) and there are two cores; else None.

    Why: at 10^6 passages the dense search (0.5-0.9 ms, FAISS releasing the GIL) can run
    while BM25 scores in the caller's thread. Why not by default: on this project's shared
    2-core machine it saved time only when the second core was idle (search p50 at 10^6
    3.6 to 5.9 ms over six runs; in one thread 4.6 to 5.5 ms over the four that measured
    both) and cost 0.5-1 ms of CPU a question in hand-overs of the GIL."""
    if os.environ.get("RAGCHIPS_QUERY_PARALLEL", "0") != "1":
        return None
    return process_threads("ragchips-dense", _cores())


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def stored_vectors(vectors: np.ndarray) -> np.ndarray:
    """The vectors as every segment keeps them: float32 holding float16 values.

    Why: a segment searched approximately stores float16 (at 10^6 passages 0.7 GB instead
    of 1.5 GB, so the rows a search rescores fit in memory beside everything else); a small
    one stores float32 for a fast scan. Rounding once, before either, keeps every cosine
    identical whatever segment a passage lands in, so an updated index still ranks exactly
    like a fresh build. The cost is ~1e-5 on a cosine (float16 keeps 11 bits)."""
    v = np.ascontiguousarray(vectors, dtype=np.float32)
    if np.isfinite(v).all() and np.abs(v).max(initial=0.0) < 65504:
        return v.astype(np.float16).astype(np.float32)
    raise ValueError("vectors must be finite and below 65504 in magnitude (float16)")


def as_float32(vectors: np.ndarray, block: int = 65536) -> np.ndarray:
    """Stored vectors in float32 (a float16 segment converted in blocks)."""
    if vectors.dtype == np.float32:
        return np.asarray(vectors)
    out = np.empty(vectors.shape, dtype=np.float32)
    for a in range(0, len(vectors), block):
        out[a : a + block] = vectors[a : a + block]
    return out


def moments(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sum of the vectors and sum of their outer products (float64), in blocks."""
    d = vectors.shape[1]
    s = np.zeros(d)
    g = np.zeros((d, d))
    for a in range(0, len(vectors), 65536):
        block = np.asarray(vectors[a : a + 65536], dtype=np.float64)
        s += block.sum(axis=0)
        g += block.T @ block
    return s, g


def build_ann(vectors: np.ndarray, kind: str, config: DenseConfig, path: Path) -> dict[str, Any]:
    """Train and write the approximate index of one segment; return what the manifest keeps."""
    import faiss

    n, d = vectors.shape
    if kind == "ivf":
        nlist = config.nlist or max(16, 2 ** round(math.log2(max(4 * math.sqrt(n), 16))))
        nlist = min(nlist, max(1, n // 39))
        # float16 codes of the vectors themselves (not of residuals): stored_vectors() made
        # them float16 values, so the index's inner products are the exact cosines and its
        # candidates need no second read (a scan of float16 lists also ran faster here than
        # of 4- or 8-bit codes: 0.5 vs 0.65-0.75 ms at 10^6, 8,192 vectors scanned).
        index: Any = faiss.index_factory(d, f"IVF{nlist},SQfp16", faiss.METRIC_INNER_PRODUCT)
        index.by_residual = False
        sample = vectors
        if n > nlist * 64:
            pick = np.random.default_rng(0).choice(n, nlist * 64, replace=False)
            sample = vectors[np.sort(pick)]
        index.train(np.ascontiguousarray(sample, dtype=np.float32))
        params: dict[str, Any] = {"kind": "ivf", "nlist": int(nlist), "codes": "fp16"}
    else:
        index = faiss.index_factory(d, f"HNSW{config.hnsw_m},SQ8", faiss.METRIC_INNER_PRODUCT)
        index.train(np.ascontiguousarray(vectors[: min(n, 200_000)], dtype=np.float32))
        params = {"kind": "hnsw", "m": config.hnsw_m}
    for a in range(0, n, 65536):
        index.add(np.ascontiguousarray(vectors[a : a + 65536], dtype=np.float32))
    faiss.write_index(index, str(path))
    return params


def _read_ann(path: Path) -> Any:
    import faiss

    for flags in (faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY, faiss.IO_FLAG_MMAP, 0):
        try:
            return faiss.read_index(str(path), flags)
        except RuntimeError:
            continue
    raise ValueError(f"{path}: unreadable FAISS index")


class RowReader:
    """Rows of a ``.npy`` matrix read with ``pread`` (sorted; adjacent rows in one read).

    Why not the memory map: the rows a search reads beyond its dense candidates (lexical
    candidates' cosines) are scattered, and through a map each one brings the kernel's
    64 KiB fault-around window into the process: 100 questions at 10^6 passages had mapped
    1.3 GB of a 1.5 GB file. ~1.3 us a row here, nothing mapped."""

    def __init__(self, path: Path) -> None:
        self._fd = -1
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            shape, fortran, dtype = (
                np.lib.format.read_array_header_1_0(f)
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0(f)
            )
            self._start = f.tell()
        self.dtype = np.dtype(dtype)
        if len(shape) != 2 or fortran or self.dtype not in (np.float16, np.float32):
            raise ValueError(f"{path}: not a float16 or float32 matrix")
        self.dim = int(shape[1])
        self._row = self.dtype.itemsize * self.dim
        self._fd = os.open(path, os.O_RDONLY)

    def read(self, rows: np.ndarray) -> np.ndarray:
        """The vectors of ``rows`` (sorted ascending), in float32."""
        out = np.empty((len(rows), self.dim), dtype=self.dtype)
        if len(rows):
            view = memoryview(out.data).cast("B")
            r = np.asarray(rows, dtype=np.int64)
            starts = np.flatnonzero(np.diff(r, prepend=r[0] - 2) != 1).tolist()
            for a, b, row in zip(starts, [*starts[1:], len(r)], r[starts].tolist()):
                piece = view[a * self._row : b * self._row]
                if os.preadv(self._fd, [piece], self._start + row * self._row) != len(piece):
                    raise ValueError("vectors file is shorter than its header says")
        return out.astype(np.float32, copy=False)

    def close(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            with contextlib.suppress(OSError):
                os.close(fd)

    def __del__(self) -> None:
        self.close()


def _exact_codes(ann: Any) -> bool:
    """Whether ``ann``'s inner products are the stored vectors' exact cosines."""
    import faiss

    return (
        isinstance(ann, faiss.IndexIVFScalarQuantizer)
        and ann.sq.qtype == faiss.ScalarQuantizer.QT_fp16
        and not ann.by_residual
    )


class SegmentDense:
    """The vectors of one segment and, for a large one, its approximate index."""

    def __init__(
        self,
        vectors: np.ndarray,
        ann_path: Path | None,
        config: DenseConfig,
        vectors_path: Path | None = None,
    ) -> None:
        self.vectors = vectors
        self.config = config
        self.ann = _read_ann(ann_path) if ann_path is not None else None
        if self.ann is not None and self.ann.ntotal != len(vectors):
            raise ValueError(f"{ann_path}: holds {self.ann.ntotal} vectors, not {len(vectors)}")
        self._exact_ann = self.ann is not None and _exact_codes(self.ann)
        # A segment searched through float16 lists reads other rows with pread, never maps.
        self._reader = RowReader(vectors_path) if self._exact_ann and vectors_path else None

    def close(self) -> None:
        """Close the file the rows are read from (the map goes with the arrays)."""
        if self._reader is not None:
            self._reader.close()

    def _rows(self, rows: np.ndarray) -> np.ndarray:
        """The vectors of sorted ``rows``, in float32."""
        return np.asarray(self.vectors[rows], dtype=np.float32)

    def _scan(self, q: np.ndarray) -> np.ndarray:
        """Cosines of every row (float16 segments converted a block at a time)."""
        if self.vectors.dtype == np.float32:
            return np.asarray(self.vectors) @ q
        block = 65536
        parts = [
            as_float32(self.vectors[a : a + block]) @ q for a in range(0, len(self.vectors), block)
        ]
        return np.concatenate(parts) if parts else np.zeros(0, np.float32)

    def search(
        self, q: np.ndarray, m: int, allowed: np.ndarray | None, exact: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``m`` allowed rows by cosine (exact cosines), best first."""
        n = len(self.vectors)
        if n == 0 or m <= 0 or (allowed is not None and not allowed.any()):
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        if self.ann is None or exact:
            scores = self._scan(q)
            if allowed is not None:
                rows = np.flatnonzero(allowed)
                scores = scores[rows]
            else:
                rows = None
            m = min(m, len(scores))
            top = np.argpartition(-scores, m - 1)[:m] if m < len(scores) else np.arange(m)
            top = top[np.lexsort((top, -scores[top]))]
            found = top if rows is None else rows[top]
            return found.astype(np.int64), scores[top]
        return self._search_ann(q, m, allowed)

    def _search_ann(
        self, q: np.ndarray, m: int, allowed: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        import faiss

        n = len(self.vectors)
        sel = None
        if allowed is not None:
            bits = np.packbits(allowed, bitorder="little")
            sel = faiss.IDSelectorBitmap(n, faiss.swig_ptr(bits))
        lib: Any = faiss  # its stubs lack the search parameter classes' keywords
        assert self.ann is not None
        if isinstance(self.ann, faiss.IndexIVF) or hasattr(self.ann, "nprobe"):
            nprobe = self.config.probes(int(self.ann.nlist), int(self.ann.ntotal))
            params = lib.SearchParametersIVF(sel=sel, nprobe=nprobe)
        else:
            params = lib.SearchParametersHNSW(sel=sel, efSearch=max(self.config.ef_search, m))
        dist, ids = self.ann.search(q.reshape(1, -1).astype(np.float32), min(m, n), params=params)
        found = ids[0] >= 0
        rows = ids[0][found].astype(np.int64)
        if self._exact_ann:
            exact = dist[0][found]
        else:  # quantised scores: the candidates' cosines read again from the vectors
            rows = np.sort(rows)
            exact = self._rows(rows) @ q if len(rows) else np.zeros(0)
        order = np.lexsort((rows, -exact))
        return rows[order], exact[order].astype(np.float32)

    def cosines(self, rows: np.ndarray, q: np.ndarray) -> np.ndarray:
        """Exact cosines of some rows (a gather from the memory-mapped vectors)."""
        if not len(rows):
            return np.zeros(0, np.float32)
        order = np.argsort(rows)
        out = np.empty(len(rows), dtype=np.float32)
        sorted_rows = rows[order]
        vectors = self._reader.read(sorted_rows) if self._reader else self._rows(sorted_rows)
        out[order] = vectors @ q
        return out
