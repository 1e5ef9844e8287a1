"""Looking after an index over the years: full verification and upgrades of old formats.

Why separate from loading: loading must stay cheap at any size (sizes only), while a
verification reads every byte and cross-checks every part; it is what to run after a
crash, a copy or a disk error, and it says how to repair what it finds.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .dense import as_float32
from .embedding import HashEmbedder
from .errors import CorruptIndexError, IndexNotFoundError, RagchipsError
from .lexical import SETTINGS as LEXICAL_SETTINGS
from .reader import Document
from .storage import (
    FORMAT,
    LOCK,
    MANIFEST,
    check_sizes,
    foreign_manifest,
    named_folders,
    read_manifest,
    writer_lock,
    written_by_an_index,
)

__all__ = ["VerifyReport", "upgrade", "verify"]


@dataclass
class VerifyReport:
    documents: int = 0
    passages: int = 0
    segments: int = 0
    problems: list[str] = field(default_factory=list)
    # Not damage: files an interrupted write or an old generation left, which the next
    # write removes. Said so that a full disk after a crash has an explanation.
    leftovers: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(directory: Path) -> VerifyReport:
    """Check every file's sha256 and cross-check vectors, postings, texts and ids."""
    from .index import Index

    report = VerifyReport()
    try:
        manifest = read_manifest(directory)
        check_sizes(directory, manifest, hashes=True)
        # The files are checked, not the model: a stand-in of the recorded width lets an
        # index whose embedder plugin is not installed here be verified too.
        recorded = manifest.get("embedder")
        if not isinstance(recorded, dict) or not isinstance(recorded.get("dim"), int):
            raise CorruptIndexError(f"{directory}: the manifest's embedder is malformed")
        stand_in = HashEmbedder(max(recorded["dim"], 1))
        stand_in.name = str(recorded.get("name", ""))
        index = Index.load(directory, verify=False, embedder=stand_in)
    except IndexNotFoundError:
        raise  # no index there at all: nothing is damaged, nothing to rebuild
    except (CorruptIndexError, FileNotFoundError, OSError) as exc:
        report.problems.append(f"{exc}")
        return report
    report.segments = len(index.segments)
    report.leftovers = _leftovers(directory, manifest)
    try:
        _cross_check(index, manifest, report)
    except (CorruptIndexError, ValueError, IndexError, OSError) as exc:
        report.problems.append(f"{exc}")  # damage that stops the checks is reported too
    return report


def _cross_check(index: Any, manifest: dict[str, Any], report: VerifyReport) -> None:
    """Vectors, postings, texts, ids and counts against each other."""
    ids_seen: set[int] = set()
    doc_ids: set[str] = set()
    for listed in manifest["segments"]:
        seg = next((s for s in index.segments if s.name == listed["name"]), None)
        said = (listed.get("rows"), listed.get("docs"))
        if seg is not None and said != (seg.n_rows, seg.n_docs):
            report.problems.append(
                f"{seg.name}: the manifest says {said[0]} passages and {said[1]} documents, "
                f"the segment holds {seg.n_rows} and {seg.n_docs}"
            )
    for seg, alive in zip(index.segments, index._alive):
        n = seg.n_rows
        ids = np.asarray(seg.ids)
        if len(np.unique(ids)) != n or ids_seen.intersection(ids.tolist()):
            report.problems.append(f"{seg.name}: passage ids repeat")
        ids_seen.update(ids.tolist())
        for name, p in seg.postings.items():
            if len(p.rows) and (int(np.max(p.rows)) >= n or int(np.min(p.rows)) < 0):
                report.problems.append(f"{seg.name}/{name}: postings point past the passages")
            if len(p.indptr) and (int(p.indptr[0]) != 0 or bool(np.any(np.diff(p.indptr) < 0))):
                report.problems.append(f"{seg.name}/{name}: posting list bounds are not in order")
        structure = _structure_problems(seg)
        report.problems.extend(structure)
        if structure:
            continue  # reading its documents would only fail on the same damage
        vectors = as_float32(seg.dense.vectors)
        norms = np.linalg.norm(vectors, axis=1)
        if len(norms) and (np.abs(norms - 1).max() > 1e-3):
            report.problems.append(f"{seg.name}: vectors are not unit length")
        if not np.allclose(vectors.astype(np.float64).sum(axis=0), seg.vsum, atol=1e-2):
            report.problems.append(f"{seg.name}: stored vector moments do not match the vectors")
        files = seg.doc_files()
        for i in range(seg.n_docs):
            rec = seg.doc(i)
            if files is not None and files[i] != (rec.get("path"), rec["sha256"]):
                report.problems.append(
                    f"{seg.name}: docs.files.json disagrees with document {rec['doc_id']!r}"
                )
            if len(rec["text"]) != int(seg.chars[i]):
                report.problems.append(f"{seg.name}: document {rec['doc_id']!r} length differs")
            if seg.find(rec["doc_id"]) != i:
                report.problems.append(f"{seg.name}: document {rec['doc_id']!r} is not findable")
        live = np.zeros(seg.n_docs, dtype=bool)
        rows = np.asarray(seg.rows)
        live[rows[:, 0] if alive is None else rows[alive, 0]] = True
        for j in np.flatnonzero(live):
            d = seg.doc(int(j))["doc_id"]
            if d in doc_ids:
                report.problems.append(f"document {d!r} is live in two segments")
            doc_ids.add(d)
    report.documents = len(doc_ids)
    report.passages = len(index)
    counts = manifest.get("counts", {})
    if counts.get("passages") != report.passages or counts.get("documents") != report.documents:
        report.problems.append(
            f"manifest counts {counts} differ from the data "
            f"({report.documents} documents, {report.passages} passages)"
        )


def _structure_problems(seg: Any) -> list[str]:
    """What the sha256s cannot show: arrays rewritten consistently with the manifest (a
    buggy writer, a hostile index) that would misroute reads or crash them."""
    problems = []
    offsets, n_docs = np.asarray(seg.offsets), seg.n_docs
    if not np.issubdtype(offsets.dtype, np.integer) or bool(np.any(np.diff(offsets) < 0)):
        problems.append(f"{seg.name}: document offsets are not increasing integers")
    elif len(offsets) and (int(offsets[0]) != 0 or int(offsets[-1]) != seg.docs_bytes):
        problems.append(f"{seg.name}: document offsets do not span docs.jsonl")
    order = np.asarray(seg.order)
    if len(order) != n_docs or not np.array_equal(np.sort(order), np.arange(n_docs)):
        problems.append(f"{seg.name}: the document order is not a permutation")
    rows = np.asarray(seg.rows)
    if not np.issubdtype(rows.dtype, np.integer):
        problems.append(f"{seg.name}: passage rows are not integers")
    elif len(rows) and (int(rows[:, 0].min()) < 0 or int(rows[:, 0].max()) >= n_docs):
        problems.append(f"{seg.name}: passages point past the documents")
    for name in seg.fields:
        try:
            column = seg.column(name)
        except (OSError, ValueError, RagchipsError) as exc:
            problems.append(f"{seg.name}: field {name!r}: {exc}")
            continue
        if column is None:
            continue
        ptr, docs = np.asarray(column.indptr), np.asarray(column.docs)
        if (
            len(ptr) == 0
            or int(ptr[0]) != 0
            or int(ptr[-1]) != len(docs)
            or bool(np.any(np.diff(ptr) < 0))
            or (len(docs) and (int(docs.min()) < 0 or int(docs.max()) >= n_docs))
        ):
            problems.append(f"{seg.name}: field {name!r} points past its documents")
    return problems


def _leftovers(directory: Path, manifest: dict[str, Any]) -> list[str]:
    """Folders and files of ours the manifest does not name, with their size."""
    keep = named_folders(manifest)
    found = []
    for child in sorted(directory.iterdir()):
        name = child.name
        if name in keep or name in (MANIFEST, LOCK) or not written_by_an_index(name):
            continue
        try:  # a running writer renames and removes such folders as this looks
            files = [child] if child.is_file() else [f for f in child.rglob("*") if f.is_file()]
            size = sum(f.stat().st_size for f in files)
        except FileNotFoundError:
            continue
        found.append(f"{name} ({size / 1e6:.1f} MB)")
    return found


def is_format_1(directory: Path) -> bool:
    try:
        old = json.loads((directory / MANIFEST).read_text("utf-8"))
    except (OSError, ValueError):
        return False
    return (
        isinstance(old, dict) and old.get("format") == "ragchips-index" and old.get("version") == 1
    )


def upgrade(directory: Path, locked: bool = False) -> dict[str, Any]:
    """Rewrite a format-1 index as format 2 in place, reusing its vectors (no embedding).
    ``locked``: the caller already holds the writer lock."""
    import faiss

    from .embedding import get_embedder
    from .writer import Prepared, apply_changes

    path = directory / MANIFEST
    if not path.is_file():
        read_manifest(directory)  # raises: no index there, or a folder that is not one
    try:
        old = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise CorruptIndexError(f"{path}: unreadable manifest ({exc})") from exc
    if not isinstance(old, dict) or old.get("format") != FORMAT:
        raise foreign_manifest(directory)
    if old.get("version") != 1:
        raise RagchipsError(f"{directory}: not a format-1 index; nothing to upgrade")
    folder = directory / str(old.get("generation", ""))
    try:
        docs = []
        with open(folder / "documents.jsonl", encoding="utf-8") as f:
            for line in f:
                docs.append(Document.from_dict(json.loads(line)))
        rows = np.load(folder / "passages.npy", allow_pickle=False)
        flat = faiss.read_index(str(folder / "dense.faiss"))
        vectors = flat.reconstruct_n(0, flat.ntotal)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise CorruptIndexError(f"{directory}: cannot read the format-1 index ({exc})") from exc
    if len(rows) != len(vectors):
        raise CorruptIndexError(f"{directory}: format-1 passages and vectors disagree")
    spans: list[list[tuple[int, int]]] = [[] for _ in docs]
    for d, a, b in rows.tolist():
        # Checked before anything is written: the format-1 files are replaced.
        if not (0 <= d < len(docs) and 0 <= a < b <= len(docs[d].text)):
            raise CorruptIndexError(
                f"{directory}: a format-1 passage span [{a}:{b}] lies outside its document; "
                "rebuild the index"
            )
        spans[d].append((a, b))
    prepared = [Prepared(doc, s) for doc, s in zip(docs, spans) if s]
    order = np.argsort(rows[:, 0], kind="stable")
    embedder = get_embedder(old["embedder"])
    settings = {
        "embedder": old["embedder"],
        "chunker": old.get("chunker", {}),
        "dense": None,
        "calibration": old.get("calibration"),
        "lexical": dict(LEXICAL_SETTINGS),
    }
    from .dense import DenseConfig

    settings["dense"] = DenseConfig().to_dict()
    with contextlib.nullcontext() if locked else writer_lock(directory, wait=10.0):
        manifest = apply_changes(
            directory, None, settings, embedder, embedded=(prepared, vectors[order])
        )
    return manifest
