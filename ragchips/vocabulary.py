"""Term -> column of one BM25 field of one segment, looked up in memory-mapped arrays.

Why not a dict read from JSON: at 10^6 passages a field holds ~500,000 terms, and its dict
took ~80 MB of the process and a JSON parse on every load. Here the terms are hashed
(blake2b, 64 bits, the same on every machine) into a sorted array that a question's few
terms are searched in; the term's own bytes are compared before a column is trusted, so a
hash collision can never hand a question another term's postings.

Files (next to the field's postings): ``terms.bin`` (the terms in UTF-8, in column order),
``terms.offsets.npy`` (int64, where each term starts, plus the end), ``terms.hash.npy``
(uint64, sorted) and ``terms.col.npy`` (int64, the column of each hash).
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Vocabulary"]

FILES = ("terms.bin", "terms.offsets.npy", "terms.hash.npy", "terms.col.npy")


def _hash(term: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(term, digest_size=8).digest(), "little")


def _view(arr: np.ndarray, dtype: type, code: str) -> memoryview:
    raw: Any = memoryview(np.ascontiguousarray(arr, dtype=dtype).data).cast("B")
    view: memoryview = raw.cast(code)
    return view


class Vocabulary:
    """The terms of one field in column order; ``get(term)`` is its column or None."""

    def __init__(self, blob: np.ndarray, offsets: np.ndarray, hashes: np.ndarray, cols: np.ndarray):
        self._blob = blob
        self._offsets = offsets
        self._hashes = hashes
        self._cols = cols
        if len(offsets) != len(hashes) + 1 or len(cols) != len(hashes):
            raise ValueError("vocabulary arrays disagree")
        if len(offsets) and int(offsets[-1]) != len(blob):
            raise ValueError("vocabulary arrays disagree")
        # Plain memoryviews: bisect and item access on them stay in C (a numpy call per
        # step cost ~7 us a lookup, and a question looks up ~50 terms).
        self._h = _view(hashes, np.uint64, "Q")
        self._c = _view(cols, np.int64, "q")
        self._o = _view(offsets, np.int64, "q")
        self._b = _view(blob, np.uint8, "B")

    @classmethod
    def from_terms(cls, terms: Iterable[str]) -> Vocabulary:
        """From the terms in column order."""
        encoded = [t.encode("utf-8") for t in terms]
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(e) for e in encoded], out=offsets[1:])
        hashes = np.fromiter((_hash(e) for e in encoded), dtype=np.uint64, count=len(encoded))
        order = np.argsort(hashes, kind="stable")
        blob = np.frombuffer(b"".join(encoded), dtype=np.uint8)
        return cls(blob, offsets, hashes[order], order.astype(np.int64))

    def __len__(self) -> int:
        return len(self._hashes)

    def term(self, col: int) -> str:
        a, b = int(self._offsets[col]), int(self._offsets[col + 1])
        return self._blob[a:b].tobytes().decode("utf-8")

    def __iter__(self) -> Iterator[str]:
        """The terms in column order."""
        blob = self._blob.tobytes()
        bounds = self._offsets.tolist()
        for a, b in itertools.pairwise(bounds):
            yield blob[a:b].decode("utf-8")

    def get(self, term: str) -> int | None:
        data = term.encode("utf-8")
        h = _hash(data)
        hashes, cols, offsets = self._h, self._c, self._o
        i = bisect.bisect_left(hashes, h)
        # Equal hashes sit side by side; the term's own bytes decide.
        while i < len(hashes) and hashes[i] == h:
            col = cols[i]
            if self._b[offsets[col] : offsets[col + 1]] == data:
                return col
            i += 1
        return None

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "terms.bin").write_bytes(self._blob.tobytes())
        for name, arr in (("offsets", self._offsets), ("hash", self._hashes), ("col", self._cols)):
            np.save(folder / f"terms.{name}.npy", arr, allow_pickle=False)

    @classmethod
    def load(cls, folder: Path) -> Vocabulary:
        """Memory-mapped; a folder from before these files (``vocab.json``) still loads."""
        if not (folder / "terms.bin").exists():
            vocab = json.loads((folder / "vocab.json").read_text("utf-8"))
            if not isinstance(vocab, dict) or sorted(vocab.values()) != list(range(len(vocab))):
                raise ValueError(f"{folder}: vocabulary is malformed")
            return cls.from_terms(sorted(vocab, key=vocab.__getitem__))

        def load(name: str) -> np.ndarray:
            return np.asarray(np.load(folder / name, mmap_mode="r", allow_pickle=False))

        size = (folder / "terms.bin").stat().st_size
        blob = (
            np.asarray(np.memmap(folder / "terms.bin", dtype=np.uint8, mode="r"))
            if size
            else np.zeros(0, np.uint8)
        )
        try:
            return cls(
                blob, load("terms.offsets.npy"), load("terms.hash.npy"), load("terms.col.npy")
            )
        except ValueError as exc:
            raise ValueError(f"{folder}: {exc}") from None
