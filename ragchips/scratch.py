"""Per-thread work arrays for scoring, so a question costs what it touches, not the collection.

Why: at 10^6 passages, allocating a zeroed score array per field and scanning it for non-zero
entries cost ~3 ms a field (page faults on fresh memory, then a full pass), more than the
BM25 arithmetic itself. Instead each thread keeps:

- an accumulator that is all zeros between uses (the touched entries are reset after
  reading), and
- a stamp array used as a sparse set (Briggs & Torczon, 1993): its stale contents never
  matter, because a value is trusted only when it points back to the entry that wrote it.

Both grow to the largest size asked for and are never shared between threads.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import numpy as np

__all__ = ["accumulator", "borrowed", "distinct", "lookup", "number", "take"]

_local = threading.local()


def accumulator(n: int, name: str = "") -> np.ndarray:
    """This thread's float32 array ``name``, of at least ``n`` zeros; read what was written
    back with :func:`take`, which zeroes it again."""
    accs: dict[str, np.ndarray] | None = getattr(_local, "accs", None)
    if accs is None:
        accs = _local.accs = {}
    acc = accs.get(name)
    if acc is None or len(acc) < n:
        acc = accs[name] = np.zeros(max(n, 1), dtype=np.float32)
    return acc


def take(acc: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The values of ``rows`` (a copy), those entries of the accumulator set to zero again."""
    values = acc[rows]
    acc[rows] = 0.0
    return values


@contextlib.contextmanager
def borrowed() -> Iterator[None]:
    """Around the use of accumulators: an error midway leaves entries that are not zero, so
    this thread's accumulators are then forgotten (new zeroed ones on the next use)."""
    try:
        yield
    except BaseException:
        _local.accs = None
        raise


def _stamp(n: int) -> np.ndarray:
    stamp: np.ndarray | None = getattr(_local, "stamp", None)
    if stamp is None or len(stamp) < n:
        # int32 while it can hold every position (half the memory traffic of int64).
        stamp = np.zeros(max(n, 1), dtype=np.int32 if n < 2**31 else np.int64)
        _local.stamp = stamp
    return stamp


def distinct(values: np.ndarray, bound: int) -> np.ndarray:
    """The distinct entries of ``values`` (integers in [0, bound)), without sorting: for each
    value, its last occurrence's position wins the stamp, so exactly one copy is kept."""
    if len(values) < 2:
        return values
    stamp = _stamp(bound)
    pos = np.arange(len(values), dtype=stamp.dtype)
    stamp[values] = pos
    return values[stamp[values] == pos]


def number(keys: np.ndarray, bound: int) -> None:
    """Remember ``keys`` (distinct integers in [0, bound)) as slots 0..len-1 for :func:`lookup`."""
    stamp = _stamp(bound)
    stamp[keys] = np.arange(len(keys), dtype=stamp.dtype)


def lookup(keys: np.ndarray, values: np.ndarray, bound: int) -> np.ndarray:
    """Slot of each of ``values`` among the ``keys`` last given to :func:`number`, or -1."""
    slot = _stamp(bound)[values]
    ok = slot < len(keys)
    ok[ok] = keys[slot[ok]] == values[ok]
    return np.where(ok, slot, -1)
