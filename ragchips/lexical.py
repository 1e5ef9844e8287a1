"""BM25 over French terms, in segments that can be added and deleted without a rebuild.

Why not a ready-made engine: bm25s bakes idf and the average length into its matrix, so it
can neither add nor delete (bm25s#5); tantivy adds and deletes but keeps deleted documents in
its statistics until a merge and fixes k1 at 1.2, so an updated index would not rank like a
fresh build of the same collection. Here each segment stores raw term frequencies (one CSC
column per term) and passage lengths; the collection-wide statistics (live passages, their
total length, live document frequencies) are summed over segments at query time with the
deletions applied, so after any sequence of updates the scores equal those of a fresh build.

Scoring touches only the postings of the question's terms (passages sharing a term with it),
never the whole collection. The BM25 variant is Lucene's, as in bm25s's default, with the
same k1 and b as before, so rankings are unchanged: idf = ln(1 + (N - df + .5) / (df + .5)),
weight = idf * tf / (tf + k1 * (1 - b + b * dl / avgdl)).

Files of one field (``stems/`` or ``forms/`` inside a segment): the terms
(:mod:`ragchips.vocabulary`: term -> column, memory-mapped), ``indptr.npy`` (int64),
``rows.npy`` (int32, row within the segment), ``tf.npy`` (uint16 counts; float32 in
segments written before), ``lengths.npy`` (terms per row: uint8 or uint16 when they fit,
float32 in segments written before, compacted when loaded). ``.npy`` without pickle only.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .analysis import FrenchAnalyzer, analyze, analyze_query
from .scratch import group
from .vocabulary import Vocabulary

__all__ = [
    "DEFAULT_B",
    "DEFAULT_K1",
    "EXACT_ANALYZER",
    "FIELDS",
    "SETTINGS",
    "FieldPostings",
    "LexicalMatches",
    "LexicalScores",
    "build_postings",
    "live_count",
    "merge_postings",
    "score_field",
    "score_fields",
]

DEFAULT_K1 = 0.9
"""BM25 k1, chosen on PIAF (tests/bench/bench_lexical.py): 0.6-0.9 beat 1.2-2.0 on MRR@10 by
~0.01 over paragraphs; 0.9 keeps recall@5 (0.6 loses ~0.01)."""
DEFAULT_B = 0.75
"""BM25 b, the usual value: PIAF is flat in b (0.3-0.9 within 0.005 MRR@10 at k1=0.9)."""

# The exact-form field: accents folded, no stemming. Next to the stemmed field it rewards
# the very word forms of the question ("la puce" over "les puces").
EXACT_ANALYZER = FrenchAnalyzer(stem=False, accents="stem_then_fold")

Analyzer = Callable[[str], list[str]]
# Field name -> (analyzer for passages, analyzer for questions as groups of alternatives).
FIELDS: dict[str, tuple[Analyzer, Callable[[str], list[list[str]]]]] = {
    "stems": (analyze, analyze_query),
    "forms": (EXACT_ANALYZER, EXACT_ANALYZER.query_groups),
}

# What the manifest records of the lexical side.
SETTINGS = {"k1": DEFAULT_K1, "b": DEFAULT_B, "fields": list(FIELDS)}


@dataclass
class FieldPostings:
    """One field of one segment: term frequencies by term, and passage lengths."""

    vocab: Vocabulary
    indptr: np.ndarray
    rows: np.ndarray
    tf: np.ndarray
    lengths: np.ndarray

    def __len__(self) -> int:
        return len(self.lengths)

    def postings(self, term: str) -> tuple[np.ndarray, np.ndarray] | None:
        col = self.vocab.get(term)
        if col is None:
            return None
        a, b = int(self.indptr[col]), int(self.indptr[col + 1])
        return self.rows[a:b], self.tf[a:b]

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.vocab.save(folder)
        for name in ("indptr", "rows", "tf", "lengths"):
            np.save(folder / f"{name}.npy", getattr(self, name), allow_pickle=False)

    @classmethod
    def load(cls, folder: Path) -> FieldPostings:
        vocab = Vocabulary.load(folder)
        # Plain ndarray views of the maps: slicing a np.memmap costs ~10 us a slice, and a
        # question slices every posting list it touches.
        arrays = {
            name: np.asarray(np.load(folder / f"{name}.npy", mmap_mode="r", allow_pickle=False))
            for name in ("indptr", "rows", "tf", "lengths")
        }
        if arrays["lengths"].dtype == np.float32:  # written before lengths were compacted
            arrays["lengths"] = compact_lengths(arrays["lengths"])
        p = cls(vocab, **arrays)
        if p.lengths.dtype not in (np.uint8, np.uint16, np.float32):
            raise ValueError(f"{folder}: passage lengths are neither uint8, uint16 nor float32")
        if len(p.indptr) != len(vocab) + 1:
            raise ValueError(f"{folder}: vocabulary and postings disagree")
        if p.tf.dtype not in (np.uint16, np.float32):
            raise ValueError(f"{folder}: term frequencies are neither uint16 nor float32")
        if int(p.indptr[-1]) != len(p.rows) or len(p.rows) != len(p.tf):
            raise ValueError(f"{folder}: postings arrays disagree")
        return p


def build_postings(texts: Sequence[str], analyzer: Analyzer) -> FieldPostings:
    """Analyse ``texts`` (one per row) into a term-frequency CSC."""
    vocab: dict[str, int] = {}
    cols = array("q")
    lengths = np.zeros(len(texts), dtype=np.float32)
    for r, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"passages must be str, got {type(text).__name__}")
        terms = analyzer(text)
        lengths[r] = len(terms)
        cols.extend([vocab.setdefault(t, len(vocab)) for t in terms])
    rows = np.repeat(np.arange(len(texts), dtype=np.int64), lengths.astype(np.int64))
    return _to_csc(
        vocab,
        np.frombuffer(cols, dtype=np.int64) if len(cols) else np.zeros(0, np.int64),
        rows,
        np.ones(len(cols), dtype=np.float32),
        lengths,
    )


def _to_csc(
    vocab: dict[str, int],
    cols: np.ndarray,
    rows: np.ndarray,
    tf: np.ndarray,
    lengths: np.ndarray,
) -> FieldPostings:
    """Sum duplicate (term, row) pairs and sort by term then row."""
    n_rows = max(len(lengths), 1)
    if len(cols):
        key = cols * n_rows + rows
        uniq, inverse = np.unique(key, return_inverse=True)
        sums = np.bincount(inverse, weights=tf)
        ucols, urows = uniq // n_rows, uniq % n_rows
    else:
        sums = np.zeros(0, np.float32)
        ucols = urows = np.zeros(0, np.int64)
    # Counts fit 16 bits (half the bytes a question reads of float32); anything else, such
    # as a count past 65,535 in one passage, stays float32.
    small = len(sums) == 0 or (sums.max() <= 65535 and np.array_equal(sums, np.round(sums)))
    sums = sums.astype(np.uint16 if small else np.float32)
    indptr = np.zeros(len(vocab) + 1, dtype=np.int64)
    np.cumsum(np.bincount(ucols, minlength=len(vocab)), out=indptr[1:])
    terms = Vocabulary.from_terms(sorted(vocab, key=vocab.__getitem__))
    return FieldPostings(terms, indptr, urows.astype(np.int32), sums, compact_lengths(lengths))


def compact_lengths(lengths: np.ndarray) -> np.ndarray:
    """Passage lengths (term counts) in the smallest type that holds them exactly.

    Why: BM25 reads the length of every posting's passage, at random; at 10^6 passages one
    byte a passage (1 MB, which stays in a core's cache) instead of float32 (4 MB) took that
    gather from 0.67 to 0.22 ms a question for both fields (measured here)."""
    a = np.asarray(lengths)
    if not len(a) or not np.all(np.isfinite(a)) or a.min() < 0:
        return a
    for small in (np.uint8, np.uint16):
        if a.max() <= np.iinfo(small).max and np.array_equal(a, np.round(a)):
            return a.astype(small)
    return a


def merge_postings(parts: Sequence[tuple[FieldPostings, np.ndarray]]) -> FieldPostings:
    """One field of a merged segment: each part with its kept rows (bool mask), in order."""
    vocab: dict[str, int] = {}
    all_cols, all_rows, all_tf, all_len = [], [], [], []
    offset = 0
    for p, keep in parts:
        new_row = np.cumsum(keep) - 1 + offset
        terms = list(p.vocab)  # column order
        gmap = np.asarray([vocab.setdefault(t, len(vocab)) for t in terms], dtype=np.int64)
        counts = np.diff(np.asarray(p.indptr))
        cols = np.repeat(gmap, counts)
        rows = np.asarray(p.rows, dtype=np.int64)
        live = keep[rows]
        all_cols.append(cols[live])
        all_rows.append(new_row[rows[live]])
        all_tf.append(np.asarray(p.tf, dtype=np.float32)[live])
        all_len.append(np.asarray(p.lengths)[keep])
        offset += int(keep.sum())
    used = np.zeros(len(vocab), dtype=bool)
    cols = np.concatenate(all_cols) if all_cols else np.zeros(0, np.int64)
    used[cols] = True
    # Drop terms whose every posting was deleted, renumbering columns in first-seen order.
    renum = np.cumsum(used) - 1
    terms = [t for t, c in sorted(vocab.items(), key=lambda kv: kv[1]) if used[c]]
    return _to_csc(
        {t: i for i, t in enumerate(terms)},
        renum[cols],
        np.concatenate(all_rows) if all_rows else np.zeros(0, np.int64),
        np.concatenate(all_tf) if all_tf else np.zeros(0, np.float32),
        np.concatenate(all_len) if all_len else np.zeros(0, np.float32),
    )


@dataclass
class LexicalScores:
    """BM25 scores of the passages that share a term with the question, per segment.

    ``rows[s]``/``scores[s]``: matching live rows of segment ``s`` (distinct, in no
    particular order) and their scores.
    ``total`` and ``total_sq``: sums of the scores and of their squares over the whole
    collection (non-matching passages score 0), which give its mean and deviation.
    """

    rows: list[np.ndarray]
    scores: list[np.ndarray]
    total: float
    total_sq: float


@dataclass
class LexicalMatches:
    """BM25 of several fields at once: per segment, the live rows that match any field
    (distinct, in no particular order) and each field's scores aligned with them (0 where
    that field has no match); per field, the collection-wide sums of scores and squares."""

    rows: list[np.ndarray]
    scores: list[dict[str, np.ndarray]]
    total: dict[str, float]
    total_sq: dict[str, float]


# A query term's live postings in each segment (rows, tf), and its idf.
Postings = tuple[list[tuple[np.ndarray, np.ndarray]], float]


def _live_terms(
    groups: list[list[str]],
    segments: Sequence[FieldPostings],
    alive: Sequence[np.ndarray | None],
    n_live: int,
    dead: Sequence[np.ndarray | None] | None = None,
) -> dict[str, Postings]:
    """Every query term that matches a live passage: its live postings per segment, and
    its idf from the live document frequency (deleted passages count nowhere)."""
    out: dict[str, Postings] = {}
    empty = (np.zeros(0, np.int32), np.zeros(0, np.float32))
    for term in dict.fromkeys(t for g in groups for t in g if t):
        per_seg = []
        count = 0
        for s, (seg, mask) in enumerate(zip(segments, alive)):
            hit = seg.postings(term)
            if hit is None:
                per_seg.append(empty)
                continue
            rows, tf = hit
            if mask is not None:
                keep = _live_mask(rows, mask, dead[s] if dead is not None else None)
                if keep is not None:
                    rows, tf = rows[keep], tf[keep]
            per_seg.append((rows, tf))
            count += len(rows)
        if count:
            out[term] = (per_seg, float(np.log1p((n_live - count + 0.5) / (count + 0.5))))
    return out


def _live_mask(rows: np.ndarray, alive: np.ndarray, dead: np.ndarray | None) -> np.ndarray | None:
    """Which of a posting list's rows (ascending) are live; None when all are.

    Why: between compactions a few passages are deleted (``dead``: their rows, ascending);
    finding them by binary search costs a few microseconds, where gathering the live mask
    at every posting cost a pass over the whole list."""
    if dead is None or 16 * len(dead) >= len(rows):
        return alive[rows]
    at = np.searchsorted(rows, dead)
    inside = at < len(rows)
    drop = at[inside][rows[at[inside]] == dead[inside]]
    if not len(drop):
        return None
    keep = np.ones(len(rows), dtype=bool)
    keep[drop] = False
    return keep


def live_count(rows: np.ndarray, alive: np.ndarray | None, dead: np.ndarray | None) -> int:
    """How many of a posting list's rows (ascending) are live (see :func:`_live_mask`)."""
    keep = None if alive is None else _live_mask(rows, alive, dead)
    return len(rows) if keep is None else int(np.count_nonzero(keep))


def score_fields(
    question: str,
    segments: Sequence[dict[str, FieldPostings]],
    alive: Sequence[np.ndarray | None],
    n_live: int,
    lengths: dict[str, float],
    fields: Sequence[str] = tuple(FIELDS),
    k1: float = DEFAULT_K1,
    b: float = DEFAULT_B,
    dead: Sequence[np.ndarray | None] | None = None,
) -> LexicalMatches:
    """BM25 of ``question`` over ``fields`` of every segment, with live statistics.

    ``alive[s]`` is the live-row mask of segment ``s`` (None: no deletion), ``dead[s]`` the
    same as its deleted rows in ascending order (optional, faster when few). A word of the
    question counts once per passage, with its best alternative term. The fields share one
    set of matching rows, so fusion needs no union of its own.

    Why this shape: at 10^6 passages a question reads ~70,000 postings spread over the
    collection, and what costs is random access to collection-sized arrays. The postings of
    every field are grouped by row once (:func:`ragchips.scratch.group`: two random passes),
    then each field is summed with ``np.bincount`` into an array the size of the matches."""
    groups = {f: FIELDS[f][1](question) for f in fields}
    out = LexicalMatches([], [], dict.fromkeys(fields, 0.0), dict.fromkeys(fields, 0.0))
    terms = {
        f: _live_terms(groups[f], [seg[f] for seg in segments], alive, n_live, dead)
        if n_live
        else {}
        for f in fields
    }
    for s, seg in enumerate(segments):
        # Every posting list of this segment the question touches: (field, word, rows, tf, idf).
        lists = [
            (f, w, *terms[f][t][0][s], terms[f][t][1])
            for f in fields
            for w, g in enumerate(groups[f])
            for t in dict.fromkeys(t for t in g if t in terms[f])
            if len(terms[f][t][0][s][0])
        ]
        if not lists:
            out.rows.append(np.zeros(0, np.int64))
            out.scores.append({f: np.zeros(0) for f in fields})
            continue
        n = len(seg[fields[0]])
        every = np.concatenate([x[2] for x in lists])
        rows, slots = group(every, n)
        sizes = np.asarray([len(x[2]) for x in lists], dtype=np.int64)
        ends = np.cumsum(sizes)
        starts = ends - sizes
        scores: dict[str, np.ndarray] = {}
        for f in fields:
            mine = [i for i, x in enumerate(lists) if x[0] == f]  # contiguous: by field
            if not mine:
                scores[f] = np.zeros(len(rows))
                continue
            lo, hi = int(starts[mine[0]]), int(ends[mine[-1]])
            avgdl = lengths[f] / n_live if lengths[f] > 0 else 1.0
            norm_a, norm_b = k1 * (1 - b), k1 * b / avgdl
            # One vectorised pass over the field's postings (per list, numpy's call
            # overhead cost more than the arithmetic).
            tf = np.concatenate([lists[i][3] for i in mine]).astype(np.float32, copy=False)
            idf = np.repeat(np.asarray([lists[i][4] for i in mine], np.float32), sizes[mine])
            length = np.take(seg[f].lengths, every[lo:hi]).astype(np.float32, copy=False)
            weight = idf * tf / (tf + (norm_a + norm_b * length))
            where = slots[lo:hi]
            words: dict[int, list[int]] = {}
            for i in mine:
                words.setdefault(lists[i][1], []).append(i)
            several = [ids for ids in words.values() if len(ids) > 1]
            single = weight
            if several:
                single = weight.copy()
                for i in (i for ids in several for i in ids):
                    single[int(starts[i]) - lo : int(ends[i]) - lo] = 0.0
            total: np.ndarray = np.bincount(where, weights=single, minlength=len(rows))
            for ids in several:  # the word's best alternative per row
                best = np.zeros(len(rows), dtype=np.float32)
                for i in ids:
                    a, z = int(starts[i]) - lo, int(ends[i]) - lo
                    np.maximum.at(best, where[a:z], weight[a:z])
                total += best
            scores[f] = total
            out.total[f] += float(total.sum())
            out.total_sq[f] += float(np.square(total).sum())
        out.rows.append(np.asarray(rows, dtype=np.int64))
        out.scores.append(scores)
    return out


def score_field(
    question: str,
    field: str,
    segments: Sequence[FieldPostings],
    alive: Sequence[np.ndarray | None],
    n_live: int,
    total_length: float,
    k1: float = DEFAULT_K1,
    b: float = DEFAULT_B,
) -> LexicalScores:
    """BM25 of ``question`` over one field of every segment (see :func:`score_fields`)."""
    m = score_fields(
        question,
        [{field: p} for p in segments],
        alive,
        n_live,
        {field: total_length},
        (field,),
        k1,
        b,
    )
    return LexicalScores(m.rows, [sc[field] for sc in m.scores], m.total[field], m.total_sq[field])
