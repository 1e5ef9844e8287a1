"""The index: documents, their passages, a FAISS dense index and a French BM25 index.

Building reads and cleans the documents, chunks them into passages with exact spans, embeds
the passages and writes everything with :mod:`ragchips.storage`. Loading checks every file
against the manifest, and checks (once, before the first query) that the embedder at hand
is the model that built the index. Search fuses the dense and lexical rankings.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

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
from .reader import Document, read_documents
from .results import Passage
from .storage import load_consistent, verify_files, write_generation

__all__ = ["MAX_K", "MAX_QUESTION_CHARS", "MODES", "Index", "default_index_path"]

MODES = ("hybrid", "dense", "lexical")
MAX_K = 100
# A question is a sentence or a short paragraph; beyond this it is a pasted document, and
# the embedder would silently truncate it anyway.
MAX_QUESTION_CHARS = 2000
# Reciprocal rank fusion constant (Cormack et al. 2009).
RRF_K = 60
# How far down each ranking the fusion looks.
CANDIDATES = 100
DEFAULT_FUSION = "zscore"
DENSE_WEIGHT = 0.5
# found=True needs a dense similarity of at least dense_min and enough of the question's
# weighted terms in the top passages, or a dense similarity of dense_sure alone. Measured
# on the seeds gold set and off-topic questions (tests/bench/bench_found.py); an index can
# carry its own values under manifest["calibration"].
DEFAULT_CALIBRATION = {"dense_sure": 0.88, "dense_min": 0.80, "coverage_min": 0.5}


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
        rows: np.ndarray,
        dense: Any,
        lexical: Any,
        manifest: dict[str, Any],
        embedder: Embedder,
        path: Path | None = None,
    ) -> None:
        self.documents = documents
        self._rows = rows  # (n, 3) int64: document row, start, end
        self._dense = dense
        self._lexical = lexical
        self.manifest = manifest
        self.embedder = embedder
        self.path = path
        self._by_id = {d.doc_id: i for i, d in enumerate(documents)}
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
    ) -> Index:
        """Index files, folders or :class:`Document` objects; save to ``out`` if given."""
        from .lexical import LexicalIndex

        chunker = chunker or ChunkerSettings()
        items = list(sources)
        docs = [s for s in items if isinstance(s, Document)]
        paths = [s for s in items if not isinstance(s, Document)]
        if paths:
            docs.extend(read_documents(paths, on_skip=on_skip))
        if not docs:
            raise NoDocumentsError("no readable text to index (supported: .txt, .md)")
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
        row_array = np.asarray(rows, dtype=np.int64).reshape(-1, 3)
        texts = [docs[d].text[a:b] for d, a, b in rows]

        emb = get_embedder(embedder)
        done = 0

        def tick(n: int) -> None:
            nonlocal done
            done += n
            if progress is not None:
                progress(done, len(texts))

        embed_texts = [_embed_text(docs[d].title, t) for (d, _, _), t in zip(rows, texts)]
        vectors = emb.embed_passages(embed_texts, tick)
        if vectors.shape != (len(texts), emb.dim):
            raise RagchipsError(
                f"embedder returned shape {vectors.shape}, expected ({len(texts)}, {emb.dim})"
            )
        import faiss

        dense = faiss.IndexFlatIP(emb.dim)
        dense.add(np.ascontiguousarray(vectors, dtype=np.float32))
        lexical = LexicalIndex.build(embed_texts)

        identity = emb.identity()
        identity["probe"] = [round(float(x), 6) for x in emb.probe()]
        manifest: dict[str, Any] = {
            "embedder": identity,
            "chunker": chunker.to_dict(),
            "counts": {"documents": len(docs), "passages": len(rows)},
            "documents": [
                {"doc_id": d.doc_id, "source": d.source, "sha256": d.sha256} for d in docs
            ],
        }
        index = cls(docs, row_array, dense, lexical, manifest, emb)
        index._probe_checked = True
        if out is not None:
            index.save(out)
        return index

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the index atomically to ``path`` (see :mod:`ragchips.storage`)."""
        import faiss

        def write(folder: Path) -> None:
            with open(folder / "documents.jsonl", "w", encoding="utf-8") as f:
                for d in self.documents:
                    f.write(json.dumps(d.to_dict(), ensure_ascii=False) + "\n")
            np.save(folder / "passages.npy", self._rows, allow_pickle=False)
            faiss.write_index(self._dense, str(folder / "dense.faiss"))
            self._lexical.save(folder / "lexical")

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
        import faiss

        from .lexical import LexicalIndex

        folder = verify_files(directory, manifest, check_hashes=verify)
        recorded = manifest["embedder"]
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
            rows = np.load(folder / "passages.npy", allow_pickle=False)
            dense = faiss.read_index(str(folder / "dense.faiss"))
            lexical = LexicalIndex.load(folder / "lexical", mmap=True)
        except FileNotFoundError:
            raise
        except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
            raise CorruptIndexError(f"{directory}: cannot read index data ({exc})") from exc
        n = len(rows)
        if rows.ndim != 2 or rows.shape[1] != 3 or dense.ntotal != n or len(lexical) != n:
            raise CorruptIndexError(f"{directory}: passage, dense and lexical counts disagree")
        if int(recorded.get("dim", -1)) != dense.d:
            raise CorruptIndexError(f"{directory}: vector dimension differs from the manifest")
        if n and (rows[:, 0].max() >= len(documents) or rows[:, 0].min() < 0):
            raise CorruptIndexError(f"{directory}: passages point at missing documents")
        for d, a, b in rows:
            if not 0 <= a < b <= len(documents[d].text):
                raise CorruptIndexError(f"{directory}: a passage span is outside its document")
        return cls(documents, rows, dense, lexical, manifest, emb, directory)

    # -- reading --------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def generation(self) -> str:
        return str(self.manifest.get("generation", ""))

    def document(self, doc_id: str) -> Document:
        try:
            return self.documents[self._by_id[doc_id]]
        except KeyError:
            raise KeyError(f"no document {doc_id!r} in this index") from None

    def passage(self, row: int, rank: int = 0, score: float = 0.0) -> Passage:
        d, a, b = (int(x) for x in self._rows[row])
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
        return [self.passage(i) for i in range(len(self._rows))]

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

    def search_rows(
        self,
        question: str,
        k: int = 5,
        mode: str = "hybrid",
        query_vector: np.ndarray | None = None,
        fusion: str = DEFAULT_FUSION,
        dense_weight: float = DENSE_WEIGHT,
    ) -> list[Hit]:
        """Ranked passage rows; the building block of :meth:`search` and answers.

        Hybrid scores are a blend of the two signals, each standardised over the candidate
        passages (z-scores), or reciprocal rank fusion with ``fusion="rrf"``; measured on the
        seeds gold set and PIAF (see the README), the blend ranks better.
        """
        n = len(self._rows)
        pool = min(n, max(CANDIDATES, k))
        dense: dict[int, float] = {}
        lexical: np.ndarray | None = None
        if mode in ("hybrid", "dense"):
            q = query_vector if query_vector is not None else self.embed_query(question)
            q = np.ascontiguousarray(q.reshape(1, -1), dtype=np.float32)
            scores, ids = self._dense.search(q, pool)
            dense = {int(i): float(s) for i, s in zip(ids[0], scores[0]) if i >= 0}
        if mode in ("hybrid", "lexical"):
            lexical = self._lexical.scores(question)
        if mode == "dense":
            ranked = sorted(dense.items(), key=lambda x: (-x[1], x[0]))[:k]
            return [Hit(r, s, s, None) for r, s in ranked]
        assert lexical is not None
        lex_top = np.flatnonzero(lexical > 0)
        if lex_top.size > pool:
            lex_top = lex_top[np.argpartition(-lexical[lex_top], pool - 1)[:pool]]
        if mode == "lexical":
            order = sorted(lex_top.tolist(), key=lambda r: (-float(lexical[r]), r))[:k]
            return [Hit(r, float(lexical[r]), None, float(lexical[r])) for r in order]
        missing = [int(r) for r in lex_top if int(r) not in dense]
        if missing:
            vectors = np.stack([self._dense.reconstruct(r) for r in missing])
            for r, s in zip(missing, vectors @ q[0]):
                dense[r] = float(s)
        rows = np.fromiter(dense.keys(), dtype=np.int64, count=len(dense))
        d = np.fromiter(dense.values(), dtype=np.float64, count=len(dense))
        lx = lexical[rows].astype(np.float64)
        if fusion == "rrf":
            dr = np.argsort(np.argsort(-d, kind="stable"), kind="stable")
            lr = np.argsort(np.argsort(-lx, kind="stable"), kind="stable")
            fused = 1.0 / (RRF_K + dr + 1) + np.where(lx > 0, 1.0 / (RRF_K + lr + 1), 0.0)
        else:
            fused = dense_weight * _standardise(d) + (1 - dense_weight) * _standardise(lx)
        order = np.lexsort((rows, -fused))[:k]
        return [
            Hit(int(rows[i]), float(fused[i]), float(d[i]), float(lx[i])) for i in order
        ]

    def search(self, question: str, k: int = 5, mode: str = "hybrid") -> list[Passage]:
        """The ``k`` best passages for ``question``, best first."""
        question = check_question(question)
        k = check_k(k)
        mode = check_mode(mode)
        hits = self.search_rows(question, k, mode)
        return [self.passage(h.row, rank=i + 1, score=h.score) for i, h in enumerate(hits)]

    # -- answering ------------------------------------------------------------------------

    def lexical_terms(self, question: str) -> list[str]:
        """The question as the lexical index sees it (French analysis)."""
        return list(self._lexical.analyzer(question))

    def term_weights(self, terms: Sequence[str]) -> dict[str, float]:
        """How rare each term is in this collection (BM25 idf; unknown terms weigh 0)."""
        n = len(self._lexical)
        out = {}
        for t in terms:
            df = self._lexical.document_frequency(t)
            out[t] = max(0.1, float(np.log1p((n - df + 0.5) / (df + 0.5)))) if df else 0.0
        return out

    def is_answered(self, question: str, hits: Sequence[Hit]) -> bool:
        """Whether the best passages really answer: calibrated thresholds from the manifest."""
        if not hits:
            return False
        calib = {**DEFAULT_CALIBRATION, **self.manifest.get("calibration", {})}
        best_dense = max((h.dense for h in hits if h.dense is not None), default=None)
        if best_dense is None:
            q = self.embed_query(question)
            best_dense = float(np.max(self._vectors_of([h.row for h in hits]) @ q))
        terms = set(self.lexical_terms(question))
        weights = self.term_weights(sorted(terms))
        total = sum(weights.values())
        top_terms = set()
        for h in hits[:3]:
            top_terms |= set(self.lexical_terms(self.passage(h.row).text))
        covered = sum(w for t, w in weights.items() if t in top_terms)
        coverage = covered / total if total > 0 else 0.0
        if best_dense >= calib["dense_sure"]:
            return True
        return best_dense >= calib["dense_min"] and coverage >= calib["coverage_min"]

    def _vectors_of(self, rows: Sequence[int]) -> np.ndarray:
        return np.stack([self._dense.reconstruct(int(r)) for r in rows])
