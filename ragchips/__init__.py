"""ragchips: ask questions about French documents and see exactly where each answer comes from.

>>> from ragchips import ask
>>> answer = ask("qui fabrique la puce ?")      # the bundled articles
>>> answer.passages[0].source, answer.passages[0].start, answer.passages[0].end
"""

from __future__ import annotations

from .api import ask, open_index
from .chunking import ChunkerSettings
from .dense import DenseConfig
from .embedding import Embedder, SentenceTransformerEmbedder, get_embedder
from .errors import (
    CorruptIndexError,
    EmbedderMismatchError,
    IndexLockedError,
    IndexNotFoundError,
    InvalidQuestionError,
    NoDocumentsError,
    NoMatchError,
    PluginError,
    RagchipsError,
    UnreadableFileError,
)
from .index import Index, default_index_path
from .reader import Document, read_document
from .results import Answer, AnswerStream, Claim, Passage
from .writer import ChangeReport

__version__ = "0.1.0"

__all__ = [
    "Answer",
    "AnswerStream",
    "ChangeReport",
    "ChunkerSettings",
    "Claim",
    "CorruptIndexError",
    "DenseConfig",
    "Document",
    "Embedder",
    "EmbedderMismatchError",
    "Index",
    "IndexLockedError",
    "IndexNotFoundError",
    "InvalidQuestionError",
    "NoDocumentsError",
    "NoMatchError",
    "Passage",
    "PluginError",
    "RagchipsError",
    "SentenceTransformerEmbedder",
    "UnreadableFileError",
    "ask",
    "default_index_path",
    "get_embedder",
    "open_index",
    "read_document",
]
