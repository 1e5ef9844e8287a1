"""Changing an index: add, update and delete documents in one atomic step.

Why one function for every change: vectors, lexical postings, stored texts and field
columns must never drift apart (the failure of stores that commit a vector index and a
docstore separately). A change writes a new segment holding the new documents, a new state
naming the deleted ones, maybe a merged segment, and then swaps the manifest: readers see
the old index or the new one, never a mix. A replaced document is deleted in the same step
that adds its new version, so a failure loses neither.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .chunking import ChunkerSettings, chunk_spans
from .cleaning import clean
from .dense import DenseConfig
from .embedding import Embedder
from .errors import NoDocumentsError, RagchipsError
from .lexical import FIELDS, merge_postings
from .reader import Document
from .segments import Segment, write_segment
from .storage import (
    FORMAT,
    FORMAT_VERSION,
    collect_garbage,
    file_table,
    fsync_dir,
    new_folder,
    remove_stale_temporaries,
    replace_manifest,
)

__all__ = [
    "ChangeReport",
    "Prepared",
    "apply_changes",
    "embed_passages_of",
    "embed_text",
    "prepare",
    "read_state",
]

# Merge segments when there are more than this many (a search visits every segment).
MAX_SEGMENTS = 8
# Rewrite a segment once this share of its passages is deleted.
MAX_DEAD_SHARE = 0.3


@dataclass
class ChangeReport:
    """What a change did, by doc_id."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    kept: int = 0
    merged_segments: int = 0
    # Kept (and counted in ``kept``) though not read: no reader here reads their format.
    unread: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"added {len(self.added)}, updated {len(self.updated)}, "
            f"removed {len(self.removed)}, kept {self.kept}"
        )


def embed_text(title: str, text: str) -> str:
    """What the embedder (and the lexical index) sees of a passage: its title gives context."""
    if title and not text.startswith(title):
        return f"{title}\n{text}"
    return text


@dataclass
class Prepared:
    """A document cut into passages, ready to embed."""

    document: Document
    spans: list[tuple[int, int]]

    @property
    def texts(self) -> list[str]:
        d = self.document
        return [embed_text(d.title, d.text[a:b]) for a, b in self.spans]


def prepare(doc: Document, chunker: ChunkerSettings) -> Prepared:
    segments = clean(doc.text, web=doc.metadata.get("format") == "html").segments
    return Prepared(doc, list(chunk_spans(doc.text, segments, chunker)))


def _record(doc: Document, directory: Path) -> dict[str, Any]:
    """A document as stored; a source that is a file is kept relative to the index folder,
    so the citation leads to the file from any working folder and the index can move with
    its documents."""
    rec: dict[str, Any] = {
        "doc_id": doc.doc_id,
        "source": doc.source,
        "title": doc.title,
        "sha256": doc.sha256,
        "metadata": doc.metadata,
        "text": doc.text,
    }
    try:
        read_from = doc.path or (doc.source if doc.source and os.path.isfile(doc.source) else None)
        if read_from:
            rec["path"] = os.path.relpath(os.path.abspath(read_from), directory.absolute())
    except (OSError, ValueError):
        pass
    return rec


@dataclass
class _Live:
    """A current segment and what of it survives this change."""

    meta: dict[str, Any]
    seg: Segment
    deleted: np.ndarray  # sorted local doc numbers
    vsum: np.ndarray
    vgram: np.ndarray

    def alive_rows(self) -> np.ndarray:
        return ~np.isin(np.asarray(self.seg.rows[:, 0]), self.deleted)

    def live_rows(self) -> int:
        return int(self.alive_rows().sum()) if len(self.deleted) else self.seg.n_rows


def apply_changes(
    directory: Path,
    manifest: dict[str, Any] | None,
    settings: dict[str, Any],
    embedder: Embedder,
    add: Sequence[Document] = (),
    delete: Iterable[str] = (),
    progress: Callable[[int, int], None] | None = None,
    compact: bool = False,
    embedded: tuple[list[Prepared], np.ndarray] | None = None,
    opened: dict[str, Segment] | None = None,
    shards: Iterable[tuple[list[Prepared], np.ndarray]] | None = None,
) -> dict[str, Any]:
    """Write the change and swap the manifest; the caller holds the writer lock.

    ``manifest`` is the current one (None: a new index). ``settings`` holds the manifest
    fields that describe the index (embedder, chunker, dense, calibration...).
    ``embedded`` adds documents already cut and embedded (an upgrade, a cluster build).
    ``opened`` are segments the caller already has open (they are used, not reopened).
    ``shards`` adds documents already cut and embedded that arrive in parts (a cluster
    build): each part becomes a segment as it arrives, so no part is held longer than it
    takes to write it; ``delete`` is read after the last part, so it may be computed while
    they arrive. The manifest is swapped once, after all of them."""
    directory.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(directory)
    dense = DenseConfig.from_dict(settings.get("dense"))
    state_old = (manifest or {}).get("state") or {}
    live: list[_Live] = []
    opened = opened or {}
    for meta in (manifest or {}).get("segments", []):
        seg = opened.get(meta["name"]) or Segment(directory / meta["name"], dense)
        deleted, vsum, vgram = read_state(directory, state_old, seg)
        live.append(_Live(meta, seg, deleted, vsum, vgram))

    next_id = int((manifest or {}).get("next_passage_id", 0))
    # Never reuse a folder name: a full rebuild writes beside the index it replaces.
    taken = [
        int(c.name.split("-", 1)[1])
        for c in directory.iterdir()
        if c.name.startswith(("seg-", "state-")) and c.name.split("-", 1)[1].isdigit()
    ]
    counter = max([int((manifest or {}).get("next_segment", 0)), *(t + 1 for t in taken)])
    new_metas: list[dict[str, Any]] = []
    temporaries: list[Path] = []
    try:
        if shards is not None:
            parts: Iterable[tuple[list[Prepared], np.ndarray]] = shards
        else:
            if embedded is None and not add:  # nothing to cut: a compaction, a deletion
                embedded = ([], np.zeros((0, int(embedder.dim)), dtype=np.float32))
            elif embedded is None:
                # A document with no body text left has no passage: it is not stored.
                # Parsed only to cut documents: a compaction keeps a splitter it may not know.
                chunker = ChunkerSettings.from_dict(settings["chunker"])
                embedded = embed_passages_of(add, chunker, embedder, progress)
                if add and not embedded[0] and not live:
                    raise NoDocumentsError("the documents contain no body text to index")
            parts = [embedded]
        for prepared, vectors in parts:
            if not prepared:
                continue
            texts = [t for p in prepared for t in p.texts]
            spans = np.asarray(
                [(i, a, b) for i, p in enumerate(prepared) for a, b in p.spans], dtype=np.int64
            ).reshape(-1, 3)
            ids = np.arange(next_id, next_id + len(spans), dtype=np.int64)
            next_id += len(spans)
            tmp = new_folder(directory)
            temporaries.append(tmp)
            meta = write_segment(
                tmp / "seg",
                [_record(p.document, directory) for p in prepared],
                spans,
                ids,
                vectors,
                dense,
                lexical_texts=texts,
            )
            new_metas.append(_install(directory, tmp, f"seg-{counter:06d}", meta))
            counter += 1

        _delete(live, delete)

        # Merge small segments, and segments that are mostly deleted.
        keep, merge = _plan_merge(live, len(new_metas), compact)
        if merge:
            tmp = new_folder(directory)
            temporaries.append(tmp)
            meta = _merge(tmp / "seg", merge, dense)
            if meta is not None:
                new_metas.insert(0, _install(directory, tmp, f"seg-{counter:06d}", meta))
                counter += 1

        segments = [item.meta for item in keep] + new_metas
        if not segments:
            raise NoDocumentsError("the change would leave the index without any document")
        state = _write_state(directory, [i for i in keep if len(i.deleted)], counter)
        counter += 1
        result = _manifest(settings, segments, state, keep, new_metas, directory, next_id, counter)
        result["generation"] = _previous_generation(directory, manifest) + 1
        replace_manifest(directory, result)
    except OSError as exc:
        # A full disk, a size limit, a read-only folder: the old manifest still stands.
        raise RagchipsError(
            f"cannot write the index at {directory}: {exc.strerror or exc}; the index is unchanged"
        ) from exc
    finally:
        for tmp in temporaries:
            shutil.rmtree(tmp, ignore_errors=True)
        for item in live:
            if item.seg.name not in opened:
                item.seg.close()
    collect_garbage(directory, result)
    return result


def _delete(live: list[_Live], delete: Iterable[str]) -> None:
    """Mark deleted documents (and the old versions of updated ones) in their segments."""
    newly: dict[str, list[int]] = {}
    for doc_id in delete:
        for item in live:
            i = item.seg.find(doc_id)
            if i is not None and not np.isin(i, item.deleted):
                newly.setdefault(item.seg.name, []).append(i)
                break
        else:
            raise RagchipsError(f"no document {doc_id!r} in the index")
    for item in live:
        if item.seg.name in newly:
            gone = np.asarray(sorted(newly[item.seg.name]), dtype=np.int64)
            rows = np.flatnonzero(np.isin(np.asarray(item.seg.rows[:, 0]), gone))
            if len(rows):
                vecs = np.asarray(item.seg.dense.vectors[rows], dtype=np.float64)
                item.vsum = item.vsum - vecs.sum(axis=0)
                item.vgram = item.vgram - vecs.T @ vecs
            item.deleted = np.union1d(item.deleted, gone)


def embed_passages_of(
    docs: Iterable[Document],
    chunker: ChunkerSettings,
    embedder: Embedder,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[Prepared], np.ndarray]:
    """Cut and embed documents (through the embedding cache, reading on a second thread):
    what ``apply_changes(..., embedded=...)`` takes. Documents without passages are left
    out."""
    from .pipeline import embed_documents

    result = embed_documents(docs, chunker, embedder, progress)
    return result.prepared, result.vectors


def _previous_generation(directory: Path, manifest: dict[str, Any] | None) -> int:
    """Generations only grow, across full rebuilds too (readers compare them)."""
    if manifest is not None:
        return int(manifest.get("generation", 0))
    try:
        old = json.loads((directory / "manifest.json").read_text("utf-8"))
        value = old.get("generation") if isinstance(old, dict) else None
        return value if isinstance(value, int) else 0
    except (OSError, ValueError):
        return 0


def _install(directory: Path, tmp: Path, name: str, meta: dict[str, Any]) -> dict[str, Any]:
    """Hash a written segment and rename it into place (complete before any manifest)."""
    files = file_table(tmp / "seg")
    target = directory / name
    if target.exists():  # left by a writer killed after its rename, before its manifest
        shutil.rmtree(target)
    os.replace(tmp / "seg", target)
    fsync_dir(directory)
    return {"name": name, "docs": meta["docs"], "rows": meta["rows"], "files": files}


def read_state(
    directory: Path, state: dict[str, Any], seg: Segment
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A segment's deleted documents and live moments in a generation's state."""
    name = state.get("name")
    if name and f"{seg.name}.deleted.npy" in state.get("files", {}):
        folder = directory / name
        deleted = np.load(folder / f"{seg.name}.deleted.npy", allow_pickle=False)
        vsum = np.load(folder / f"{seg.name}.vsum.npy", allow_pickle=False)
        vgram = np.load(folder / f"{seg.name}.vgram.npy", allow_pickle=False)
        return deleted, vsum, vgram
    return np.zeros(0, np.int64), np.asarray(seg.vsum), np.asarray(seg.vgram)


def _write_state(directory: Path, items: list[_Live], counter: int) -> dict[str, Any]:
    tmp = new_folder(directory)
    try:
        for item in items:
            base = tmp / item.seg.name
            np.save(f"{base}.deleted.npy", item.deleted.astype(np.int64), allow_pickle=False)
            np.save(f"{base}.vsum.npy", item.vsum, allow_pickle=False)
            np.save(f"{base}.vgram.npy", item.vgram, allow_pickle=False)
        (tmp / "state.json").write_text('{"format": 2}\n', "utf-8")
        files = file_table(tmp)
        name = f"state-{counter:06d}"
        os.replace(tmp, directory / name)
        fsync_dir(directory)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"name": name, "files": files}


def _plan_merge(live: list[_Live], n_new: int, compact: bool) -> tuple[list[_Live], list[_Live]]:
    """Which current segments stay as they are, and which are merged into one."""
    if compact:
        return [], live
    dead = [i for i in live if i.seg.n_rows and 1 - i.live_rows() / i.seg.n_rows > MAX_DEAD_SHARE]
    rest = [i for i in live if i not in dead]
    merge = list(dead)
    excess = len(rest) + n_new + (1 if merge else 0) - MAX_SEGMENTS
    if excess > 0:
        by_size = sorted(rest, key=lambda i: i.live_rows())
        # Merge the smallest segments: enough to bring the count down by half.
        take = by_size[: max(excess + 1, (len(rest) + n_new) // 2)]
        merge.extend(take)
    keep = [i for i in live if i not in merge]
    return keep, sorted(merge, key=live.index)


def _merge(folder: Path, items: list[_Live], dense: DenseConfig) -> dict[str, Any] | None:
    """One segment holding the live passages of ``items``, without embedding again."""
    docs: list[dict[str, Any]] = []
    rows, ids, vectors = [], [], []
    parts: dict[str, list[tuple[Any, np.ndarray]]] = {name: [] for name in FIELDS}
    vsum = np.zeros(0)
    vgram = np.zeros(0)
    for item in items:
        seg = item.seg
        alive_docs = np.ones(seg.n_docs, dtype=bool)
        alive_docs[item.deleted] = False
        new_doc = np.cumsum(alive_docs) - 1 + len(docs)
        docs.extend(seg.doc(int(i)) for i in np.flatnonzero(alive_docs))
        keep = alive_docs[np.asarray(seg.rows[:, 0])]
        r = np.asarray(seg.rows)[keep].copy()
        r[:, 0] = new_doc[r[:, 0]]
        rows.append(r)
        ids.append(np.asarray(seg.ids)[keep])
        vectors.append(np.asarray(seg.dense.vectors)[keep])
        for name in FIELDS:
            parts[name].append((seg.postings[name], keep))
        vsum = item.vsum if not len(vsum) else vsum + item.vsum
        vgram = item.vgram if not len(vgram) else vgram + item.vgram
    if not docs:
        return None
    return write_segment(
        folder,
        docs,
        np.concatenate(rows),
        np.concatenate(ids),
        np.concatenate(vectors),
        dense,
        postings={name: merge_postings(p) for name, p in parts.items()},
        base_moments=(vsum, vgram),
    )


def _manifest(
    settings: dict[str, Any],
    segments: list[dict[str, Any]],
    state: dict[str, Any],
    keep: list[_Live],
    new_metas: list[dict[str, Any]],
    directory: Path,
    next_id: int,
    counter: int,
) -> dict[str, Any]:
    live_docs = sum(m["docs"] for m in new_metas) + sum(i.seg.n_docs - len(i.deleted) for i in keep)
    live_rows = sum(m["rows"] for m in new_metas) + sum(i.live_rows() for i in keep)
    fields: set[str] = {"doc_id"}
    for m in segments:
        seg_meta = directory / m["name"] / "meta.json"
        fields.update(json.loads(seg_meta.read_text("utf-8")).get("fields", {}))
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        **settings,
        "counts": {"documents": live_docs, "passages": live_rows, "segments": len(segments)},
        "fields": sorted(fields),
        "segments": segments,
        "state": state,
        "next_passage_id": next_id,
        "next_segment": counter,
    }
