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

import threading

import numpy as np

__all__ = ["accumulator", "discard", "distinct", "lookup", "number"]

_local = threading.local()


def accumulator(n: int, which: int = 0) -> np.ndarray:
    """Float32 array number ``which`` of at least ``n`` zeros; the caller must zero what it
    wrote."""
    accs: dict[int, np.ndarray] | None = getattr(_local, "accs", None)
    if accs is None:
        accs = _local.accs = {}
    acc = accs.get(which)
    if acc is None or len(acc) < n:
        acc = accs[which] = np.zeros(max(n, 1), dtype=np.float32)
    return acc


def discard() -> None:
    """Forget this thread's accumulators (after an error left entries that are not zero)."""
    _local.accs = None


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
