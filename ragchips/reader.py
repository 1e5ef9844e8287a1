"""Turn files on disk into documents whose text is exactly what was read.

Each format has its reader (:mod:`ragchips.readers`: text, HTML, PDF, Word, OpenDocument,
plugins); this module walks folders, applies them and reports every file it does not index.

Citations are only as good as the text they point into, so decoding is explicit: UTF-8
first, then cp1252 and latin-1 for older French files (no mojibake, no silent replacement
characters), newlines kept as they are on disk. Binary, empty and undecodable files are
reported and skipped, never half-indexed.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .cleaning import clean
from .errors import UnreadableFileError, exception_line

__all__ = [
    "TEXT_SUFFIXES",
    "Document",
    "decode_bytes",
    "discover_files",
    "read_document",
    "read_documents",
    "read_jsonl",
    "split_sources",
    "summarise_skips",
    "supported_suffixes",
]

TEXT_SUFFIXES = frozenset({".txt", ".md", ".markdown", ".text"})
# One document per line, not one per file: read here rather than by a format reader.
JSONL_SUFFIXES = frozenset({".jsonl", ".ndjson"})
HTML_SUFFIXES = frozenset({".html", ".htm", ".xhtml"})
# Above this a "text" file is almost certainly a dump, not a document: refuse it clearly.
MAX_FILE_BYTES = 50 * 1024 * 1024
# The text a reader may extract: a text file's limit, whatever the file's own size (a
# compressed .docx or .odt can expand a thousandfold).
MAX_TEXT_CHARS = 50 * 2**20


@dataclass(frozen=True)
class Document:
    """One source document, with the full text that passage offsets point into."""

    doc_id: str
    source: str
    title: str
    text: str
    sha256: str
    metadata: dict[str, Any] = field(default_factory=dict)
    # The file it was read from, made absolute when it was read: the index records it even
    # if the file is gone (or the working folder changed) by the time the index is written;
    # the next update then removes the document as any vanished file's, instead of taking
    # it for one added from Python. None for a document made in Python.
    path: str | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "doc_id": self.doc_id,
            "source": self.source,
            "title": self.title,
            "sha256": self.sha256,
            "metadata": self.metadata,
            "text": self.text,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Document:
        """A document from its :meth:`to_dict` record (a Ray row, a format-1 index's line);
        a ``path`` key, when the record carries one, is the file it was read from."""
        path = d.get("path")
        return cls(
            d["doc_id"],
            d["source"],
            d["title"],
            d["text"],
            d["sha256"],
            d.get("metadata") or {},
            path=path if isinstance(path, str) else None,
        )


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
    """Read one file with the reader of its suffix (see :mod:`ragchips.readers`); a file
    whose suffix no reader knows is read as text. Raises UnreadableFileError with the reason."""
    from .readers import reader_for
    from .readers.text import TextReader

    p = Path(path)
    reader = reader_for(p) or TextReader()
    # A reader may allow bigger files (a PDF is mostly images and fonts, not text).
    limit = int(getattr(reader, "max_bytes", MAX_FILE_BYTES))
    too_big = f"{p}: over the {limit // 2**20} MiB limit"
    try:
        if not stat.S_ISREG(p.stat().st_mode):  # a pipe would hang, /dev/zero never end
            raise UnreadableFileError(f"{p}: not a regular file")
        if p.stat().st_size > limit:
            raise UnreadableFileError(too_big)
        with open(p, "rb") as f:
            data = f.read(limit + 1)  # a file that grew since stat() is still bounded
        if len(data) > limit:
            raise UnreadableFileError(too_big)
    except OSError as exc:
        raise UnreadableFileError(f"{p}: cannot read ({exc.strerror or exc})") from exc
    if not data.strip():
        raise UnreadableFileError(f"{p}: empty file")
    extracted = _extract(reader, p, data)
    web = extracted.metadata.get("format") == "html"
    cleaned = clean(extracted.text, fallback_title=p.stem, web=web)
    if not cleaned.segments:
        raise UnreadableFileError(f"{p}: no body text left after removing page furniture")
    return Document(
        doc_id=doc_id or p.stem,
        source=str(path),
        title=extracted.title or cleaned.title,
        text=extracted.text,
        sha256=_sha256(data),
        metadata=dict(extracted.metadata),
        path=absolute_path(p),
    )


def _extract(reader: Any, p: Path, data: bytes) -> Any:
    """``reader.read``, checked: a reader's exception or malformed result is one line naming
    the file and the reader, and the file is skipped (one bad file stopped a whole build);
    text is capped as a text file is (a 300 KB zip bomb of a .docx expanded to 96 M
    characters)."""
    from .readers.base import Extracted

    name = getattr(reader, "name", type(reader).__name__)
    try:
        extracted = reader.read(p, data)
    except UnreadableFileError:
        raise
    except Exception as exc:
        raise UnreadableFileError(f"{p}: reader {name!r} failed: {exception_line(exc)}") from exc
    if (
        not isinstance(extracted, Extracted)
        or not isinstance(extracted.text, str)
        or not isinstance(extracted.title, str | None)
        or not isinstance(extracted.metadata, dict)
    ):
        raise UnreadableFileError(
            f"{p}: reader {name!r} returned {type(extracted).__name__}, not an Extracted "
            "(text: str, title: str or None, metadata: dict)"
        )
    if len(extracted.text) > MAX_TEXT_CHARS:
        raise UnreadableFileError(
            f"{p}: its text is over the {MAX_TEXT_CHARS // 2**20} M characters limit"
        )
    if not extracted.text.strip():
        raise UnreadableFileError(f"{p}: no text in this file (reader {name!r})")
    return extracted


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


SOURCE = str | os.PathLike | Document  # what one item of the documents to index may be
NOT_A_SOURCE = "documents must be files, folders or Documents (or a list of them), not {} {!r:.40}"


def split_sources(
    sources: Iterable[Any],
) -> tuple[list[Document], list[str | os.PathLike[str]]]:
    """The Documents and the paths among ``sources``, each in order; an item that is
    neither is a one-line TypeError, raised before anything is read or written."""
    items = list(sources)
    for s in items:
        if not isinstance(s, SOURCE):
            raise TypeError(NOT_A_SOURCE.format(type(s).__name__, s))
    return [s for s in items if isinstance(s, Document)], [
        s for s in items if not isinstance(s, Document)
    ]


def supported_suffixes() -> frozenset[str]:
    """Every suffix a folder walk reads: the registered readers' and JSONL."""
    from .readers import registered_suffixes

    return registered_suffixes() | JSONL_SUFFIXES


def nothing_readable() -> str:
    """The message for a build that found no text, naming what could have been read."""
    return f"no readable text to index (supported: {', '.join(sorted(supported_suffixes()))})"


def discover_files(
    paths: Iterable[str | os.PathLike[str]],
    on_skip: Callable[[str, str], None] | None = None,
) -> Iterator[Path]:
    """Files to read: given files as they are, folders walked in sorted order, each file
    once however many of the paths hold it ("docs docs/a.txt" is not two documents). Files
    in a folder that no reader knows are reported to ``on_skip`` (kind ``unsupported``)."""
    seen: set[str] = set()
    for path in _discover(paths, on_skip):
        key = absolute_path(path)
        if key not in seen:
            seen.add(key)
            yield path


def absolute_path(path: str | os.PathLike[str]) -> str:
    """A path made absolute without following symbolic links (a linked file lies where
    the collection shows it, not where its target is), in the file system's case: what
    tells two paths of one file apart from two files."""
    out = os.path.normcase(os.path.normpath(os.path.abspath(path)))
    return "/" + out.lstrip("/") if os.sep == "/" and out.startswith("//") else out


def _discover(
    paths: Iterable[str | os.PathLike[str]],
    on_skip: Callable[[str, str], None] | None = None,
) -> Iterator[Path]:
    from .readers import SkipReason

    suffixes = supported_suffixes()
    for raw in paths:
        if not str(raw).strip():  # Path("") is the working folder: all of it, indexed
            from .errors import ConfigurationError

            raise ConfigurationError("an empty path among the documents (an unset variable?)")
        p = Path(raw)
        if p.is_dir():
            indexes = _index_folders(p)
            for child in sorted(p.rglob("*")):
                hidden = any(part.startswith(".") for part in child.relative_to(p).parts)
                if hidden:
                    continue
                if not child.is_file():
                    if on_skip is not None and child.is_symlink() and not child.exists():
                        # Said, not passed over: a document indexed through it leaves the index.
                        reason = f"{child}: a link to nothing ({os.readlink(child)})"
                        on_skip(str(child), SkipReason(reason, "unreadable"))
                    continue
                if any(parent in indexes for parent in child.parents):
                    continue  # an index inside the folder it indexes is not read back
                if not _utf8_name(child):
                    if on_skip is not None:
                        on_skip(_shown(child), _bad_name(child))
                    continue
                if child.suffix.lower() in suffixes:
                    yield child
                elif on_skip is not None:
                    kind = child.suffix.lower() or "(no suffix)"
                    on_skip(
                        str(child),
                        SkipReason(f"{child}: unsupported file type {kind}", "unsupported"),
                    )
        elif p.exists():
            if not _utf8_name(p):
                raise UnreadableFileError(_bad_name(p))
            yield p
        else:
            raise FileNotFoundError(f"{p}: no such file or folder")


def _utf8_name(path: Path) -> bool:
    """Whether the path can be recorded (the index's files are UTF-8 JSON): a name from an
    old latin-1 share ("pisc\xe9ine.txt") cannot."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _shown(path: Path) -> str:
    """A name that is not UTF-8 as it can be printed: "pisc\\xe9ine.txt"."""
    return str(path).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _bad_name(path: Path) -> str:
    from .readers import SkipReason

    return SkipReason(f"{_shown(path)}: the file name is not valid UTF-8; rename it", "unreadable")


def _reason(exc: UnreadableFileError) -> str:
    """The skip message, with the kind a reader gave it (``unreadable`` by default)."""
    from .readers import SkipReason

    arg = exc.args[0] if exc.args else ""
    return arg if isinstance(arg, SkipReason) else SkipReason(str(exc), "unreadable")


_SKIP_LABELS = {
    "unsupported": "unsupported files ignored",
    "no-text-layer": "PDF without a text layer skipped (scans; OCR is not supported)",
    "missing-extra": "files skipped for a missing extra (pip install 'ragchips[formats]')",
    "unreadable": "unreadable files skipped",
}


def summarise_skips(skipped: list[tuple[str, str]], shown: int = 10) -> list[str]:
    """Files not indexed, one line per reason: ``2 unsupported files ignored: .pptx, .xlsx``
    (unsupported files are named by suffix, the others by path)."""
    groups: dict[str, list[str]] = {}
    for path, reason in skipped:
        kind = getattr(reason, "kind", "unreadable")
        name = (Path(path).suffix.lower() or "(no suffix)") if kind == "unsupported" else path
        groups.setdefault(kind, []).append(name)
    lines = []
    for kind, items in groups.items():
        names = sorted(set(items)) if kind == "unsupported" else items
        more = f", ... ({len(names) - shown} more)" if len(names) > shown else ""
        label = _SKIP_LABELS.get(kind, kind)
        lines.append(f"{len(items)} {label}: {', '.join(names[:shown])}{more}")
    return lines


def read_documents(
    paths: Iterable[str | os.PathLike[str]],
    on_skip: Callable[[str, str], None] | None = None,
) -> list[Document]:
    """Read every file under ``paths``; unreadable ones are skipped and reported."""
    return list(iter_documents(paths, on_skip))


def iter_documents(
    paths: Iterable[str | os.PathLike[str]],
    on_skip: Callable[[str, str], None] | None = None,
    held: set[str] | None = None,
) -> Iterator[Document]:
    """:func:`read_documents` one document at a time, so that indexing can embed the
    first files while the next ones are read. The files are listed now, read later.
    ``held``: doc_ids no document read may take (see :class:`FileIds`), read when the first
    document is asked for."""
    return _read_files(list(discover_files(paths, on_skip=on_skip)), on_skip, held)


@dataclass
class FileIds:
    """The doc_ids of files, unique in file order: a file's stem ("notes"), then "notes~1"
    for a second notes.txt. ``held``: the doc_ids of files kept though not read (a format
    no reader here reads now): no other file, nor a JSONL line, takes them, so their
    documents are kept instead of replaced."""

    held: set[str] = field(default_factory=set)
    used: set[str] = field(default_factory=set)

    def take(self, stem: str) -> str:
        n = 0
        while True:
            candidate = f"{stem}~{n}" if n else stem
            if candidate not in self.used and candidate not in self.held:
                self.used.add(candidate)
                return candidate
            n += 1


def _read_files(
    files: list[Path],
    on_skip: Callable[[str, str], None] | None,
    held: set[str] | None = None,
) -> Iterator[Document]:
    ids = FileIds(held or set())
    # stems, JSONL ids and held ids: a JSONL line may not take them
    seen: dict[str, int] = dict.fromkeys(ids.held, 1)
    for path in files:
        if path.suffix.lower() in JSONL_SUFFIXES:
            try:
                records = read_jsonl(path, on_skip=on_skip, taken=seen)
            except UnreadableFileError as exc:
                if on_skip is not None:
                    on_skip(str(path), _reason(exc))
                continue
            ids.used.update(d.doc_id for d in records)
            yield from records
            continue
        try:
            doc = read_document(path)
        except UnreadableFileError as exc:
            if on_skip is not None:
                on_skip(str(path), _reason(exc))
            continue
        # Same stem in two folders: keep both, with distinct ids.
        seen[doc.doc_id] = 1
        final = ids.take(doc.doc_id)
        yield doc if final == doc.doc_id else replace(doc, doc_id=final)


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
                path=absolute_path(path),
            )
        )
    for d in docs:
        taken[d.doc_id] = 1
    return docs
