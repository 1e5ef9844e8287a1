"""BM25 lexical index over passages, built with bm25s and our French analyzer.

Why: dense retrieval misses exact names, numbers and rare words; BM25 over
:func:`ragchips.analysis.analyze` terms catches them, and its full score vector feeds
fusion with the dense scores. bm25s builds the index (its eager sparse matrix of
precomputed BM25 weights); we only hand it pre-analysed token lists, so our analyzer is
used at index and query time instead of bm25s's English tokenizer. Queries against a
loaded index are scored by :class:`_Postings` with numpy alone (the same sums as bm25s),
so the query path never imports bm25s or scipy.

Persistence: bm25s saves its CSC arrays with ``np.save(allow_pickle=False)`` and its
vocabulary and parameters as JSON (checked in bm25s 0.3.x source, and by the tests, which
reload every file with ``allow_pickle=False``). We add ``lexical.json`` with our own
metadata (format version, row count, analyzer options), written last, so a directory
without it is an incomplete save.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ragchips.analysis import FRENCH_STOP_WORDS, FrenchAnalyzer, analyze, analyze_query

__all__ = ["DEFAULT_B", "DEFAULT_K1", "LexicalIndex"]

Analyzer = Callable[[str], list[str]]
QueryAnalyzer = Callable[[str], list[list[str]]]

DEFAULT_K1 = 0.9
"""BM25 k1, chosen on PIAF (tests/bench/bench_lexical.py): 0.6-0.9 beat 1.2-2.0 on
MRR@10 by ~0.01 over paragraphs; 0.9 keeps recall@5 (0.6 loses ~0.01)."""
DEFAULT_B = 0.75
"""BM25 b, the usual value: PIAF is flat in b (0.3-0.9 within 0.005 MRR@10 at k1=0.9)."""

_META_NAME = "lexical.json"
_FORMAT = 1


def _describe_analyzer(analyzer: Analyzer) -> dict[str, Any] | None:
    """JSON description of a FrenchAnalyzer (or ``analyze``), None for anything else."""
    if analyzer is analyze:
        analyzer = FrenchAnalyzer()
    if not isinstance(analyzer, FrenchAnalyzer):
        return None
    stop = analyzer.stop_words
    return {
        "class": "FrenchAnalyzer",
        "accents": analyzer.accents,
        "hyphens": analyzer.hyphens,
        "stem": analyzer.stem,
        "stop_words": (
            None if stop is None else "french" if stop == FRENCH_STOP_WORDS else sorted(stop)
        ),
    }


def _rebuild_analyzer(desc: dict[str, Any] | None) -> Analyzer:
    """Inverse of :func:`_describe_analyzer`."""
    if desc is None or desc.get("class") != "FrenchAnalyzer":
        raise ValueError(
            "this index was built with a custom analyzer: pass the same one to load(analyzer=...)"
        )
    stop = desc["stop_words"]
    stop_words = (
        None if stop is None else FRENCH_STOP_WORDS if stop == "french" else frozenset(stop)
    )
    analyzer = FrenchAnalyzer(
        accents=desc["accents"], hyphens=desc["hyphens"], stem=desc["stem"], stop_words=stop_words
    )
    return analyze if analyzer == FrenchAnalyzer() else analyzer


def _query_analyzer(analyzer: Analyzer) -> QueryAnalyzer:
    """Grouped query terms: FrenchAnalyzer's word groups, else one group per term."""
    if analyzer is analyze:
        return analyze_query
    if isinstance(analyzer, FrenchAnalyzer):
        return analyzer.query_groups
    return lambda text: [[term] for term in analyzer(text)]


def _bm25s() -> Any:
    """bm25s, imported only to build an index: it pulls in scipy (~0.3 s), which the query
    path does without (see :class:`_Postings`)."""
    with warnings.catch_warnings():
        # bm25s imports tqdm's notebook bar; without ipywidgets, tqdm warns in notebooks.
        warnings.filterwarnings("ignore", message=".*IProgress not found.*")
        import bm25s
    return bm25s


# The files bm25s's BM25.save writes (checked against bm25s 0.3.x).
_ARRAYS = ("data", "indices", "indptr")
_PARAMS = "params.index.json"
_VOCAB = "vocab.index.json"


class _Postings:
    """A saved bm25s index, read with numpy alone: its eager BM25 matrix (CSC, one column
    per term) and vocabulary. Scoring a query adds up the columns of its terms, exactly as
    bm25s's numpy backend does for the Lucene variant, without importing bm25s or scipy."""

    def __init__(self, directory: Path, mmap: bool) -> None:
        params = json.loads((directory / _PARAMS).read_text(encoding="utf-8"))
        if params.get("method") != "lucene":
            raise ValueError(f"{directory}: unsupported BM25 variant {params.get('method')!r}")
        self.vocab_dict: dict[str, int] = json.loads(
            (directory / _VOCAB).read_text(encoding="utf-8")
        )
        mode = "r" if mmap else None
        self.scores: dict[str, Any] = {
            name: np.load(directory / f"{name}.csc.index.npy", mmap_mode=mode, allow_pickle=False)
            for name in _ARRAYS
        }
        self.scores["num_docs"] = int(params["num_docs"])
        self._directory = directory
        indptr = self.scores["indptr"]
        if len(indptr) != len(self.vocab_dict) + 1 or int(indptr[-1]) != len(self.scores["data"]):
            raise ValueError(f"{directory}: BM25 arrays and vocabulary disagree")

    def get_scores_from_ids(self, ids: list[int]) -> np.ndarray:
        data, indices, indptr = (self.scores[n] for n in _ARRAYS)
        out = np.zeros(self.scores["num_docs"], dtype=np.float32)
        for t in ids:
            start, end = int(indptr[t]), int(indptr[t + 1])
            # A column holds each document at most once: plain fancy-index addition is exact.
            out[indices[start:end]] += data[start:end]
        return out

    def save(self, directory: Path, **_: Any) -> None:
        import shutil

        for name in (*(f"{n}.csc.index.npy" for n in _ARRAYS), _PARAMS, _VOCAB):
            shutil.copyfile(self._directory / name, directory / name)


class LexicalIndex:
    """BM25 index over a fixed list of passages; rows are the positions in ``texts``."""

    def __init__(self, bm25: Any, analyzer: Analyzer, meta: dict[str, Any] | None = None) -> None:
        """Wrap an indexed ``bm25s.BM25`` or :class:`_Postings`; use :meth:`build` or
        :meth:`load` instead."""
        self._bm25 = bm25
        self._analyzer = analyzer
        self._query_groups = _query_analyzer(analyzer)
        self._vocab: dict[str, int] = bm25.vocab_dict
        self._n = int(bm25.scores["num_docs"])
        self._meta = meta or {}

    @classmethod
    def build(
        cls,
        texts: Sequence[str],
        analyzer: Analyzer = analyze,
        k1: float = DEFAULT_K1,
        b: float = DEFAULT_B,
    ) -> LexicalIndex:
        """Analyse and index ``texts`` (Lucene BM25 variant). Empty ``texts``: ValueError."""
        if len(texts) == 0:
            raise ValueError("cannot build a lexical index over an empty corpus")
        vocab: dict[str, int] = {}
        ids: list[list[int]] = []
        for text in texts:
            if not isinstance(text, str):
                raise TypeError(f"passages must be str, got {type(text).__name__}")
            ids.append([vocab.setdefault(term, len(vocab)) for term in analyzer(text)])
        no_terms = not vocab
        if no_terms:
            # bm25s cannot build a zero-column matrix; one unused term keeps shapes valid.
            vocab[""] = 0
        bm25s = _bm25s()
        bm25 = bm25s.BM25(k1=k1, b=b, method="lucene")
        # Deterministic vocabulary (first occurrence order), so equal inputs give equal files.
        # With no term at all, bm25s divides 0 by a zero average length: harmless, silenced.
        with np.errstate(invalid="ignore" if no_terms else "warn"):
            bm25.index(
                bm25s.tokenization.Tokenized(ids=ids, vocab=vocab),
                create_empty_token=False,
                show_progress=False,
            )
        meta = {
            "format": _FORMAT,
            "num_docs": len(texts),
            "k1": k1,
            "b": b,
            "analyzer": _describe_analyzer(analyzer),
        }
        return cls(bm25, analyzer, meta)

    def save(self, directory: Path) -> None:
        """Write the index to ``directory`` as .npy arrays and JSON (no pickle)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        meta_path = directory / _META_NAME
        meta_path.unlink(missing_ok=True)
        self._bm25.save(directory, allow_pickle=False, show_progress=False)
        tmp = meta_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self._meta, ensure_ascii=False, indent=1), encoding="utf-8")
        tmp.replace(meta_path)

    @classmethod
    def load(
        cls, directory: Path, mmap: bool = True, analyzer: Analyzer | None = None
    ) -> LexicalIndex:
        """Read an index written by :meth:`save`; arrays are memory-mapped if ``mmap``.

        ``analyzer`` defaults to the one recorded at build time; it is required when the
        index was built with a custom callable.
        """
        directory = Path(directory)
        meta_path = directory / _META_NAME
        if not meta_path.is_file():
            raise FileNotFoundError(f"no lexical index in {directory} (missing {_META_NAME})")
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("format") != _FORMAT:
            raise ValueError(f"unsupported lexical index format {meta.get('format')!r}")
        if analyzer is None:
            analyzer = _rebuild_analyzer(meta.get("analyzer"))
        bm25 = _Postings(directory, mmap)
        if int(bm25.scores["num_docs"]) != meta["num_docs"]:
            raise ValueError(f"{directory}: bm25s row count differs from {_META_NAME}")
        return cls(bm25, analyzer, meta)

    def __len__(self) -> int:
        """Number of indexed passages (rows)."""
        return self._n

    @property
    def analyzer(self) -> Analyzer:
        """The analyzer applied to queries (the one used at build time)."""
        return self._analyzer

    def document_frequency(self, term: str) -> int:
        """Number of rows containing the analysed ``term`` (0 if unknown)."""
        i = self._vocab.get(term)
        if i is None:
            return 0
        indptr = self._bm25.scores["indptr"]
        return int(indptr[i + 1] - indptr[i])

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every row for ``query`` (float32, length ``len(self)``; 0 = no match).

        Sum over query words of bm25s's BM25 weights; a word with alternative terms
        (accented and folded stems, see :meth:`FrenchAnalyzer.query_groups`) counts once,
        with its best-scoring alternative. A word repeated in the query counts twice.
        """
        vocab = self._vocab
        singles: list[int] = []
        alternatives: list[list[int]] = []
        for group in self._query_groups(query):
            ids = list(dict.fromkeys(vocab[t] for t in group if t and t in vocab))
            if len(ids) == 1:
                singles.append(ids[0])
            elif ids:
                alternatives.append(ids)
        if not singles and not alternatives:
            return np.zeros(self._n, dtype=np.float32)
        get = self._bm25.get_scores_from_ids
        total = np.zeros(self._n, dtype=np.float32)
        if singles:
            total += get(singles)
        for ids in alternatives:
            total += np.maximum.reduce([get([i]) for i in ids])
        return total

    def _allowed_mask(self, allowed: np.ndarray) -> np.ndarray:
        """Boolean row mask from a boolean mask or an array of row ids."""
        allowed = np.asarray(allowed)
        if allowed.dtype == bool:
            if allowed.shape != (self._n,):
                raise ValueError(f"allowed mask has shape {allowed.shape}, expected ({self._n},)")
            return allowed
        if allowed.size and not np.issubdtype(allowed.dtype, np.integer):
            raise TypeError(f"allowed must be a boolean mask or int row ids, not {allowed.dtype}")
        rows = allowed.astype(np.int64, copy=False).ravel()
        if rows.size and (rows.min() < 0 or rows.max() >= self._n):
            raise IndexError(f"allowed row ids must be in [0, {self._n})")
        mask = np.zeros(self._n, dtype=bool)
        mask[rows] = True
        return mask

    def search(
        self, query: str, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` rows matching ``query``: (row ids int64, scores float32), best first.

        Only rows sharing at least one term with the query are returned (so possibly fewer
        than ``k``, and none for a query without known terms). ``allowed`` (boolean mask of
        length ``len(self)`` or array of row ids) restricts results to those rows. Ties are
        broken by row id.
        """
        if k < 0:
            raise ValueError(f"k must be >= 0, got {k}")
        empty = (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32))
        mask = None if allowed is None else self._allowed_mask(allowed)
        if k == 0:
            return empty
        scores = self.scores(query)
        hits = scores > 0
        if mask is not None:
            hits &= mask
        rows = np.flatnonzero(hits)
        if rows.size == 0:
            return empty
        if rows.size > k:
            rows = rows[np.argpartition(-scores[rows], k - 1)[:k]]
        rows = rows[np.lexsort((rows, -scores[rows]))]
        return rows.astype(np.int64), scores[rows]
