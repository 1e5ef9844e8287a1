"""The index: segments of passages with exact spans, searched by meaning and by French terms.

Opening an index reads its manifest, checks every file's size and maps the arrays into
memory; no document text is read until a passage is shown, so opening costs about the
same at 10^3 and 10^6 passages. Changes (:meth:`Index.add`, :meth:`update`, :meth:`delete`,
:meth:`sync`) go through :mod:`ragchips.writer` under the writer lock and take effect in one
atomic step; an open Index sees them after :meth:`reload` (``ask()`` and the service reload
by themselves). Ranking lives in :mod:`ragchips.ranking`.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .answertype import has_candidate
from .calibration import Calibration
from .dense import DenseConfig, query_threads, side_thread
from .embedding import Embedder, check_embedder, get_embedder
from .errors import (
    CorruptIndexError,
    EmbedderMismatchError,
    IndexNotFoundError,
    InvalidQuestionError,
    NoMatchError,
)
from .filters import BUILTIN_FIELDS, parse_where
from .lexical import FIELDS, score_fields
from .query import Question, Retrieval, agreement, coverage, rare_evidence
from .ranking import Candidates, Hit, Stats, fuse, lexical_candidates, rrf
from .reader import Document
from .results import Passage
from .segments import Segment
from .storage import check_sizes, load_consistent
from .updates import IndexUpdates
from .writer import read_state

__all__ = ["MAX_K", "MAX_QUESTION_CHARS", "MODES", "Hit", "Index", "Where", "default_index_path"]

MODES = ("hybrid", "dense", "lexical")
Where = dict[str, Any]
MAX_K = 100
# A question is a sentence or a short paragraph; beyond this it is a pasted document, and
# the embedder would silently truncate it anyway.
MAX_QUESTION_CHARS = 2000
# Answer-type bonus (in z-score units) and how many top passages it is applied to;
# measured on the seeds gold set and PIAF (tests/bench: README).
ANSWER_TYPE_BONUS = 0.5
RERANK_DEPTH = 30
FUSIONS = ("zscore", "rrf")
# Weights of the standardised signals in hybrid search (see ragchips.ranking).
WEIGHTS = {"dense": 1.75, "stems": 0.5, "forms": 0.5}
# Dense candidates beyond the depth needed: more of them, fewer exact cosines to read.
DENSE_MARGIN = 40
# On the approximate path: the IVF lists scanned hold ~8,000 vectors whatever the list's
# length, so 1,000 candidates cost little more than 200 and leave fewer lexical candidates
# whose cosine must be read (at 10^6, 219 -> 116 rows a question).
APPROX_DENSE = 1000
LEXICAL_CAP = 1000
# From this many passages the dense search runs in a second thread beside BM25 (below it,
# the hand-over costs more than the scan).
PARALLEL_ROWS = 50_000


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


def check_mode(mode: object) -> str:
    if mode not in MODES:
        raise InvalidQuestionError(f"unknown mode {mode!r}: use one of {', '.join(MODES)}")
    return str(mode)


class Index(IndexUpdates):
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
        directory = Path(path) if path is not None else default_index_path()
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
            if mask is None:
                yield from ((seg, i) for i in range(seg.n_docs))
            else:
                live = np.zeros(seg.n_docs, dtype=bool)
                live[np.asarray(seg.rows[:, 0])[mask]] = True
                yield from ((seg, int(i)) for i in np.flatnonzero(live))

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
        return {(rec := seg.doc(i))["doc_id"]: rec["sha256"] for seg, i in self._live_docs()}

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
        return self.embedder.embed_queries([question])[0]

    def allowed(self, where: Where | None) -> list[np.ndarray | None]:
        """Per segment, the rows a question may return: live, and matching ``where``."""
        conditions = parse_where(where)
        if not conditions:
            return list(self._alive)
        known = set(self.manifest.get("fields", [])) | set(BUILTIN_FIELDS)
        for c in conditions:
            if c.field not in known:
                raise InvalidQuestionError(
                    f"no document has a field {c.field!r}; fields: {', '.join(sorted(known))}"
                )
        out: list[np.ndarray | None] = []
        any_left = False
        for seg, alive in zip(self._segments, self._alive):
            docs = np.ones(seg.n_docs, dtype=bool)
            for c in conditions:
                if c.field == "doc_id":
                    hit = np.zeros(seg.n_docs, dtype=bool)
                    for key in c.keys:
                        i = seg.find(key)
                        if i is not None:
                            hit[i] = True
                    docs &= hit
                    continue
                column = seg.column(c.field)
                docs &= (
                    column.matching_docs(c, seg.n_docs)
                    if column is not None
                    else np.zeros(seg.n_docs, dtype=bool)
                )
            rows = docs[np.asarray(seg.rows[:, 0])]
            if alive is not None:
                rows &= alive
            any_left = any_left or bool(rows.any())
            out.append(rows)
        if not any_left:
            raise NoMatchError(f"no document matches where={where!r}")
        return out

    def _candidates(
        self,
        question: str,
        q: np.ndarray,
        depth: int,
        mode: str,
        allowed: list[np.ndarray | None],
    ) -> Candidates:
        approximate = any(seg.dense.ann is not None for seg in self._segments)
        # The approximate path takes a longer dense list and reads the exact cosines of at
        # most LEXICAL_CAP lexical candidates (the list a vector store and a BM25 engine
        # would hand to fusion); the exact path needs neither.
        m = max(depth + DENSE_MARGIN, APPROX_DENSE) if approximate else depth + DENSE_MARGIN
        dense_rows = sum(seg.n_rows for seg in self._segments)
        pool = side_thread() if mode != "dense" and dense_rows >= PARALLEL_ROWS else None
        # The dense search runs beside BM25 in a second thread when it is worth a thread's
        # hand-over (FAISS and numpy's products release the GIL).
        pending = pool.submit(self._dense, q, m, allowed) if pool is not None else None
        lex_rows = np.zeros(0, np.int64)
        lexical: dict[str, np.ndarray] = {}
        lex_stats: dict[str, Stats] = {}
        try:
            if mode != "dense":
                matches = score_fields(
                    question,
                    [s.postings for s in self._segments],
                    self._alive,
                    self._n_live,
                    self._lengths,
                    dead=self._dead,
                )
                # Deleted rows are already out of the matches: only a ``where=`` filters.
                filters = [None if a is m else a for a, m in zip(allowed, self._alive)]
                lex_rows, lexical = lexical_candidates(matches, self._bases, filters)
                lex_stats = {
                    f: Stats.from_sums(matches.total[f], matches.total_sq[f], self._n_live)
                    for f in matches.total
                }
        finally:
            # Waited for even when BM25 fails: no search may outlive this call.
            found = pending.result() if pending is not None else None
        all_rows, all_scores, complete = found or self._dense(q, m, allowed)
        order = np.lexsort((all_rows, -all_scores))[:m]
        complete = complete and len(all_rows) <= m  # nothing cut when merging segments
        n = max(self._n_live, 1)
        mean = float(q @ self._vsum) / n
        sq = float(q @ self._vgram @ q) / n
        return Candidates(
            all_rows[order],
            all_scores[order],
            complete,
            Stats.from_moments(mean, sq),
            lex_rows,
            lexical,
            lex_stats,
            lambda r: self._cosines(r, q),
            int(self._bases[-1]) if len(self._bases) else 0,
            LEXICAL_CAP if approximate else None,
        )

    def _dense(
        self, q: np.ndarray, m: int, allowed: list[np.ndarray | None]
    ) -> tuple[np.ndarray, np.ndarray, bool]:
        """Every segment's ``m`` best allowed rows (global numbers) and their cosines, and
        whether that is every allowed row of an exact segment (nothing left unscored)."""
        rows, scores, complete = [], [], True
        for s, (seg, mask) in enumerate(zip(self._segments, allowed)):
            r, sc = seg.dense.search(q, m, mask)
            rows.append(r + int(self._bases[s]))
            scores.append(sc)
            limit = seg.n_rows if mask is None else int(np.count_nonzero(mask))
            complete = complete and len(r) >= limit and seg.dense.ann is None
        all_rows = np.concatenate(rows) if rows else np.zeros(0, np.int64)
        all_scores = np.concatenate(scores) if scores else np.zeros(0, np.float32)
        return all_rows, all_scores, complete

    def _cosines(self, rows: np.ndarray, q: np.ndarray) -> np.ndarray:
        out = np.empty(len(rows), dtype=np.float32)
        seg_of = np.searchsorted(self._bases, rows, side="right") - 1
        for s in np.unique(seg_of):
            pick = seg_of == s
            out[pick] = self._segments[s].dense.cosines(rows[pick] - self._bases[s], q)
        return out

    def retrieve(
        self,
        question: str | Question,
        k: int = 5,
        mode: str = "hybrid",
        where: Where | None = None,
        query_vector: np.ndarray | None = None,
    ) -> Retrieval:
        """One pass of a question: the question analysed once, its ranked rows, the best
        cosine among the allowed passages (what ``found`` is decided on), its terms' weights,
        the first passage's share of them and the calibration, from one embedding and one
        filter evaluation (``query_vector``: the question already embedded)."""
        query = question if isinstance(question, Question) else Question.of(question)
        q = query_vector if query_vector is not None else self.embed_query(query.text)
        q = np.asarray(q, dtype=np.float32).reshape(-1)
        allowed = self.allowed(where)
        with query_threads():
            cands = self._candidates(query.text, q, max(k, RERANK_DEPTH), mode, allowed)
            hits = self._rank(query, k, mode, cands, WEIGHTS, "zscore")
        best = float(cands.dense_scores[0]) if len(cands.dense_scores) else -1.0
        # On the approximate path a lexical candidate may be closer than any dense one.
        best = max([best, *(h.dense for h in hits if h.dense is not None)])
        weights = self.term_weights(query.terms)
        held = self._stems_of(hits[0].row) if hits else []
        cover = coverage(query, weights, held, self._n_live)
        rare = rare_evidence(query, weights, held, self._n_live)
        agree = agreement(cands.dense_rows, cands.lexical_rows, cands.lexical, cands.lexical_stats)
        return Retrieval(
            query,
            mode,
            hits,
            best,
            weights,
            self.calibration,
            cover,
            rare,
            self._stems_of,
            self._n_live,
            agree,
        )

    def _stems_of(self, row: int) -> list[str]:
        """A passage's terms as the stemmed BM25 field sees them (found's evidence)."""
        return list(FIELDS["stems"][0](self._text(row)))

    def search_rows(
        self,
        question: str,
        k: int = 5,
        mode: str = "hybrid",
        query_vector: np.ndarray | None = None,
        weights: dict[str, float] | None = None,
        where: Where | None = None,
        fusion: str = "zscore",
    ) -> list[Hit]:
        """Ranked passage rows; the building block of :meth:`search` and answers."""
        if fusion not in FUSIONS:
            raise InvalidQuestionError(
                f"unknown fusion {fusion!r}: use one of {', '.join(FUSIONS)}"
            )
        q = query_vector if query_vector is not None else self.embed_query(question)
        q = np.asarray(q, dtype=np.float32).reshape(-1)
        allowed = self.allowed(where)
        query = Question.of(question)
        with query_threads():
            cands = self._candidates(question, q, max(k, RERANK_DEPTH), mode, allowed)
            return self._rank(query, k, mode, cands, weights or WEIGHTS, fusion)

    def _rank(
        self,
        question: Question,
        k: int,
        mode: str,
        cands: Candidates,
        weights: dict[str, float],
        fusion: str,
    ) -> list[Hit]:
        if mode != "hybrid":
            names = ("dense",) if mode == "dense" else ("stems", "forms")
            weights = {n: weights.get(n) or 1.0 for n in names}
        depth = max(k, RERANK_DEPTH) if mode == "hybrid" else k
        if fusion == "rrf" and mode == "hybrid":
            rows, scores = rrf(cands, depth)
            extra: dict[str, np.ndarray] = {}
        else:
            rows, scores, extra = fuse(cands, mode, depth, weights)
        scores = scores.copy()
        if mode == "hybrid":
            self._answer_type_bonus(question, rows[:RERANK_DEPTH], scores)
        order = np.lexsort((rows, -scores))[:k]
        dense, stems = extra.get("dense"), extra.get("stems")
        return [
            Hit(
                int(rows[i]),
                float(scores[i]),
                None if dense is None else float(dense[i]),
                None if stems is None else float(stems[i]),
            )
            for i in order
        ]

    def _answer_type_bonus(self, question: Question, rows: np.ndarray, scores: np.ndarray) -> None:
        """Among the best candidates, favour passages holding the kind of answer asked for
        (a date for "quand", a name for "qui"...; see :mod:`ragchips.answertype`)."""
        kind = question.kind
        if kind is None:
            return
        for i, row in enumerate(rows.tolist()):
            if has_candidate(kind, question.words, self._text(row)):
                scores[i] += ANSWER_TYPE_BONUS

    def search(
        self, question: str, k: int = 5, mode: str = "hybrid", where: Where | None = None
    ) -> list[Passage]:
        """The ``k`` best passages for ``question``, best first."""
        question = check_question(question)
        k = check_k(k)
        mode = check_mode(mode)
        hits = self.search_rows(question, k, mode, where=where)
        return [self.passage(h.row, rank=i + 1, score=h.score) for i, h in enumerate(hits)]

    # -- answering ------------------------------------------------------------------------

    def lexical_terms(self, question: str) -> list[str]:
        """The question as the lexical index sees it (French analysis)."""
        return list(FIELDS["stems"][0](question))

    def term_weights(self, terms: Sequence[str]) -> dict[str, float]:
        """How rare each term is in this collection (BM25 idf; unknown terms weigh 0)."""
        n = self._n_live
        out = {}
        for t in terms:
            df = 0
            for seg, mask in zip(self._segments, self._alive):
                hit = seg.postings["stems"].postings(t)
                if hit is not None:
                    df += len(hit[0]) if mask is None else int(mask[hit[0]].sum())
            out[t] = max(0.1, float(np.log1p((n - df + 0.5) / (df + 0.5)))) if df else 0.0
        return out

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

    def best_dense(self, query_vector: np.ndarray, where: Where | None = None) -> float:
        """The highest cosine between the question and any (allowed) passage."""
        q = np.asarray(query_vector, dtype=np.float32).reshape(-1)
        best = -1.0
        for seg, mask in zip(self._segments, self.allowed(where)):
            _, sc = seg.dense.search(q, 1, mask)
            if len(sc):
                best = max(best, float(sc[0]))
        return best


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
