"""The index: segments of passages with exact spans, searched by meaning and by French terms.

Opening an index reads its manifest, checks every file's size and maps the arrays into
memory; no document text is read until a passage is shown, so opening costs about the
same at 10^3 and 10^6 passages. Changes (:meth:`Index.add`, :meth:`update`, :meth:`delete`,
:meth:`sync`) go through :mod:`ragchips.writer` under the writer lock and take effect in one
atomic step; an open Index sees them after :meth:`reload` (``ask()`` and the service reload
by themselves). Searching lives in :mod:`ragchips.hybrid`, writing in :mod:`ragchips.updates`.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .calibration import Calibration
from .dense import DenseConfig
from .embedding import Embedder, check_embedder, embed_with, get_embedder
from .errors import (
    CorruptIndexError,
    EmbedderMismatchError,
    IndexNotFoundError,
    InvalidQuestionError,
)
from .hybrid import HybridSearch, Where
from .lexical import FIELDS
from .query import Question
from .ranking import Hit
from .reader import Document
from .results import Passage
from .segments import Segment
from .storage import check_sizes, load_consistent
from .updates import IndexUpdates
from .writer import read_state

__all__ = ["MAX_K", "MAX_QUESTION_CHARS", "MODES", "Hit", "Index", "Where", "default_index_path"]

MODES = ("hybrid", "dense", "lexical")
MAX_K = 100
# A question is a sentence or a short paragraph; beyond this it is a pasted document, and
# the embedder would silently truncate it anyway.
MAX_QUESTION_CHARS = 2000


def default_index_path() -> Path:
    """``$RAGCHIPS_INDEX``, else the bundled ``indexes/seeds`` of this checkout."""
    env = os.environ.get("RAGCHIPS_INDEX")
    if env:
        return Path(env)
    bundled = Path(__file__).resolve().parent.parent / "indexes" / "seeds"
    if bundled.is_dir():
        return bundled
    return Path("indexes") / "seeds"


def check_question(question: object) -> str:
    if not isinstance(question, str):
        raise InvalidQuestionError("the question must be text")
    q = question.strip()
    if not q:
        raise InvalidQuestionError(
            "the question is empty: ask something, e.g. 'qui fabrique la puce ?'"
        )
    try:
        q.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidQuestionError(
            "the question contains invalid characters (lone surrogates)"
        ) from None
    if len(q) > MAX_QUESTION_CHARS:
        raise InvalidQuestionError(
            f"the question is {len(q)} characters long; the limit is {MAX_QUESTION_CHARS}"
        )
    return q


def check_k(k: object) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer):
        raise InvalidQuestionError(f"k must be a whole number from 1 to {MAX_K}, not {k!r}")
    if not 1 <= int(k) <= MAX_K:
        raise InvalidQuestionError(f"k must be from 1 to {MAX_K}, not {k}")
    return int(k)


def check_folder(path: object, what: str = "index") -> Path:
    """A folder given by a caller, as a Path; anything else is a one-line TypeError."""
    if not isinstance(path, str | os.PathLike):
        raise TypeError(
            f"{what} must be a folder (a str or Path), not {type(path).__name__} {path!r:.40}"
        )
    return Path(path)


def check_mode(mode: object) -> str:
    if mode not in MODES:
        raise InvalidQuestionError(f"unknown mode {mode!r}: use one of {', '.join(MODES)}")
    return str(mode)


class Index(HybridSearch, IndexUpdates):
    """A searchable collection. Build with :meth:`build`, open with :meth:`load`."""

    def __init__(self, directory: Path, manifest: dict[str, Any], embedder: Embedder) -> None:
        self.path: Path | None = directory
        self.manifest = manifest
        self.embedder = embedder
        self.dense_config = DenseConfig.from_dict(manifest.get("dense"))
        try:
            self._calibration = Calibration.from_dict(manifest.get("calibration"))
            self._calibration_recorded = manifest.get("calibration")
        except ValueError as exc:
            raise CorruptIndexError(f"{directory}: {exc}; rebuild the index") from exc
        self._open(directory, manifest)
        self._probe_checked = False
        self._probe_lock = threading.Lock()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    def _open(
        self, directory: Path, manifest: dict[str, Any], reuse: dict[str, Segment] | None = None
    ) -> None:
        """Open the manifest's segments (those already open in ``reuse`` are kept: a segment
        never changes once written, so a change to a large index reopens only what is new)."""
        reuse = reuse or {}
        try:
            segs = [
                reuse.get(s["name"]) or Segment(directory / s["name"], self.dense_config)
                for s in manifest["segments"]
            ]
            state = manifest.get("state") or {}
            alive: list[np.ndarray | None] = []
            vsum = np.zeros(int(manifest["embedder"].get("dim", 0)) or segs[0].vsum.shape[0])
            vgram = np.zeros((len(vsum), len(vsum)))
            for seg in segs:
                deleted, seg_sum, seg_gram = read_state(directory, state, seg)
                alive.append(~np.isin(seg.rows[:, 0], deleted) if len(deleted) else None)
                vsum += seg_sum
                vgram += seg_gram
        except FileNotFoundError:
            raise
        except (OSError, ValueError, KeyError, TypeError, IndexError, RuntimeError) as exc:
            raise CorruptIndexError(f"{directory}: cannot read index data ({exc})") from exc
        for seg, _mask in zip(segs, alive):
            _check_spans(directory, seg)
            if seg.dense.vectors.shape[1] != len(vsum):
                raise CorruptIndexError(f"{directory}: vector dimension differs between segments")
        self._segments = segs
        self._alive = alive
        # The same as ascending deleted rows: BM25 drops the few from a posting list by
        # binary search instead of gathering the mask at every posting.
        self._dead = [None if m is None else np.flatnonzero(~m) for m in alive]
        self._bases = np.cumsum([0] + [s.n_rows for s in segs])
        self._n_live = int(
            sum(s.n_rows if m is None else int(m.sum()) for s, m in zip(segs, alive))
        )
        self._vsum, self._vgram = vsum, vgram
        self._lengths = {
            f: float(
                sum(
                    float(np.sum(s.postings[f].lengths if m is None else s.postings[f].lengths[m]))
                    for s, m in zip(segs, alive)
                )
            )
            for f in FIELDS
        }
        self._base_dir = directory.absolute()

    # -- building and changing ------------------------------------------------------------

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        embedder: str | Embedder | None = None,
        verify: bool = False,
    ) -> Index:
        """Open an index (default: :func:`default_index_path`). Sizes are always checked;
        ``verify=True`` also checks every file's sha256 (see ``ragchips verify``)."""
        directory = check_folder(path) if path is not None else default_index_path()
        if not directory.exists():
            raise IndexNotFoundError(
                f"no index at {directory}: build one with "
                f"'ragchips index PATH... --out {directory}'"
            )

        def load(manifest: dict[str, Any]) -> Index:
            check_sizes(directory, manifest, hashes=verify)
            recorded = manifest["embedder"]
            if not isinstance(recorded, dict) or not isinstance(recorded.get("name"), str):
                raise CorruptIndexError(f"{directory}: the manifest's embedder is malformed")
            emb = get_embedder(recorded if embedder is None else embedder)
            if emb.name != recorded["name"]:
                raise EmbedderMismatchError(
                    f"index {directory} was built with embedder {recorded['name']!r}, "
                    f"not {emb.name!r}; rebuild it or query it with {recorded['name']!r}"
                )
            return cls(directory, manifest, emb)

        return load_consistent(directory, load)

    # -- reading --------------------------------------------------------------------------

    def __len__(self) -> int:
        return self._n_live

    @property
    def generation(self) -> str:
        return str(self.manifest.get("generation", ""))

    @property
    def segments(self) -> list[Segment]:
        return list(self._segments)

    def _live_docs(self) -> Iterator[tuple[Segment, int]]:
        for seg, mask in zip(self._segments, self._alive):
            yield from ((seg, i) for i in self._live_of(seg, mask))

    @staticmethod
    def _live_of(seg: Segment, mask: np.ndarray | None) -> Iterator[int]:
        """The segment's documents that still have a live passage."""
        if mask is None:
            yield from range(seg.n_docs)
        else:
            live = np.zeros(seg.n_docs, dtype=bool)
            live[np.asarray(seg.rows[:, 0])[mask]] = True
            yield from (int(i) for i in np.flatnonzero(live))

    def doc_ids(self) -> list[str]:
        """Every document id (no document text is read)."""
        out: list[str] = []
        for seg, mask in zip(self._segments, self._alive):
            ids = seg.doc_ids()
            if mask is not None:
                live = np.zeros(seg.n_docs, dtype=bool)
                live[np.asarray(seg.rows[:, 0])[mask]] = True
                ids = [i for i, ok in zip(ids, live) if ok]
            out.extend(ids)
        return out

    def passage_counts(self) -> dict[str, int]:
        """Live passages per document (no document text is read)."""
        out: dict[str, int] = {}
        for seg, mask in zip(self._segments, self._alive):
            docs = np.asarray(seg.rows[:, 0]) if mask is None else np.asarray(seg.rows[:, 0])[mask]
            counts = np.bincount(docs, minlength=seg.n_docs)
            for doc_id, n in zip(seg.doc_ids(), counts.tolist()):
                if n:
                    out[doc_id] = n
        return out

    def document_passages(self, doc_id: str) -> list[Passage]:
        """The live passages of one document, in order."""
        found = self._locate(doc_id)
        if found is None:
            raise KeyError(f"no document {doc_id!r} in this index")
        s, i = found
        seg = self._segments[s]
        rows = np.flatnonzero(np.asarray(seg.rows[:, 0]) == i)
        return [self.passage(int(self._bases[s]) + int(r)) for r in rows]

    def _doc_hashes(self) -> dict[str, str]:
        return {doc_id: sha for doc_id, (_, sha) in self._doc_files().items()}

    def _doc_files(self) -> dict[str, tuple[str, str]]:
        """doc_id to (the file each document was read from, its content hash); "" for a
        document given in Python (no file of its own)."""
        out = {}
        for seg, mask in zip(self._segments, self._alive):
            files = seg.doc_files()
            if files is None:  # an older segment: its records hold them
                for i in self._live_of(seg, mask):
                    rec = seg.doc(i)
                    path = self._source(rec) if isinstance(rec.get("path"), str) else ""
                    out[rec["doc_id"]] = (path, rec["sha256"])
                continue
            ids = seg.doc_ids()
            for i in self._live_of(seg, mask):
                rel, sha = files[i]
                out[ids[i]] = ("" if rel is None else self._source({"path": rel}), sha)
        return out

    def iter_documents(self) -> Iterator[Document]:
        """Every document with its stored text, read one at a time."""
        for seg, i in self._live_docs():
            yield self._document(seg.doc(i))

    @property
    def documents(self) -> list[Document]:
        """Every document with its text (reads the whole collection: prefer iter_documents)."""
        return list(self.iter_documents())

    def _source(self, rec: dict[str, Any]) -> str:
        path = rec.get("path")
        if isinstance(path, str):
            return os.path.normpath(os.path.join(self._base_dir, path))
        return str(rec["source"])

    def _document(self, rec: dict[str, Any]) -> Document:
        return Document(
            doc_id=rec["doc_id"],
            source=self._source(rec),
            title=rec["title"],
            text=rec["text"],
            sha256=rec["sha256"],
            metadata=rec.get("metadata") or {},
        )

    def _locate(self, doc_id: str) -> tuple[int, int] | None:
        for s, (seg, mask) in enumerate(zip(self._segments, self._alive)):
            i = seg.find(doc_id)
            if i is not None and (mask is None or mask[np.asarray(seg.rows[:, 0]) == i].any()):
                return s, i
        return None

    def document(self, doc_id: str) -> Document:
        found = self._locate(doc_id)
        if found is None:
            raise KeyError(f"no document {doc_id!r} in this index")
        return self._document(self._segments[found[0]].doc(found[1]))

    def _where_row(self, row: int) -> tuple[Segment, int]:
        s = int(np.searchsorted(self._bases, row, side="right")) - 1
        return self._segments[s], row - int(self._bases[s])

    def passage(
        self, row: int, rank: int = 0, score: float = 0.0, confidence: float | None = None
    ) -> Passage:
        seg, local = self._where_row(int(row))
        d, a, b = (int(x) for x in seg.rows[local])
        rec = seg.doc(d)
        return Passage(
            rank=rank,
            score=score,
            text=rec["text"][a:b],
            doc_id=rec["doc_id"],
            source=self._source(rec),
            title=rec["title"],
            start=a,
            end=b,
            passage_id=int(seg.ids[local]),
            metadata=dict(rec.get("metadata") or {}),
            confidence=confidence,
        )

    @property
    def passages(self) -> list[Passage]:
        """Every live passage, in index order (``rank`` 0, ``score`` 0); reads every text."""
        out: list[Passage] = []
        for s, (seg, mask) in enumerate(zip(self._segments, self._alive)):
            rows = range(seg.n_rows) if mask is None else np.flatnonzero(mask)
            out.extend(self.passage(int(self._bases[s]) + int(r)) for r in rows)
        return out

    def _text(self, row: int) -> str:
        seg, local = self._where_row(row)
        d, a, b = (int(x) for x in seg.rows[local])
        return str(seg.doc(d)["text"][a:b])

    # -- searching ------------------------------------------------------------------------

    def _check_embedder(self) -> None:
        if self._probe_checked:
            return
        with self._probe_lock:
            if self._probe_checked:
                return
            check_embedder(self.embedder, self.manifest["embedder"])
            self._probe_checked = True

    def embed_query(self, question: str) -> np.ndarray:
        self._check_embedder()
        return embed_with(self.embedder, "embed_queries", [question])[0]

    def sentence_similarity(self, query_vector: np.ndarray) -> Callable[[list[str]], list[float]]:
        """Cosines of sentences to an embedded question, for the answer's sentence choice,
        when the embedder can embed a few sentences on the query path (``embed_sentences``;
        the default e5 does); otherwise a function that returns nothing."""
        embed = getattr(self.embedder, "embed_sentences", None)
        if embed is None:
            return lambda texts: []
        q = np.asarray(query_vector, dtype=np.float32).reshape(-1)
        return lambda texts: [float(x) for x in np.asarray(embed(texts)) @ q] if texts else []

    def search(
        self, question: str, k: int = 5, mode: str = "hybrid", where: Where | None = None
    ) -> list[Passage]:
        """The ``k`` best passages for ``question``, best first; none for a question with no
        word to search ("de la", "???"), as :func:`ragchips.ask` (its nearest passages by
        meaning would be noise)."""
        question = check_question(question)
        k = check_k(k)
        mode = check_mode(mode)
        query = Question.of(question)
        if not query.groups:
            self.allowed(where)  # a bad filter is an error here too, as in ask()
            return []
        hits = self.search_rows(query, k, mode, where=where)
        return [self.passage(h.row, rank=i + 1, score=h.score) for i, h in enumerate(hits)]

    # -- answering ------------------------------------------------------------------------

    @property
    def calibration(self) -> Calibration:
        """How this index decides ``found`` (see :mod:`ragchips.calibration`); read again
        when :meth:`reload` brings a manifest whose calibration changed."""
        recorded = self.manifest.get("calibration")
        if recorded != self._calibration_recorded:
            try:
                self._calibration = Calibration.from_dict(recorded)
            except ValueError as exc:
                raise CorruptIndexError(f"{self.path}: {exc}; rebuild the index") from exc
            self._calibration_recorded = recorded
        return self._calibration


def _check_spans(directory: Path, seg: Segment) -> None:
    """Refuse an index whose spans point outside their documents (an edited index)."""
    rows = np.asarray(seg.rows)
    if not len(rows):
        raise CorruptIndexError(f"{directory}: segment {seg.name} holds no passage")
    docs = rows[:, 0]
    if docs.min() < 0 or docs.max() >= seg.n_docs:
        raise CorruptIndexError(f"{directory}: passages point at missing documents")
    starts, ends = rows[:, 1], rows[:, 2]
    chars = np.asarray(seg.chars)
    if np.any(starts < 0) or np.any(starts >= ends) or np.any(ends > chars[docs]):
        raise CorruptIndexError(f"{directory}: a passage span lies outside its document")
