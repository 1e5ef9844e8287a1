"""A persistent cache of passage vectors, keyed by (model identity, exact passage text).

Why: re-indexing a changed collection, trying another chunk size or retrying a failed
cluster job meets the same passages again, and embedding is where indexing spends its
time. A vector is stored under sha256(model identity, text), so the same text through the
same weights *and engine* is embedded once; any other model or engine misses.

One SQLite file (``embeddings.sqlite`` in the ragchips cache folder, WAL journal): safe
with several processes reading and writing at once. Bounded: past
``RAGCHIPS_EMBED_CACHE_MB`` (default 2048) the least recently used vectors are dropped.
``RAGCHIPS_EMBED_CACHE=off`` turns it off; deleting the file clears it. A cache that
cannot be used (corrupt, truncated, read-only) costs a warning, once, never the build.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .embedding import checked_vectors, embed_with

__all__ = ["EmbeddingCache", "cache_identity", "default_cache", "embed_cached"]

FILENAME = "embeddings.sqlite"
DEFAULT_MAX_MB = 2048
_ROW_OVERHEAD = 64  # key, counters and SQLite's own bookkeeping, per vector (bytes)
_CHUNK = 500  # keys per query (SQLite limits the number of parameters)
_LOCKED_TRIES = 8  # an action is tried again for about 6 s when the file is locked


class CacheWarning(UserWarning):
    """The embedding cache could not be used; indexing goes on without it."""


class EmbeddingCache:
    """Vectors by (model, text) in one SQLite file; every failure turns the cache off."""

    def __init__(self, path: Path, max_bytes: int = DEFAULT_MAX_MB << 20) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self._db: sqlite3.Connection | None = None
        self._broken = False
        self._lock = threading.Lock()

    # -- plumbing ------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection | None:
        if self._broken:
            return None
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=60, check_same_thread=False)
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                db.execute(
                    "CREATE TABLE IF NOT EXISTS vectors ("
                    "key BLOB PRIMARY KEY, dim INTEGER NOT NULL, vec BLOB NOT NULL, "
                    "used REAL NOT NULL) WITHOUT ROWID"
                )
                db.execute("CREATE INDEX IF NOT EXISTS vectors_used ON vectors(used)")
                db.commit()
            except BaseException:
                db.close()
                raise
            self._db = db
        return self._db

    def _guard(self, what: str, action: Callable[[sqlite3.Connection], Any], default: Any) -> Any:
        with self._lock:
            try:
                return self._with_retries(action, default)
            except (sqlite3.Error, OSError) as exc:
                self._broken = True
                self.close_quietly()
                warnings.warn(
                    f"embedding cache {self.path} cannot be {what} ({exc}); indexing goes on "
                    "without it (delete the file to start a new one, or set "
                    "RAGCHIPS_EMBED_CACHE=off)",
                    CacheWarning,
                    stacklevel=4,
                )
                return default

    def _with_retries(self, action: Callable[[sqlite3.Connection], Any], default: Any) -> Any:
        """The action, tried again when SQLite answers "database is locked" at once instead
        of waiting its timeout (as it does while another process switches a new file to
        WAL or recovers it): seen once in CI with two indexing processes sharing the file."""
        for attempt in range(_LOCKED_TRIES):
            try:
                db = self._connect()
                return default if db is None else action(db)
            except sqlite3.OperationalError as exc:
                locked = "locked" in str(exc) or "busy" in str(exc)
                if not locked or attempt == _LOCKED_TRIES - 1:
                    raise
                if self._db is not None:
                    with contextlib.suppress(sqlite3.Error):
                        self._db.rollback()
                time.sleep(0.05 * 2**attempt)
        return default

    def close_quietly(self) -> None:
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None

    def close(self) -> None:
        with self._lock:
            self.close_quietly()

    # -- the cache -----------------------------------------------------------------------

    @staticmethod
    def keys(model: str, texts: Sequence[str]) -> list[bytes]:
        prefix = hashlib.sha256(model.encode("utf-8")).digest()
        return [hashlib.sha256(prefix + t.encode("utf-8", "surrogatepass")).digest() for t in texts]

    def get(self, model: str, texts: Sequence[str], dim: int) -> dict[int, np.ndarray]:
        """The cached vectors of ``texts``, by position (a vector of another size is a miss)."""
        keys = self.keys(model, texts)
        where: dict[bytes, list[int]] = {}
        for i, k in enumerate(keys):
            where.setdefault(k, []).append(i)

        def action(db: sqlite3.Connection) -> dict[int, np.ndarray]:
            found: dict[int, np.ndarray] = {}
            unique = list(where)
            now = time.time()
            for start in range(0, len(unique), _CHUNK):
                part = unique[start : start + _CHUNK]
                marks = ",".join("?" * len(part))
                rows = db.execute(
                    f"SELECT key, dim, vec FROM vectors WHERE key IN ({marks})", part
                ).fetchall()
                hit = []
                for key, d, blob in rows:
                    if d != dim or len(blob) != 4 * dim:
                        continue
                    vec = np.frombuffer(blob, dtype="<f4")
                    if not np.all(np.isfinite(vec)):
                        continue
                    hit.append(key)
                    for i in where[bytes(key)]:
                        found[i] = vec
                if hit:
                    marks = ",".join("?" * len(hit))
                    db.execute(f"UPDATE vectors SET used = ? WHERE key IN ({marks})", [now, *hit])
            db.commit()
            return found

        result: dict[int, np.ndarray] = self._guard("read", action, {})
        return result

    def put(self, model: str, texts: Sequence[str], vectors: np.ndarray) -> None:
        """Store vectors (float32, little-endian), then drop the oldest past the bound."""
        keys = self.keys(model, texts)
        vectors = np.ascontiguousarray(vectors, dtype="<f4")
        now = time.time()
        dim = int(vectors.shape[1]) if vectors.ndim == 2 else 0

        def action(db: sqlite3.Connection) -> None:
            db.executemany(
                "INSERT OR REPLACE INTO vectors (key, dim, vec, used) VALUES (?, ?, ?, ?)",
                [(k, dim, v.tobytes(), now) for k, v in zip(keys, vectors)],
            )
            db.commit()
            count = db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]
            limit = self.max_bytes // (4 * max(dim, 1) + _ROW_OVERHEAD)
            if count > limit:
                # Down to 90% of the bound, so that eviction is not paid on every write.
                drop = count - int(limit * 0.9)
                db.execute(
                    "DELETE FROM vectors WHERE key IN "
                    "(SELECT key FROM vectors ORDER BY used LIMIT ?)",
                    (drop,),
                )
                db.commit()

        self._guard("written", action, None)

    def __len__(self) -> int:
        def count(db: sqlite3.Connection) -> int:
            return int(db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0])

        n: int = self._guard("read", count, 0)
        return n


_DEFAULT: dict[str, EmbeddingCache] = {}
_DEFAULT_LOCK = threading.Lock()


def default_cache() -> EmbeddingCache | None:
    """The process's cache in the ragchips cache folder; None when turned off."""
    if os.environ.get("RAGCHIPS_EMBED_CACHE", "").lower() in ("0", "off", "no", "false"):
        return None
    from .e5_rebuild import default_cache_dir

    path = default_cache_dir() / FILENAME
    mb = os.environ.get("RAGCHIPS_EMBED_CACHE_MB", "")
    max_bytes = (int(mb) if mb.isdigit() else DEFAULT_MAX_MB) << 20
    with _DEFAULT_LOCK:
        cache = _DEFAULT.get(str(path))
        if cache is None or cache.max_bytes != max_bytes:
            cache = _DEFAULT[str(path)] = EmbeddingCache(path, max_bytes)
        return cache


def cache_identity(embedder: Any) -> str | None:
    """What identifies an embedder's passage vectors, or None when nothing does.

    An embedder may say it (``cache_identity()``: the default e5 adds its engine); else
    its recorded identity with a weights hash. Without a weights hash (a hub model, a
    test stand-in) nothing is cached: other weights under the same name would be served.
    """
    own = getattr(embedder, "cache_identity", None)
    if callable(own):
        value = own()
        return None if value is None else str(value)
    weights = embedder.weights_sha256()
    if weights is None:
        return None
    ident = embedder.identity()
    return "|".join(f"{k}={ident[k]}" for k in sorted(ident)) + f"|weights={weights}"


def embed_cached(
    embedder: Any,
    texts: Sequence[str],
    progress: Callable[[int], None] | None = None,
    cache: EmbeddingCache | None = None,
) -> tuple[np.ndarray, int]:
    """Embed passages, reading and filling the cache; return (vectors, texts embedded).

    ``cache`` defaults to :func:`default_cache`. Cached vectors count towards
    ``progress`` at once. Whatever goes wrong with the cache, the vectors are right.
    """
    cache = cache if cache is not None else default_cache()
    model = cache_identity(embedder) if cache is not None else None
    if cache is None or model is None:
        return embed_with(embedder, "embed_passages", texts, progress), len(texts)
    dim = int(embedder.dim)
    known = cache.get(model, texts, dim)
    if progress is not None and known:
        progress(len(known))
    missing = [i for i in range(len(texts)) if i not in known]
    out = np.zeros((len(texts), dim), dtype=np.float32)
    for i, v in known.items():
        out[i] = v
    if not missing:
        return checked_vectors(embedder, out, len(texts)), 0  # a cache written before checks
    # A text repeated in the batch (a boilerplate paragraph) is embedded once.
    unique = list(dict.fromkeys(texts[i] for i in missing))
    fresh = embed_with(embedder, "embed_passages", unique, progress)  # checked before kept
    row = {t: j for j, t in enumerate(unique)}
    out[missing] = fresh[[row[texts[i]] for i in missing]]
    if progress is not None and len(missing) > len(unique):
        progress(len(missing) - len(unique))
    cache.put(model, unique, fresh)
    return checked_vectors(embedder, out, len(texts)), len(unique)
