"""What the Ray workers run for a cluster build (:mod:`ragchips.cluster`): read and cut the
files, and embed the passages in replicas that load the model once.

Why a module of its own: these functions are shipped to the workers by reference, so a worker
imports this module (and ragchips) and nothing of the driver's side.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .chunking import ChunkerSettings
from .embed_cache import embed_cached
from .embedding import E5SmallEmbedder, Embedder, get_embedder
from .errors import RagchipsError, UnreadableFileError
from .reader import JSONL_SUFFIXES, Document, read_document, read_jsonl
from .writer import Prepared, prepare

__all__ = ["EmbedReplica", "doc_row", "probe_import", "read_and_cut", "recipe"]


def probe_import() -> str:
    """Run on every node before the job: can this worker import ragchips, and which?"""
    try:
        import ragchips
        import ragchips.cluster  # a ragchips older than --ray lacks it
    except ImportError as exc:
        return f"error: {exc}"
    return str(getattr(ragchips, "__version__", "?"))


def doc_row(d: Document) -> dict[str, Any]:
    """A document as it travels between driver and workers (``Document.from_dict`` reads
    it back), with the file it was read from."""
    return {**d.to_dict(), "path": d.path}


def _read_one(path: str, skips: list[dict[str, str]]) -> list[Document]:
    def on_skip(where: str, reason: str) -> None:
        skips.append({"path": where, "reason": str(reason), "kind": _kind(reason)})

    try:
        if Path(path).suffix.lower() in JSONL_SUFFIXES:
            return read_jsonl(path, on_skip=on_skip)
        return [read_document(path)]
    except UnreadableFileError as exc:
        arg = exc.args[0] if exc.args else str(exc)
        on_skip(path, arg)
        return []


def _kind(reason: str) -> str:
    return str(getattr(reason, "kind", "unreadable"))


def read_and_cut(
    batch: dict[str, np.ndarray], chunker: dict[str, Any], known: dict[str, str], pack: int
) -> Iterator[dict[str, list[Any]]]:
    """A Ray Data stage: sources (file paths or documents) to packs of about ``pack``
    passages, each a JSON list of items (a document with its spans, or a skipped file).
    A document the index already holds with this content hash is not embedded (``embed``
    false); the driver checks it again once doc_ids are final (they depend on earlier files)."""
    settings = ChunkerSettings.from_dict(chunker)
    items: list[dict[str, Any]] = []
    size = 0
    for seq, path, doc in zip(batch["seq"], batch["path"], batch["doc"]):
        skips: list[dict[str, str]] = []
        docs = [Document.from_dict(json.loads(str(doc)))] if doc else _read_one(str(path), skips)
        for s in skips:
            items.append({"seq": int(seq), "skip": s, "jsonl": bool(not doc and _jsonl(path))})
        for d in docs:
            spans = prepare(d, settings).spans
            embed = known.get(d.doc_id) != d.sha256
            items.append(
                {
                    "seq": int(seq),
                    "doc": doc_row(d),
                    "spans": spans,
                    "embed": embed,
                    "jsonl": bool(not doc and _jsonl(path)),
                    "given": bool(doc),
                }
            )
            size += len(spans) if embed else 0
            if size >= pack:
                yield {"items": [json.dumps(items)]}
                items, size = [], 0
    if items:
        yield {"items": [json.dumps(items)]}


def _jsonl(path: Any) -> bool:
    return Path(str(path)).suffix.lower() in JSONL_SUFFIXES


class EmbedReplica:
    """A Ray Data actor: one embedder, loaded once, for every pack this replica gets."""

    def __init__(self, recipe: Any) -> None:
        self.embedder = _make_embedder(recipe)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list[Any]]:
        vectors = []
        for packed in batch["items"]:
            texts = [
                t
                for item in json.loads(str(packed))
                if item.get("embed")
                for t in Prepared(Document.from_dict(item["doc"]), item["spans"]).texts
            ]
            if texts:
                # Through the worker's embedding cache: a retried task embeds nothing twice.
                out = np.asarray(embed_cached(self.embedder, texts)[0], dtype=np.float32)
            else:
                out = np.zeros((0, self.embedder.dim), np.float32)
            vectors.append(out.tobytes())
        return {"items": list(batch["items"]), "vectors": vectors}


def recipe(emb: Embedder) -> Any:
    """How a worker makes the driver's embedder: by name when the registry can, else the
    pickled object."""
    if isinstance(emb, E5SmallEmbedder):
        return ("e5", emb.engine, emb.batch_size)
    ident = emb.identity()
    try:
        if type(get_embedder(ident)) is type(emb):
            return ("identity", ident)
    except RagchipsError:
        pass
    return ("object", emb)


def _make_embedder(recipe: Any) -> Embedder:
    kind, *rest = recipe
    if kind == "e5":
        return E5SmallEmbedder(engine=rest[0], batch_size=rest[1])
    if kind == "identity":
        return get_embedder(rest[0])
    return rest[0]
