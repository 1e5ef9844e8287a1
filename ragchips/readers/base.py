"""The reader protocol and the registry by suffix (built-ins, then entry-point plugins)."""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "ENTRY_POINT_GROUP",
    "Extracted",
    "Reader",
    "ReaderPluginWarning",
    "SkipReason",
    "reader_for",
    "register",
    "registered_suffixes",
    "unregister",
]

ENTRY_POINT_GROUP = "ragchips.readers"


@dataclass(frozen=True)
class Extracted:
    """What a reader got out of one file: the text offsets point into, its title (None:
    the first line is used) and metadata kept with the document (``pages``, ``author``...)."""

    text: str
    title: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Reader(Protocol):
    """One file format. ``read`` raises :class:`~ragchips.errors.UnreadableFileError`
    (one line, naming the file and the reason) for a file it cannot turn into text.
    An optional ``max_bytes`` attribute raises the size limit for its files (default:
    :data:`ragchips.reader.MAX_FILE_BYTES`, 50 MiB)."""

    name: str
    suffixes: tuple[str, ...]

    def read(self, path: Path, data: bytes) -> Extracted: ...


class SkipReason(str):
    """Why a file was not indexed: the one-line message, plus a ``kind`` to group by
    (``unsupported``, ``no-text-layer``, ``missing-extra``, ``unreadable``)."""

    kind: str

    def __new__(cls, message: str, kind: str = "unreadable") -> SkipReason:
        self = super().__new__(cls, message)
        self.kind = kind
        return self


_LOCK = threading.Lock()
_READERS: dict[str, Reader] = {}
_LOADED = False


def _builtins() -> list[Reader]:
    from .office import DocxReader, OdtReader
    from .pdf import PdfReader
    from .text import HtmlReader, TextReader

    return [TextReader(), HtmlReader(), PdfReader(), DocxReader(), OdtReader()]


def _plugins() -> list[Reader]:
    from importlib.metadata import entry_points

    from ..errors import ConfigurationError, exception_line

    found: list[Reader] = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        origin = f"{ep.value}, package {dist.name} {dist.version}" if dist else ep.value
        # A broken plugin is said once and left out: the other formats still read (one
        # broken reader stopped every index, .txt files included).
        try:
            obj = ep.load()
            reader = obj() if isinstance(obj, type) else obj
            if not isinstance(reader, Reader):
                raise ConfigurationError("it needs name, suffixes and read(path, data)")
            check_suffixes(reader)
        except Exception as exc:
            warnings.warn(
                f"reader plugin {ep.name!r} ({origin}) is left out: {exception_line(exc)}",
                ReaderPluginWarning,
                stacklevel=2,
            )
            continue
        found.append(reader)
    return found


class ReaderPluginWarning(UserWarning):
    """An installed reader plugin that cannot be used; the other readers still work."""


def check_suffixes(reader: Reader) -> None:
    """A reader's suffixes: a tuple of strings such as ".rst" (a bare "rst" never matches;
    a string ".rst" would register ".", "r", "s" and "t")."""
    from ..errors import ConfigurationError

    suffixes = getattr(reader, "suffixes", None)
    if not isinstance(suffixes, tuple | list | frozenset | set) or not all(
        isinstance(x, str) and x.startswith(".") and len(x) > 1 for x in suffixes
    ):
        raise ConfigurationError(
            f"reader {getattr(reader, 'name', reader)!r}: suffixes must be a tuple of strings "
            f"such as ('.rst',), not {suffixes!r}"
        )
    from ..reader import JSONL_SUFFIXES

    own = sorted({x.lower() for x in suffixes} & JSONL_SUFFIXES)
    if own:
        raise ConfigurationError(
            f"reader {getattr(reader, 'name', reader)!r}: {own[0]} files are read by ragchips "
            "itself (one document per line), not by a reader"
        )


def _ensure_loaded() -> None:
    global _LOADED
    if _LOADED:
        return
    with _LOCK:
        if _LOADED:
            return
        for reader in _builtins():
            for suffix in reader.suffixes:
                _READERS.setdefault(suffix.lower(), reader)
        # Plugins come after the built-ins and may replace them (a better PDF reader).
        for reader in _plugins():
            for suffix in reader.suffixes:
                _READERS[suffix.lower()] = reader
        _LOADED = True


def register(reader: Reader) -> None:
    """Use ``reader`` for its suffixes from now on (replacing any reader they had)."""
    from ..errors import ConfigurationError

    if isinstance(reader, type):  # its read() would miss an argument on every file
        raise ConfigurationError(
            f"register a reader object, not the class {reader.__name__}: "
            f"register({reader.__name__}())"
        )
    if not isinstance(reader, Reader):
        raise ConfigurationError(f"{reader!r} is not a Reader (name, suffixes, read)")
    check_suffixes(reader)
    _ensure_loaded()
    with _LOCK:
        for suffix in reader.suffixes:
            _READERS[suffix.lower()] = reader


def unregister(suffix: str) -> None:
    """Forget the reader of ``suffix`` (tests; a deployment that refuses a format)."""
    _ensure_loaded()
    with _LOCK:
        _READERS.pop(suffix.lower(), None)


def reader_for(path: str | Path) -> Reader | None:
    """The reader for this file's suffix, or None when no reader knows it."""
    _ensure_loaded()
    return _READERS.get(Path(path).suffix.lower())


def registered_suffixes() -> frozenset[str]:
    _ensure_loaded()
    return frozenset(_READERS)
