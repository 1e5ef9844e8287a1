"""Segments: the immutable, memory-mapped parts an index is made of.

Why segments: a collection that changes every day must not be rebuilt for each change. New
documents go into a new small segment; deleted ones are marked in the generation's state
(never edited in place); small segments are merged now and then. A segment folder is
written once, under a temporary name, and renamed into place before any manifest names it.

Files of ``seg-NNNNNN/``: ``meta.json``; ``docs.jsonl`` (one document a line, with its
text) and ``docs.offsets.npy`` (byte offsets) so one document is read without the others;
``docs.chars.npy`` (text lengths, for span checks); ``docs.ids.json`` and ``docs.files.json``
(each document's id, file and content hash); ``docs.keys.npy``/``docs.order.npy``
(doc_id hashes, sorted, to find a document without a dictionary of all ids);
``rows.npy`` (document, start, end per passage); ``ids.npy`` (stable passage ids);
``vectors.npy``, ``vsum.npy``, ``vgram.npy`` and maybe ``ann.faiss`` (see
:mod:`ragchips.dense`); ``stems/`` and ``forms/`` (see :mod:`ragchips.lexical`);
``fields/`` (see :mod:`ragchips.filters`). JSON, ``.npy`` without pickle and FAISS's own
format only: opening a segment never runs code.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .dense import DenseConfig, SegmentDense, build_ann, moments, stored_vectors
from .errors import CorruptIndexError
from .filters import FieldColumn, build_columns
from .lexical import FIELDS, FieldPostings, build_postings

__all__ = ["Segment", "doc_key", "write_segment"]

SEGMENT_FORMAT = 2


def doc_key(doc_id: str) -> np.uint64:
    """A 64-bit hash of a doc_id (collisions are checked against the stored id)."""
    digest = hashlib.blake2b(doc_id.encode("utf-8"), digest_size=8).digest()
    return np.uint64(int.from_bytes(digest, "little"))


def _digest(data: bytes) -> np.uint64:
    return np.uint64(int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little"))


def write_segment(
    folder: Path,
    docs: Sequence[dict[str, Any]],
    rows: np.ndarray,
    ids: np.ndarray,
    vectors: np.ndarray,
    dense: DenseConfig,
    postings: dict[str, FieldPostings] | None = None,
    lexical_texts: Sequence[str] | None = None,
    base_moments: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, Any]:
    """Write one segment into ``folder`` (which must not exist); return its meta."""
    folder.mkdir(parents=True)
    offsets = [0]
    digests = []
    with open(folder / "docs.jsonl", "wb") as f:
        for d in docs:
            line = (json.dumps(d, ensure_ascii=False) + "\n").encode("utf-8")
            f.write(line)
            offsets.append(offsets[-1] + len(line))
            digests.append(_digest(line))
    np.save(folder / "docs.offsets.npy", np.asarray(offsets, dtype=np.int64), allow_pickle=False)
    np.save(folder / "docs.digest.npy", np.asarray(digests, dtype=np.uint64), allow_pickle=False)
    chars = np.asarray([len(d["text"]) for d in docs], dtype=np.int64)
    np.save(folder / "docs.chars.npy", chars, allow_pickle=False)
    keys = np.asarray([doc_key(d["doc_id"]) for d in docs], dtype=np.uint64)
    order = np.argsort(keys, kind="stable")
    np.save(folder / "docs.keys.npy", keys[order], allow_pickle=False)
    np.save(folder / "docs.order.npy", order.astype(np.int64), allow_pickle=False)
    (folder / "docs.ids.json").write_text(
        json.dumps([d["doc_id"] for d in docs], ensure_ascii=False), "utf-8"
    )
    # What an update compares with the files on disk: each document's file and hash, so a
    # one-file update does not read every stored text (8 of 13 s at 300,000 documents).
    (folder / "docs.files.json").write_text(
        json.dumps([[d.get("path"), d["sha256"]] for d in docs], ensure_ascii=False), "utf-8"
    )
    rows = np.ascontiguousarray(rows, dtype=np.int64).reshape(-1, 3)
    np.save(folder / "rows.npy", rows, allow_pickle=False)
    np.save(folder / "ids.npy", np.asarray(ids, dtype=np.int64), allow_pickle=False)
    vectors = stored_vectors(vectors)
    kind = dense.ann_kind(len(rows))
    # Half the bytes where a segment is large enough to be searched approximately; the
    # values are the same either way (stored_vectors), only a scan is faster in float32.
    np.save(
        folder / "vectors.npy", vectors.astype(np.float16) if kind else vectors, allow_pickle=False
    )
    vsum, vgram = base_moments if base_moments is not None else moments(vectors)
    np.save(folder / "vsum.npy", vsum, allow_pickle=False)
    np.save(folder / "vgram.npy", vgram, allow_pickle=False)
    if postings is None:
        texts = list(lexical_texts or [])
        postings = {name: build_postings(texts, FIELDS[name][0]) for name in FIELDS}
    for name, p in postings.items():
        p.save(folder / name)
    fields = {}
    for i, (name, column) in enumerate(build_columns(list(docs)).items()):
        fields[name] = f"f{i:03d}"
        column.save(folder / "fields" / fields[name])
    ann = build_ann(vectors, kind, dense, folder / "ann.faiss") if kind else None
    meta = {
        "format": SEGMENT_FORMAT,
        "docs": len(docs),
        "rows": len(rows),
        "dim": int(vectors.shape[1]),
        "fields": fields,
        "ann": ann,
    }
    (folder / "meta.json").write_text(json.dumps(meta, ensure_ascii=False), "utf-8")
    return meta


class Segment:
    """An opened segment: arrays memory-mapped, documents read one at a time."""

    def __init__(self, folder: Path, dense: DenseConfig) -> None:
        self.folder = folder
        self.name = folder.name
        meta = json.loads((folder / "meta.json").read_text("utf-8"))
        if not isinstance(meta, dict) or meta.get("format") != SEGMENT_FORMAT:
            raise ValueError(f"{folder}: not a segment of this format")
        self.meta = meta

        def load(name: str) -> np.ndarray:
            # A plain view of the map (np.memmap's slicing costs ~10 us a slice).
            return np.asarray(np.load(folder / name, mmap_mode="r", allow_pickle=False))

        self.rows = load("rows.npy")
        self.ids = load("ids.npy")
        self.offsets = load("docs.offsets.npy")
        self.digests = load("docs.digest.npy")
        self.chars = load("docs.chars.npy")
        self.keys = load("docs.keys.npy")
        self.order = load("docs.order.npy")
        self.vsum = np.load(folder / "vsum.npy", allow_pickle=False)
        self.vgram = load("vgram.npy")
        vectors = load("vectors.npy")
        self.n_rows = int(meta["rows"])
        self.n_docs = int(meta["docs"])
        if self.rows.shape != (self.n_rows, 3) or len(self.ids) != self.n_rows:
            raise ValueError(f"{folder}: passage arrays disagree with meta.json")
        for name in ("rows", "ids", "offsets", "order"):  # dtypes only: O(1)
            if not np.issubdtype(getattr(self, name).dtype, np.integer):
                raise ValueError(f"{folder}: {name} are not integers")
        if vectors.dtype not in (np.float16, np.float32) or vectors.ndim != 2:
            raise ValueError(f"{folder}/vectors.npy: not a float16 or float32 matrix")
        if vectors.shape[0] != self.n_rows or len(self.offsets) != self.n_docs + 1:
            raise ValueError(f"{folder}: vector or document counts disagree with meta.json")
        ann = folder / "ann.faiss" if meta.get("ann") else None
        self.dense = SegmentDense(vectors, ann, dense, folder / "vectors.npy")
        self.postings = {name: FieldPostings.load(folder / name) for name in FIELDS}
        for name, p in self.postings.items():
            if len(p) != self.n_rows:
                raise ValueError(f"{folder}/{name}: {len(p)} rows, not {self.n_rows}")
        self._columns: dict[str, FieldColumn] = {}
        # Kept open: a reader still answers from this segment after a writer replaced it.
        self._fd = os.open(folder / "docs.jsonl", os.O_RDONLY)
        self.docs_bytes = os.fstat(self._fd).st_size
        # A shared lease: the writer removes a replaced segment only once no reader holds it.
        self._lease: int | None = os.open(folder / "meta.json", os.O_RDONLY)
        fcntl.flock(self._lease, fcntl.LOCK_SH)
        self._cache: OrderedDict[int, dict[str, Any]] = OrderedDict()

    def close(self) -> None:
        """Release the segment (its lease and files); it can no longer be read."""
        dense = getattr(self, "dense", None)
        if dense is not None:
            dense.close()
        for name in ("_lease", "_fd"):
            fd = getattr(self, name, None)
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
                setattr(self, name, None)

    def __del__(self) -> None:
        self.close()

    @property
    def fields(self) -> list[str]:
        return list(self.meta.get("fields", {}))

    def column(self, name: str) -> FieldColumn | None:
        sub = self.meta.get("fields", {}).get(name)
        if sub is None:
            return None
        if name not in self._columns:
            if not re.fullmatch(r"f\d{3,}", str(sub)):  # never a path out of the segment
                raise CorruptIndexError(f"{self.folder}/meta.json: bad folder {sub!r} of {name!r}")
            self._columns[name] = FieldColumn.load(self.folder / "fields" / sub)
        return self._columns[name]

    def doc(self, i: int) -> dict[str, Any]:
        """Document ``i`` of this segment as stored (a small cache keeps recent ones)."""
        hit = self._cache.get(i)
        if hit is not None:
            self._cache.move_to_end(i)
            return hit
        if not 0 <= i < self.n_docs:
            raise CorruptIndexError(f"{self.folder}: document {i} is not in this segment")
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])
        if not 0 <= a <= b <= self.docs_bytes:  # a damaged offset must not read 2**60 bytes
            raise CorruptIndexError(
                f"{self.folder / 'docs.jsonl'}: bad offsets of document {i}; "
                "run 'ragchips verify' and rebuild the index"
            )
        raw = os.pread(self._fd, b - a, a)
        if _digest(raw) != self.digests[i]:
            # Loading checks sizes only; every document read is checked against its digest.
            raise CorruptIndexError(
                f"{self.folder / 'docs.jsonl'}: document {i} was modified after indexing; "
                "run 'ragchips verify' and rebuild the index"
            )
        record = json.loads(raw.decode("utf-8"))
        self._cache[i] = record
        if len(self._cache) > 256:
            self._cache.popitem(last=False)
        return record

    def find(self, doc_id: str) -> int | None:
        """The local number of ``doc_id``, or None."""
        key = doc_key(doc_id)
        lo = int(np.searchsorted(self.keys, key, side="left"))
        hi = int(np.searchsorted(self.keys, key, side="right"))
        for j in range(lo, hi):
            i = int(self.order[j])
            if self.doc(i)["doc_id"] == doc_id:
                return i
        return None

    def doc_ids(self) -> list[str]:
        ids = json.loads((self.folder / "docs.ids.json").read_text("utf-8"))
        return [str(x) for x in ids]

    def doc_files(self) -> list[tuple[str | None, str]] | None:
        """Each document's stored path (relative to the index; None: no file) and content
        hash, in document order; None for a segment written before this file existed."""
        path = self.folder / "docs.files.json"
        if not path.is_file():
            return None
        try:
            files = json.loads(path.read_text("utf-8"))
        except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise CorruptIndexError(f"{path}: unreadable ({exc})") from exc
        if (
            not isinstance(files, list)
            or len(files) != self.n_docs
            or not all(
                isinstance(f, list)
                and len(f) == 2
                and isinstance(f[0], str | None)
                and isinstance(f[1], str)
                for f in files
            )
        ):
            raise CorruptIndexError(f"{path}: not one [path, sha256] per document")
        return [(f[0], f[1]) for f in files]
