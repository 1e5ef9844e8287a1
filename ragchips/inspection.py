"""What an index holds, for people (``ragchips ls`` / ``ragchips show``) and programs.

Only the public :class:`~ragchips.index.Index` API is used: documents one at a time and
passages by row, so listing works on any index layout.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

__all__ = ["describe_document", "describe_index", "render_document", "render_index"]


def _open(index: str | os.PathLike[str] | None) -> Any:
    from .api import open_index

    return open_index(index)


def _format(doc: Any) -> str:
    fmt = doc.metadata.get("format")
    if fmt:
        return str(fmt)
    suffix = Path(doc.source).suffix.lower().lstrip(".")
    return "jsonl" if suffix in ("jsonl", "ndjson") else (suffix or "text")


def _folder_bytes(path: Path | None, manifest: dict[str, Any]) -> int:
    tables = [seg.get("files") or {} for seg in manifest.get("segments", [])]
    tables.append((manifest.get("state") or {}).get("files") or {})
    sizes = [f.get("size", 0) for t in tables for f in t.values() if isinstance(f, dict)]
    if sizes:
        return int(sum(sizes))
    if path is None:
        return 0
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def describe_index(index: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Counts, size on disk, embedder and one row per document (format, passages, chars)."""
    idx = _open(index)
    per_doc = Counter(idx.passage_counts())
    items = [
        {
            "doc_id": d.doc_id,
            "format": _format(d),
            "passages": per_doc.get(d.doc_id, 0),
            "chars": len(d.text),
            "title": d.title,
            "source": d.source,
        }
        for d in idx.iter_documents()
    ]
    emb = idx.manifest.get("embedder", {})
    return {
        "path": str(idx.path),
        "generation": idx.manifest.get("generation", ""),
        "documents": len(items),
        "passages": len(idx),
        "bytes": _folder_bytes(idx.path, idx.manifest),
        "embedder": {"name": emb.get("name"), "dim": emb.get("dim")},
        "chunker": idx.manifest.get("chunker", {}),
        "items": items,
    }


def describe_document(index: str | os.PathLike[str] | None, doc_id: str) -> dict[str, Any]:
    """The stored text of one document and its passages with their spans (and pages)."""
    from .errors import RagchipsError

    idx = _open(index)
    try:
        doc = idx.document(doc_id)
    except KeyError:
        known = idx.doc_ids()
        hint = ", ".join(known[:5]) + (", ..." if len(known) > 5 else "")
        raise RagchipsError(f"no document {doc_id!r} in {idx.path} (documents: {hint})") from None
    passages = []
    for p in idx.document_passages(doc_id):
        if p.doc_id == doc_id:
            passages.append(
                {
                    "passage_id": p.passage_id,
                    "start": p.start,
                    "end": p.end,
                    "page": p.page,
                    "text": p.text,
                }
            )
    return {
        "doc_id": doc.doc_id,
        "title": doc.title,
        "source": doc.source,
        "metadata": doc.metadata,
        "text": doc.text,
        "passages": passages,
    }


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n / 2**10:.1f} KiB"


def render_index(info: dict[str, Any]) -> str:
    """``ragchips ls``: a summary line, then one tab-separated row per document."""
    emb = info["embedder"]
    lines = [
        f"{info['path']}: {info['documents']} documents, {info['passages']} passages, "
        f"{_size(info['bytes'])}, embedder {emb['name']} ({emb['dim']} d), "
        f"generation {info['generation']}",
        "doc_id\tformat\tpassages\tchars\ttitle\tsource",
    ]
    for d in info["items"]:
        cells = (d["doc_id"], d["format"], d["passages"], d["chars"], d["title"], d["source"])
        lines.append("\t".join(_cell(c) for c in cells))
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    """A TSV cell: a tab or line break in a file name or title would shift the columns or
    split the row, so they are written as \\t, \\n (and a backslash as \\\\)."""
    text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def render_document(info: dict[str, Any]) -> str:
    """``ragchips show``: the stored text, then each passage with its span and page."""
    lines = [f"{info['doc_id']}: {info['title']} — {info['source']}"]
    meta = {k: v for k, v in info["metadata"].items() if k != "pages"}
    if meta:
        lines.append("metadata: " + json.dumps(meta, ensure_ascii=False))
    lines.append(f"--- text ({len(info['text'])} characters) ---")
    lines.append(info["text"].rstrip("\n"))
    lines.append(f"--- {len(info['passages'])} passages ---")
    for p in info["passages"]:
        page = f" p. {p['page']}" if p.get("page") is not None else ""
        flat = " ".join(p["text"].split())
        lines.append(f"#{p['passage_id']} [{p['start']}:{p['end']}]{page} « {flat[:160]} »")
    return "\n".join(lines) + "\n"
