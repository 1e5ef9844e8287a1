"""The index: documents, their passages, a FAISS dense index and two French BM25 indexes.

Building reads and cleans the documents, chunks them into passages with exact spans, embeds
the passages and writes everything with :mod:`ragchips.storage`. Loading checks every file
against the manifest, and checks (once, before the first query) that the embedder at hand
is the model that built the index. Search fuses the dense and lexical rankings.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .analysis import FrenchAnalyzer
from .answertype import answer_type, has_candidate
from .calibration import DEFAULT as DEFAULT_CALIBRATION
from .calibration import Calibration
from .chunking import ChunkerSettings, chunk_spans
from .cleaning import clean
from .embedding import PROBE_MIN_COSINE, Embedder, get_embedder
from .errors import (
    CorruptIndexError,
    EmbedderMismatchError,
    IndexNotFoundError,
    InvalidQuestionError,
    NoDocumentsError,
    RagchipsError,
)
from .lexical import LexicalIndex
from .reader import Document, read_documents
from .results import Passage
from .storage import load_consistent, verify_files, write_generation

__all__ = ["MAX_K", "MAX_QUESTION_CHARS", "MODES", "Index", "Where", "default_index_path"]

MODES = ("hybrid", "dense", "lexical")
Where = dict[str, Any]
MAX_K = 100
# A question is a sentence or a short paragraph; beyond this it is a pasted document, and
# the embedder would silently truncate it anyway.
MAX_QUESTION_CHARS = 2000
# Reciprocal rank fusion constant (Cormack et al. 2009), for fusion="rrf".
RRF_K = 60
# Answer-type bonus (in z-score units) and how many top passages it is applied to;
# measured on the seeds gold set and PIAF (tests/bench: README).
ANSWER_TYPE_BONUS = 0.5
RERANK_DEPTH = 30
FUSIONS = ("zscore", "rrf")
# Weights of the standardised signals in hybrid search (see Index.search_rows).
WEIGHTS = {"dense": 1.75, "lexical": 0.5, "exact": 0.5}


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


@dataclass(frozen=True)
class Hit:
    """One scored passage row, before it becomes a :class:`Passage`."""

    row: int
    score: float
    dense: float | None
    lexical: float | None


# The exact-form lexical index: accents folded, no stemming. Next to the stemmed index
# it rewards the very word forms of the question ("la puce" over "les puces").
EXACT_ANALYZER = FrenchAnalyzer(stem=False, accents="stem_then_fold")


REQUIRED_FILES = (
    "documents.jsonl",
    "passages.npy",
    "dense.faiss",
    "lexical/lexical.json",
    "exact/lexical.json",
)


@dataclass
class Store:
    """The passages of an index and their three search structures.

    ``rows`` is (n, 3) int64: (document, start, end), offsets into the document text.
    ``dense`` is a flat FAISS inner-product index; ``lexical`` BM25 over French stems;
    ``exact`` BM25 over folded word forms.
    """

    rows: np.ndarray
    dense: Any
    lexical: LexicalIndex
    exact: LexicalIndex

    def __post_init__(self) -> None:
        import faiss

        n, d = self.dense.ntotal, self.dense.d
        # A view on FAISS's own storage: exact scores for every row, no copy.
        self.vectors = (
            faiss.rev_swig_ptr(self.dense.get_xb(), n * d).reshape(n, d)
            if n
            else np.zeros((0, d), dtype=np.float32)
        )

    def __len__(self) -> int:
        return len(self.rows)

    def save(self, folder: Path) -> None:
        import faiss

        np.save(folder / "passages.npy", self.rows, allow_pickle=False)
        faiss.write_index(self.dense, str(folder / "dense.faiss"))
        self.lexical.save(folder / "lexical")
        self.exact.save(folder / "exact")

    @classmethod
    def load(cls, folder: Path) -> Store:
        import faiss

        rows = np.load(folder / "passages.npy", allow_pickle=False)
        dense = faiss.read_index(str(folder / "dense.faiss"))
        lexical = LexicalIndex.load(folder / "lexical", mmap=True)
        exact = LexicalIndex.load(folder / "exact", mmap=True)
        if not isinstance(dense, faiss.IndexFlat):
            raise ValueError("dense.faiss is not a flat index")
        if rows.ndim != 2 or rows.shape[1] != 3 or rows.dtype != np.int64:
            raise ValueError(f"passages.npy has shape {rows.shape}, expected (n, 3) int64")
        if not dense.ntotal == len(rows) == len(lexical) == len(exact):
            raise ValueError("passage, vector and lexical counts disagree")
        return cls(rows, dense, lexical, exact)


def _standardise(x: np.ndarray) -> np.ndarray:
    std = float(x.std())
    return (x - x.mean()) / std if std > 1e-12 else np.zeros_like(x)


def _embed_text(title: str, text: str) -> str:
    """What the embedder sees for a passage: its document title gives it context."""
    if title and not text.startswith(title):
        return f"{title}\n{text}"
    return text


class Index:
    """A searchable collection. Build with :meth:`build`, open with :meth:`load`."""

    def __init__(
        self,
        documents: list[Document],
        store: Store,
        manifest: dict[str, Any],
        embedder: Embedder,
        path: Path | None = None,
    ) -> None:
        self.documents = documents
        self._store = store
        self.manifest = manifest
        self.embedder = embedder
        self.path = path
        self._by_id = {d.doc_id: i for i, d in enumerate(documents)}
        try:
            self._calibration = Calibration.from_dict(manifest.get("calibration"))
        except ValueError as exc:
            raise CorruptIndexError(f"{path or 'index'}: {exc}; rebuild the index") from exc
        self._probe_checked = False
        self._probe_lock = threading.Lock()

    # -- building -------------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        sources: Iterable[str | os.PathLike[str] | Document],
        *,
        embedder: str | Embedder | None = None,
        chunker: ChunkerSettings | None = None,
        out: str | os.PathLike[str] | None = None,
        on_skip: Callable[[str, str], None] | None = None,
        progress: Callable[[int, int], None] | None = None,
        calibration: Calibration | None = None,
    ) -> Index:
        """Index files, folders or :class:`Document` objects; save to ``out`` if given."""
        import faiss

        from .lexical import LexicalIndex

        chunker = chunker or ChunkerSettings()
        items = list(sources)
        docs = [s for s in items if isinstance(s, Document)]
        paths = [s for s in items if not isinstance(s, Document)]
        if paths:
            docs.extend(read_documents(paths, on_skip=on_skip))
        if not docs:
            raise NoDocumentsError(
                "no readable text to index (supported: .txt, .md, .html, .jsonl)"
            )
        ids = [d.doc_id for d in docs]
        if len(set(ids)) != len(ids):
            dup = sorted({i for i in ids if ids.count(i) > 1})
            raise RagchipsError(f"doc_id given twice: {', '.join(dup[:5])}")

        rows: list[tuple[int, int, int]] = []
        for i, doc in enumerate(docs):
            segments = clean(doc.text).segments
            rows.extend((i, a, b) for a, b in chunk_spans(doc.text, segments, chunker))
        if not rows:
            raise NoDocumentsError("the documents contain no body text to index")
        texts = [_embed_text(docs[d].title, docs[d].text[a:b]) for d, a, b in rows]
        emb = get_embedder(embedder)
        done = 0

        def tick(n: int) -> None:
            nonlocal done
            done += n
            if progress is not None:
                progress(done, len(texts))

        vectors = emb.embed_passages(texts, tick)
        if vectors.shape != (len(texts), emb.dim):
            raise RagchipsError(
                f"embedder returned shape {vectors.shape}, expected ({len(texts)}, {emb.dim})"
            )
        dense = faiss.IndexFlatIP(emb.dim)
        dense.add(np.ascontiguousarray(vectors, dtype=np.float32))
        store = Store(
            np.asarray(rows, dtype=np.int64).reshape(-1, 3),
            dense,
            LexicalIndex.build(texts),
            LexicalIndex.build(texts, analyzer=EXACT_ANALYZER),
        )

        identity = emb.identity()
        identity["probe"] = [round(float(x), 6) for x in emb.probe()]
        manifest: dict[str, Any] = {
            "embedder": identity,
            "chunker": chunker.to_dict(),
            "counts": {"documents": len(docs), "passages": len(rows)},
            "calibration": (calibration or DEFAULT_CALIBRATION).to_dict(),
            "documents": [
                {"doc_id": d.doc_id, "source": d.source, "sha256": d.sha256} for d in docs
            ],
        }
        index = cls(docs, store, manifest, emb)
        index._probe_checked = True
        if out is not None:
            index.save(out)
        return index

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the index atomically to ``path`` (see :mod:`ragchips.storage`)."""

        def write(folder: Path) -> None:
            with open(folder / "documents.jsonl", "w", encoding="utf-8") as f:
                for d in self.documents:
                    f.write(json.dumps(d.to_dict(), ensure_ascii=False) + "\n")
            self._store.save(folder)

        target = Path(path)
        self.manifest = write_generation(target, write, self.manifest)
        self.path = target

    # -- loading --------------------------------------------------------------------------

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        embedder: str | Embedder | None = None,
        verify: bool = True,
    ) -> Index:
        """Open an index (default: :func:`default_index_path`), checking every file."""
        directory = Path(path) if path is not None else default_index_path()
        if not directory.exists():
            raise IndexNotFoundError(
                f"no index at {directory}: build one with "
                f"'ragchips index PATH... --out {directory}'"
            )
        return load_consistent(directory, lambda m: cls._load_files(directory, m, embedder, verify))

    @classmethod
    def _load_files(
        cls,
        directory: Path,
        manifest: dict[str, Any],
        embedder: str | Embedder | None,
        verify: bool,
    ) -> Index:
        folder = verify_files(directory, manifest, check_hashes=verify)
        listed = set(manifest["files"])
        unlisted = [f for f in REQUIRED_FILES if f not in listed]
        if unlisted:
            raise CorruptIndexError(
                f"{directory}: the manifest does not list {', '.join(unlisted)}; rebuild the index"
            )
        recorded = manifest["embedder"]
        if not isinstance(recorded, dict) or not isinstance(recorded.get("name"), str):
            raise CorruptIndexError(f"{directory}: the manifest's embedder is malformed")
        if embedder is None:
            emb = get_embedder(recorded)
        else:
            emb = get_embedder(embedder)
            if emb.name != recorded.get("name"):
                raise EmbedderMismatchError(
                    f"index {directory} was built with embedder {recorded.get('name')!r}, "
                    f"not {emb.name!r}; rebuild it or query it with {recorded.get('name')!r}"
                )
        try:
            documents = []
            with open(folder / "documents.jsonl", encoding="utf-8") as f:
                for line in f:
                    d = json.loads(line)
                    documents.append(
                        Document(
                            doc_id=d["doc_id"],
                            source=d["source"],
                            title=d["title"],
                            text=d["text"],
                            sha256=d["sha256"],
                            metadata=d.get("metadata") or {},
                        )
                    )
            store = Store.load(folder)
        except FileNotFoundError:
            raise
        except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
            raise CorruptIndexError(f"{directory}: cannot read index data ({exc})") from exc
        if int(recorded.get("dim", -1)) != store.dense.d:
            raise CorruptIndexError(f"{directory}: vector dimension differs from the manifest")
        _check_spans(directory, store.rows, [len(d.text) for d in documents])
        return cls(documents, store, manifest, emb, directory)

    # -- reading --------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._store)

    @property
    def generation(self) -> str:
        return str(self.manifest.get("generation", ""))

    def doc_ids(self) -> list[str]:
        """Every document id, in index order (cheap: no document text is read)."""
        return [d.doc_id for d in self.documents]

    def iter_documents(self) -> Iterator[Document]:
        """Every document with its stored text, read one at a time."""
        yield from self.documents

    def document(self, doc_id: str) -> Document:
        try:
            return self.documents[self._by_id[doc_id]]
        except KeyError:
            raise KeyError(f"no document {doc_id!r} in this index") from None

    def passage(self, row: int, rank: int = 0, score: float = 0.0) -> Passage:
        d, a, b = (int(x) for x in self._store.rows[row])
        doc = self.documents[d]
        return Passage(
            rank=rank,
            score=score,
            text=doc.text[a:b],
            doc_id=doc.doc_id,
            source=doc.source,
            title=doc.title,
            start=a,
            end=b,
            passage_id=int(row),
            metadata=dict(doc.metadata),
        )

    @property
    def passages(self) -> list[Passage]:
        """Every stored passage, in document order (``rank`` 0, ``score`` 0)."""
        return [self.passage(i) for i in range(len(self._store))]

    # -- searching ------------------------------------------------------------------------

    def _check_embedder(self) -> None:
        if self._probe_checked:
            return
        with self._probe_lock:
            if self._probe_checked:
                return
            recorded = self.manifest["embedder"].get("probe")
            if recorded:
                ref = np.asarray(recorded, dtype=np.float32)
                now = self.embedder.probe()
                if ref.shape != now.shape:
                    raise EmbedderMismatchError(
                        f"the index holds {ref.shape[0]}-d vectors but embedder "
                        f"{self.embedder.name!r} makes {now.shape[0]}-d ones; rebuild the index"
                    )
                cos = float(ref @ now / (np.linalg.norm(ref) * np.linalg.norm(now) + 1e-12))
                if cos < PROBE_MIN_COSINE:
                    raise EmbedderMismatchError(
                        f"embedder {self.embedder.name!r} does not produce the vectors this index "
                        f"was built with (probe cosine {cos:.2f}); rebuild the index"
                    )
            self._probe_checked = True

    def embed_query(self, question: str) -> np.ndarray:
        self._check_embedder()
        return self.embedder.embed_queries([question])[0]

    def features(
        self,
        question: str,
        mode: str = "hybrid",
        query_vector: np.ndarray | None = None,
        dense: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        """Every signal for every passage: dense cosine, BM25 on stems, BM25 on word forms.

        ``dense`` passes cosines already computed for ``query_vector``."""
        out: dict[str, np.ndarray] = {}
        if mode in ("hybrid", "dense"):
            if dense is None:
                q = query_vector if query_vector is not None else self.embed_query(question)
                dense = self._store.vectors @ np.asarray(q, dtype=np.float32).reshape(-1)
            out["dense"] = dense
        if mode in ("hybrid", "lexical"):
            out["lexical"] = self._store.lexical.scores(question).astype(np.float64)
            out["exact"] = self._store.exact.scores(question).astype(np.float64)
        return out

    def retrieve(
        self, question: str, k: int = 5, mode: str = "hybrid", where: Where | None = None
    ) -> tuple[list[Hit], float]:
        """Ranked rows, and the best cosine among the allowed passages (what ``found`` is
        decided on), from one embedding, one cosine pass and one filter evaluation."""
        q = np.asarray(self.embed_query(question), dtype=np.float32).reshape(-1)
        mask = self.filter_mask(where)
        dense = self._store.vectors @ q
        hits = self._rank(question, k, mode, q, dense, mask, WEIGHTS, "zscore")
        return hits, _best_allowed(dense, mask)

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
        """Ranked passage rows; the building block of :meth:`search` and answers.

        Each signal is standardised over the collection (z-scores) and the signals are
        added with :data:`WEIGHTS`; measured on PIAF and the seeds gold set (README), this
        ranks better than reciprocal rank fusion (``fusion="rrf"``) and than any signal
        alone. Then the best candidates holding the kind of answer asked for get a bonus.
        """
        mask = self.filter_mask(where)
        return self._rank(question, k, mode, query_vector, None, mask, weights or WEIGHTS, fusion)

    def _rank(
        self,
        question: str,
        k: int,
        mode: str,
        query_vector: np.ndarray | None,
        dense: np.ndarray | None,
        mask: np.ndarray | None,
        weights: dict[str, float],
        fusion: str,
    ) -> list[Hit]:
        """:meth:`search_rows` once the filter (and maybe the cosines) are known."""
        if mask is not None and not mask.any():
            return []
        if fusion not in FUSIONS:
            raise InvalidQuestionError(
                f"unknown fusion {fusion!r}: use one of {', '.join(FUSIONS)}"
            )
        feats = self.features(question, mode, query_vector, dense)
        fused = np.zeros(len(self._store))
        for name, values in feats.items():
            w = weights.get(name, 0.0)
            if mode != "hybrid":
                w = w or 1.0
            if w and fusion == "rrf":
                ranks = np.empty(len(values))
                ranks[np.argsort(-values, kind="stable")] = np.arange(len(values))
                fused += 1.0 / (RRF_K + ranks + 1)
            elif w:
                fused += w * _standardise(values)
        if mode == "lexical":
            fused[(feats["lexical"] <= 0) & (feats["exact"] <= 0)] = -np.inf
        if mask is not None:
            fused[~mask] = -np.inf
        if mode == "hybrid":
            self._answer_type_bonus(question, fused)
        k = min(k, len(fused))
        top = np.argpartition(-fused, k - 1)[:k] if k < len(fused) else np.arange(len(fused))
        top = top[np.isfinite(fused[top])]
        order = top[np.lexsort((top, -fused[top]))]
        dense = feats.get("dense")
        lexical = feats.get("lexical")
        return [
            Hit(
                int(r),
                float(fused[r]),
                None if dense is None else float(dense[r]),
                None if lexical is None else float(lexical[r]),
            )
            for r in order
        ]

    def filter_mask(self, where: Where | None) -> np.ndarray | None:
        """Passages whose document matches every ``field: value`` (a list means any of)."""
        if not where:
            return None
        if not isinstance(where, dict):
            raise InvalidQuestionError("where must be a mapping of field names to values")
        known = {"doc_id", "source", "title"}
        for d in self.documents:
            known.update(d.metadata)
        for field_name in where:
            if field_name not in known:
                raise InvalidQuestionError(
                    f"no document has a field {field_name!r}; fields: {', '.join(sorted(known))}"
                )
        ok = np.fromiter(
            (all(_matches(_field(d, f), v) for f, v in where.items()) for d in self.documents),
            dtype=bool,
            count=len(self.documents),
        )
        return ok[self._store.rows[:, 0]]

    def _answer_type_bonus(self, question: str, fused: np.ndarray) -> None:
        """Among the best candidates, favour passages holding the kind of answer asked for
        (a date for "quand", a name for "qui"...; see :mod:`ragchips.answertype`)."""
        kind = answer_type(question)
        if kind is None:
            return
        n = min(RERANK_DEPTH, len(fused))
        top = np.argpartition(-fused, n - 1)[:n] if n < len(fused) else np.arange(len(fused))
        for row in top:
            if np.isfinite(fused[row]) and has_candidate(kind, question, self._text(row)):
                fused[row] += ANSWER_TYPE_BONUS

    def _text(self, row: int) -> str:
        d, a, b = self._store.rows[row]
        return self.documents[int(d)].text[int(a) : int(b)]

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
        return list(self._store.lexical.analyzer(question))

    def term_weights(self, terms: Sequence[str]) -> dict[str, float]:
        """How rare each term is in this collection (BM25 idf; unknown terms weigh 0)."""
        lex = self._store.lexical
        n = len(lex)
        out = {}
        for t in terms:
            df = lex.document_frequency(t)
            out[t] = max(0.1, float(np.log1p((n - df + 0.5) / (df + 0.5)))) if df else 0.0
        return out

    @property
    def calibration(self) -> Calibration:
        """How this index decides ``found`` (see :mod:`ragchips.calibration`)."""
        return self._calibration

    def best_dense(self, query_vector: np.ndarray, where: Where | None = None) -> float:
        """The highest cosine between the question and any (allowed) passage."""
        scores = self._store.vectors @ np.asarray(query_vector, dtype=np.float32).reshape(-1)
        return _best_allowed(scores, self.filter_mask(where))


def _best_allowed(scores: np.ndarray, mask: np.ndarray | None) -> float:
    """The highest score among the allowed rows (-1 when none is allowed)."""
    allowed = scores if mask is None else scores[mask]
    return float(allowed.max()) if allowed.size else -1.0


def _field(doc: Document, name: str) -> Any:
    if name in ("doc_id", "source", "title"):
        return getattr(doc, name)
    return doc.metadata.get(name, _MISSING)


_MISSING = object()


def _same(a: Any, b: Any) -> bool:
    """Equality that lets ``--where year=2020`` match the number 2020."""
    return a == b or (not isinstance(a, bool | type(None)) and str(a) == str(b))


def _matches(value: Any, wanted: Any) -> bool:
    if value is _MISSING:
        return False
    wanted_values = list(wanted) if isinstance(wanted, list | tuple | set | frozenset) else [wanted]
    values = value if isinstance(value, list) else [value]
    return any(_same(v, w) for v in values for w in wanted_values)


def _check_spans(directory: Path, rows: np.ndarray, lengths: list[int]) -> None:
    """Refuse an index whose spans point outside their documents (an edited index)."""
    if not len(rows):
        raise CorruptIndexError(f"{directory}: the index holds no passage")
    docs = rows[:, 0]
    if docs.min() < 0 or docs.max() >= len(lengths):
        raise CorruptIndexError(f"{directory}: passages point at missing documents")
    starts, ends = rows[:, 1], rows[:, 2]
    if np.any(starts < 0) or np.any(starts >= ends) or np.any(ends > np.asarray(lengths)[docs]):
        raise CorruptIndexError(f"{directory}: a passage span lies outside its document")
