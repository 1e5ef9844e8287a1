"""Turn files on disk into documents whose text is exactly what was read.

Citations are only as good as the text they point into, so decoding is explicit: UTF-8
first, then cp1252 and latin-1 for older French files (no mojibake, no silent replacement
characters), newlines kept as they are on disk. Binary, empty and undecodable files are
reported and skipped, never half-indexed.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cleaning import clean
from .errors import UnreadableFileError
from .htmltext import visible_text

__all__ = [
    "TEXT_SUFFIXES",
    "Document",
    "decode_bytes",
    "discover_files",
    "read_document",
    "read_documents",
    "read_jsonl",
]

TEXT_SUFFIXES = frozenset({".txt", ".md", ".markdown", ".text"})
JSONL_SUFFIXES = frozenset({".jsonl", ".ndjson"})
HTML_SUFFIXES = frozenset({".html", ".htm", ".xhtml"})
SUFFIXES = TEXT_SUFFIXES | JSONL_SUFFIXES | HTML_SUFFIXES
# Above this a "text" file is almost certainly a dump, not a document: refuse it clearly.
MAX_FILE_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True)
class Document:
    """One source document, with the full text that passage offsets point into."""

    doc_id: str
    source: str
    title: str
    text: str
    sha256: str
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "doc_id": self.doc_id,
            "source": self.source,
            "title": self.title,
            "sha256": self.sha256,
            "metadata": self.metadata,
            "text": self.text,
        }


def _looks_binary(data: bytes) -> bool:
    head = data[:8192]
    if b"\x00" in head:
        return True
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13))
    return controls > max(4, len(head) // 50)


def decode_bytes(data: bytes, name: str = "<bytes>") -> tuple[str, str]:
    """Decode file content; return (text, encoding). Raises UnreadableFileError."""
    if not data.strip():
        raise UnreadableFileError(f"{name}: empty file")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError as exc:
            raise UnreadableFileError(f"{name}: invalid UTF-16 text") from exc
    if _looks_binary(data):
        raise UnreadableFileError(f"{name}: binary file, not text")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    for encoding in ("utf-8", "cp1252", "latin-1"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if encoding != "utf-8" and any(0x80 <= ord(c) < 0xA0 for c in text):
            continue  # C1 controls: not really this encoding
        return text, encoding
    raise UnreadableFileError(f"{name}: cannot decode as UTF-8, cp1252 or latin-1")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_document(path: str | os.PathLike[str], doc_id: str | None = None) -> Document:
    """Read one text, Markdown or HTML file. Raises UnreadableFileError with the reason."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:
            raise UnreadableFileError(
                f"{p}: {size // 2**20} MiB is over the {MAX_FILE_BYTES // 2**20} MiB limit"
            )
        data = p.read_bytes()
    except OSError as exc:
        raise UnreadableFileError(f"{p}: cannot read ({exc.strerror or exc})") from exc
    text, encoding = decode_bytes(data, str(p))
    metadata: dict[str, Any] = {"encoding": encoding}
    html_title = None
    if p.suffix.lower() in HTML_SUFFIXES:
        # Offsets of an HTML document point into its visible text, which the index stores.
        text, html_title = visible_text(text)
        metadata["format"] = "html"
        if not text.strip():
            raise UnreadableFileError(f"{p}: no visible text in this HTML page")
    cleaned = clean(text, fallback_title=p.stem)
    if not cleaned.segments:
        raise UnreadableFileError(f"{p}: no body text left after removing page furniture")
    return Document(
        doc_id=doc_id or p.stem,
        source=str(path),
        title=html_title or cleaned.title,
        text=text,
        sha256=_sha256(data),
        metadata=metadata,
    )


def _index_folders(root: Path) -> set[Path]:
    """ragchips index folders under ``root``: their files are the index, not documents."""
    found = set()
    for manifest in root.rglob("manifest.json"):
        try:
            head = manifest.read_text(encoding="utf-8", errors="replace")[:200]
        except OSError:
            continue
        if '"ragchips-index"' in head:
            found.add(manifest.parent)
    return found


def discover_files(paths: Iterable[str | os.PathLike[str]]) -> Iterator[Path]:
    """Files to read: given files as they are, folders walked in sorted order."""
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            indexes = _index_folders(p)
            for child in sorted(p.rglob("*")):
                hidden = any(part.startswith(".") for part in child.relative_to(p).parts)
                inside_index = any(parent in indexes for parent in child.parents)
                if (
                    child.is_file()
                    and not hidden
                    and not inside_index
                    and child.suffix.lower() in SUFFIXES
                ):
                    yield child
        elif p.exists():
            yield p
        else:
            raise FileNotFoundError(f"{p}: no such file or folder")


def read_documents(
    paths: Iterable[str | os.PathLike[str]],
    on_skip: Callable[[str, str], None] | None = None,
) -> list[Document]:
    """Read every file under ``paths``; unreadable ones are skipped and reported."""
    docs: list[Document] = []
    seen: dict[str, int] = {}
    for path in discover_files(paths):
        if path.suffix.lower() in JSONL_SUFFIXES:
            try:
                docs.extend(read_jsonl(path, on_skip=on_skip, taken=seen))
            except UnreadableFileError as exc:
                if on_skip is not None:
                    on_skip(str(path), str(exc))
            continue
        try:
            doc = read_document(path)
        except UnreadableFileError as exc:
            if on_skip is not None:
                on_skip(str(path), str(exc))
            continue
        # Same stem in two folders: keep both, with distinct ids.
        n = seen.get(doc.doc_id, 0)
        seen[doc.doc_id] = n + 1
        if n:
            doc = Document(
                doc_id=f"{doc.doc_id}~{n}",
                source=doc.source,
                title=doc.title,
                text=doc.text,
                sha256=doc.sha256,
                metadata=doc.metadata,
            )
        docs.append(doc)
    return docs


_ID_FIELDS = ("doc_id", "id")


def read_jsonl(
    path: str | os.PathLike[str],
    on_skip: Callable[[str, str], None] | None = None,
    taken: dict[str, int] | None = None,
) -> list[Document]:
    """One document per line: ``text``, optional ``doc_id``/``id`` and ``title``; any other
    field is kept as metadata (for ``where=`` filters). Bad lines are reported by number."""
    p = Path(path)
    taken = {} if taken is None else taken
    first_line: dict[str, int] = {}
    docs: list[Document] = []

    def skip(n: int, reason: str) -> None:
        if on_skip is not None:
            on_skip(f"{p}:{n}", f"{p}:{n}: {reason}")

    try:
        data = p.read_bytes()
    except OSError as exc:
        raise UnreadableFileError(f"{p}: cannot read ({exc.strerror or exc})") from exc
    text, _ = decode_bytes(data, str(p))
    # Only "\n" ends a record: JSON strings may hold U+2028 and other line separators.
    for n, line in enumerate(text.split("\n"), 1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            skip(n, f"not valid JSON ({exc.msg}); line skipped")
            continue
        if not isinstance(record, dict):
            skip(n, "not a JSON object; line skipped")
            continue
        body = record.get("text")
        if not isinstance(body, str) or not body.strip():
            skip(n, "no 'text' (or it is empty); line skipped")
            continue
        raw_id = next((record[f] for f in _ID_FIELDS if record.get(f) not in (None, "")), None)
        doc_id = str(raw_id) if raw_id is not None else f"{p.stem}:{n}"
        if doc_id in first_line or doc_id in taken:
            where = f"line {first_line[doc_id]}" if doc_id in first_line else "another file"
            skip(n, f"doc_id {doc_id!r} already used on {where}; line skipped")
            continue
        first_line[doc_id] = n
        title = record.get("title")
        if not isinstance(title, str) or not title.strip():
            title = clean(body, fallback_title=doc_id).title
        metadata = {k: v for k, v in record.items() if k not in ("text", "title", *_ID_FIELDS)}
        metadata["line"] = n
        docs.append(
            Document(
                doc_id=doc_id,
                source=str(path),
                title=title,
                text=body,
                sha256=_sha256(line.encode("utf-8")),
                metadata=metadata,
            )
        )
    for d in docs:
        taken[d.doc_id] = 1
    return docs
