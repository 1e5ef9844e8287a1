"""Hybrid search of an open index: dense and BM25 candidates, fused, then the answer-type
bonus; and the per-question evidence ``found`` is decided on.

Why a separate module: :mod:`ragchips.index` opens an index and reads its passages;
this is everything a question does to it (a mixin of :class:`~ragchips.index.Index`, as
:mod:`ragchips.updates` is its writing half). Ranking itself lives in
:mod:`ragchips.ranking`, BM25 in :mod:`ragchips.lexical`, dense search in
:mod:`ragchips.dense`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .answertype import has_candidate
from .calibration import is_english
from .dense import query_threads, side_thread
from .errors import CorruptIndexError, InvalidQuestionError, NoMatchError
from .filters import BUILTIN_FIELDS, parse_where
from .lexical import FIELDS, live_count, score_fields
from .query import Question, Retrieval, agreement, coverage, rare_evidence
from .ranking import Candidates, Hit, Stats, fuse, lexical_candidates, rrf

if TYPE_CHECKING:
    from .calibration import Calibration
    from .segments import Segment

__all__ = ["FUSIONS", "WEIGHTS", "HybridSearch", "Where", "weights_for"]

Where = dict[str, Any]
# Answer-type bonus (in z-score units) and how many top passages it is applied to;
# measured on the seeds gold set and PIAF (tests/bench: README).
ANSWER_TYPE_BONUS = 0.5
RERANK_DEPTH = 30
FUSIONS = ("zscore", "rrf")
# Weights of the standardised signals in hybrid search (see ragchips.ranking).
WEIGHTS = {"dense": 1.75, "stems": 0.5, "forms": 0.5}
# An English question about French text (calibration.is_english): BM25 matches its words
# to unrelated French ones ("position", "style", "region") and to English titles ("the",
# "what", "time" are rare in French, so they weigh heavily) far more often than to the
# names it shares, so its lexical signals weigh a tenth as much. Tuned on English
# translations of 40 questions of PIAF's even articles and the seeds' even lines
# (tests/bench/bench_english.py, notes/english-retrieval.md): 0.1 and 0 tie on answers
# there, 0.1 has the better MRR. The more of the collection is English text, the more
# BM25 is worth to an English question again: the weight rises with that share.
ENGLISH_LEXICAL = 0.1
# English words nearly every English passage of a few lines holds, and French text almost
# never (only its English titles and quotes): 0.6% of PIAF's passages hold both, 5% of
# the Debian Reference's French chapters (English paragraphs left untranslated), 81% of
# eight English licences in /usr/share/common-licenses (notes/english-retrieval.md).
ENGLISH_MARKERS = ("the", "of")


def weights_for(query: Question, english_text: float = 0.0) -> dict[str, float]:
    """The fusion weights of a question: an English one leans on the multilingual model,
    the less the more of the collection (``english_text``, 0-1) is English."""
    return _english_weights(english_text) if is_english(query) else WEIGHTS


def _english_weights(english_text: float) -> dict[str, float]:
    lexical = ENGLISH_LEXICAL + (1.0 - ENGLISH_LEXICAL) * min(1.0, max(0.0, english_text))
    return {name: w if name == "dense" else w * lexical for name, w in WEIGHTS.items()}


# Dense candidates beyond the depth needed: more of them, fewer exact cosines to read.
DENSE_MARGIN = 40
# On the approximate path the last of these candidates is the bound fusion trusts for
# passages the ANN did not return. More candidates lower it, so fewer lexical candidates
# get their cosine read: 1,000 read 116 instead of 219 rows a question at 10^6, but lost
# 0.016 of recall@5 on PIAF with IVF forced (4 of 48 lists probed). Measured; kept at 200.
APPROX_DENSE = 200
LEXICAL_CAP = 1000
# From this many passages the dense search runs in a second thread beside BM25. Below it
# the hand-over costs what it saves: at 95,848 passages 2.0 ms p50 with the thread against
# 1.9 ms without, 2.6 ms of CPU against 1.9 (tests/bench/bench_scale.py).
PARALLEL_ROWS = 250_000


class HybridSearch:
    """The searching half of :class:`~ragchips.index.Index` (a mixin)."""

    if TYPE_CHECKING:
        manifest: dict[str, Any]
        _segments: list[Segment]
        _alive: list[np.ndarray | None]
        _dead: list[np.ndarray | None]
        _bases: np.ndarray
        _n_live: int
        _vsum: np.ndarray
        _vgram: np.ndarray
        _lengths: dict[str, float]

        @property
        def calibration(self) -> Calibration: ...
        def embed_query(self, question: str) -> np.ndarray: ...
        def _text(self, row: int) -> str: ...

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
        n_rows = int(self._bases[-1]) if len(self._bases) else 0
        pool = side_thread() if mode != "dense" and n_rows >= PARALLEL_ROWS else None
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
                filters = [None if a is live else a for a, live in zip(allowed, self._alive)]
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
            n_rows,
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
        if query_vector is None:
            query_vector = self.embed_query(query.text)
        cands, hits = self._ranked(
            query, k, mode, query_vector, self.weights_for(query, mode), where, "zscore"
        )
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
            query_vector,
        )

    def _stems_of(self, row: int) -> list[str]:
        """A passage's terms as the stemmed BM25 field sees them (found's evidence)."""
        return list(FIELDS["stems"][0](self._text(row)))

    def search_rows(
        self,
        question: str | Question,
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
        query = question if isinstance(question, Question) else Question.of(question)
        return self._ranked(
            query, k, mode, query_vector, weights or self.weights_for(query, mode), where, fusion
        )[1]

    def _ranked(
        self,
        query: Question,
        k: int,
        mode: str,
        query_vector: np.ndarray | None,
        weights: dict[str, float],
        where: Where | None,
        fusion: str,
    ) -> tuple[Candidates, list[Hit]]:
        """Embed (unless given), filter, gather candidates and rank them: the steps
        :meth:`retrieve` and :meth:`search_rows` share. Damaged data is said as such: sizes
        are checked at load, contents only by ``ragchips verify``, so a posting that points
        past the passages shows here first."""
        try:
            q = query_vector if query_vector is not None else self.embed_query(query.text)
            q = np.asarray(q, dtype=np.float32).reshape(-1)
            allowed = self.allowed(where)
            with query_threads():
                cands = self._candidates(query.text, q, max(k, RERANK_DEPTH), mode, allowed)
                return cands, self._rank(query, k, mode, cands, weights, fusion)
        except IndexError as exc:
            raise CorruptIndexError(
                f"index data out of range ({exc}); run 'ragchips verify' and rebuild the index"
            ) from exc

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

    def term_weights(self, terms: Sequence[str]) -> dict[str, float]:
        """How rare each term is in this collection (BM25 idf; unknown terms weigh 0)."""
        n = self._n_live
        out = {}
        for t in terms:
            df = self._document_frequency(t)
            out[t] = max(0.1, float(np.log1p((n - df + 0.5) / (df + 0.5)))) if df else 0.0
        return out

    def _document_frequency(self, term: str) -> int:
        df = 0
        for seg, mask, dead in zip(self._segments, self._alive, self._dead):
            hit = seg.postings["stems"].postings(term)
            if hit is not None:
                df += live_count(hit[0], mask, dead)
        return df

    def english_text(self) -> float:
        """About how much of the collection is English text: the share of live passages
        holding the rarer of ``ENGLISH_MARKERS`` (most for English text; for French text,
        the share of passages quoting English, 0.6% on PIAF, a quarter on a collection of
        album pages). Two postings lookups per English question, so it follows updates:
        0.1 ms on PIAF, ~2 ms on a 10^6-passage index with many deletions."""
        n = self._n_live
        if not n:
            return 0.0
        return min(self._document_frequency(w) for w in ENGLISH_MARKERS) / n

    def weights_for(self, query: Question, mode: str = "hybrid") -> dict[str, float]:
        """This collection's fusion weights for ``query`` (module :func:`weights_for`). Only
        hybrid fusion weighs one signal against another: a dense or lexical ranking's
        scores keep their scale, whatever the question's language."""
        if mode != "hybrid" or not is_english(query):
            return WEIGHTS
        return _english_weights(self.english_text())

    def best_dense(self, query_vector: np.ndarray, where: Where | None = None) -> float:
        """The highest cosine between the question and any (allowed) passage."""
        q = np.asarray(query_vector, dtype=np.float32).reshape(-1)
        best = -1.0
        for seg, mask in zip(self._segments, self.allowed(where)):
            _, sc = seg.dense.search(q, 1, mask)
            if len(sc):
                best = max(best, float(sc[0]))
        return best
