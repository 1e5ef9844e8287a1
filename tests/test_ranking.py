"""Fusion from candidate lists gives exactly what scoring every passage would."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from test_writer import WORDS

from ragchips import Index
from ragchips.embedding import HashEmbedder
from ragchips.lexical import FIELDS, score_field
from ragchips.reader import Document


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Index:
    rng = np.random.default_rng(7)
    docs = []
    for i in range(120):
        text = " ".join(rng.choice(WORDS, size=int(rng.integers(3, 30)))) + "."
        docs.append(
            Document(
                f"d{i}",
                f"d{i}.txt",
                "",
                text,
                hashlib.sha256(text.encode()).hexdigest(),
                {"g": i % 3},
            )
        )
    idx = Index.build(docs[:80], embedder=HashEmbedder(24), out=tmp_path_factory.mktemp("r") / "i")
    idx.add(docs[80:])
    idx.delete([f"d{i}" for i in range(0, 120, 7)])
    return idx


def brute_force(idx: Index, question: str, weights: dict[str, float], where: dict | None):
    """Every live passage scored: z-scores over the whole collection, then the allowed top."""
    q = idx.embed_query(question)
    allowed = np.concatenate(
        [
            m if m is not None else np.ones(s.n_rows, bool)
            for s, m in zip(idx.segments, idx.allowed(where))
        ]
    )
    live = np.concatenate(
        [m if m is not None else np.ones(s.n_rows, bool) for s, m in zip(idx.segments, idx._alive)]
    )
    fused = np.zeros(len(live))
    cos = np.concatenate([np.asarray(s.dense.vectors) @ q for s in idx.segments])

    def z(x: np.ndarray) -> np.ndarray:
        v = x[live]
        return (x - v.mean()) / v.std() if v.std() > 1e-12 else np.zeros_like(x)

    fused += weights["dense"] * z(cos)
    for f in FIELDS:
        ls = score_field(
            question,
            f,
            [s.postings[f] for s in idx.segments],
            idx._alive,
            len(idx),
            idx._lengths[f],
        )
        full = np.concatenate(
            [
                np.bincount(r, weights=sc, minlength=s.n_rows)
                for s, r, sc in zip(idx.segments, ls.rows, ls.scores)
            ]
        )
        fused += weights[f] * z(full)
    fused[~(allowed & live)] = -np.inf
    order = np.lexsort((np.arange(len(fused)), -fused))[:10]
    return order[np.isfinite(fused[order])], fused[order][np.isfinite(fused[order])]


@pytest.mark.parametrize("question", ["usine de puce", "festival lanterne oiseau", "train", "zzz"])
@pytest.mark.parametrize(
    "weights",
    [{"dense": 1.75, "stems": 0.5, "forms": 0.5}, {"dense": 0.2, "stems": 1.0, "forms": 1.0}],
)
@pytest.mark.parametrize("where", [None, {"g": 1}])
def test_candidate_fusion_equals_scoring_everything(index: Index, question, weights, where):
    rows, scores = brute_force(index, question, weights, where)
    hits = index.search_rows(question, 10, weights=weights, where=where)
    assert [h.row for h in hits] == rows.tolist()
    assert np.allclose([h.score for h in hits], scores, atol=1e-5)


def test_dense_and_lexical_modes_rank_by_their_own_signal(index: Index) -> None:
    q = index.embed_query("budget du ministre")
    cos = np.concatenate([np.asarray(s.dense.vectors) @ q for s in index.segments])
    live = np.concatenate(
        [
            m if m is not None else np.ones(s.n_rows, bool)
            for s, m in zip(index.segments, index._alive)
        ]
    )
    cos[~live] = -np.inf
    dense = index.search_rows("budget du ministre", 5, mode="dense")
    assert [h.row for h in dense] == np.argsort(-cos, kind="stable")[:5].tolist()
    lexical = index.search_rows("budget du ministre", 50, mode="lexical")
    assert lexical and all(h.lexical and h.lexical > 0 for h in lexical)


def test_rrf_is_available_for_comparison(index: Index) -> None:
    hits = index.search_rows("usine de puce", 5, fusion="rrf")
    assert len(hits) == 5 and all(0 < h.score < 0.1 for h in hits)


def test_approximate_dense_index_finds_the_exact_neighbours(tmp_path: Path) -> None:
    from ragchips.dense import DenseConfig, SegmentDense, build_ann, stored_vectors

    rng = np.random.default_rng(0)
    centres = rng.standard_normal((20, 32))
    x = centres[rng.integers(20, size=5000)] + 0.3 * rng.standard_normal((5000, 32))
    x = stored_vectors(x / np.linalg.norm(x, axis=1, keepdims=True))  # as segments keep them
    for kind, nprobe in (("ivf", 16), ("ivf", 0), ("hnsw", 16)):
        cfg = DenseConfig(kind=kind, min_rows=1, nprobe=nprobe)
        build_ann(x, kind, cfg, tmp_path / f"{kind}.faiss")
        seg = SegmentDense(x, tmp_path / f"{kind}.faiss", cfg)
        recall = []
        for q in x[:50]:
            a, sa = seg.search(q, 10, None)
            e, _ = seg.search(q, 10, None, exact=True)
            recall.append(len(set(a.tolist()) & set(e.tolist())) / 10)
            assert np.allclose(sa, x[a] @ q, atol=1e-5)  # exact cosines, not quantised ones
        assert np.mean(recall) > 0.9, kind
        mask = np.zeros(len(x), bool)
        mask[::2] = True
        rows, _ = seg.search(x[1], 10, mask)
        assert len(rows) == 10 and all(r % 2 == 0 for r in rows)


def test_ivf_probes_scale_with_the_vectors_per_list() -> None:
    from ragchips.dense import SCAN_ROWS, DenseConfig

    auto = DenseConfig()
    assert DenseConfig(nprobe=5).probes(4096, 10**6) == 5  # an explicit setting is kept
    few_per_list = auto.probes(1024, 95_848)
    many_per_list = auto.probes(4096, 958_242)
    assert few_per_list > many_per_list >= 8
    assert few_per_list * 95_848 / 1024 >= SCAN_ROWS
    assert auto.probes(64, 1000) == 64  # never more lists than there are


def test_large_segments_store_float16_with_the_values_small_ones_scan(tmp_path: Path) -> None:
    from ragchips.dense import DenseConfig

    rng = np.random.default_rng(3)
    docs = []
    for i in range(60):
        text = " ".join(rng.choice(WORDS, size=12)) + "."
        docs.append(
            Document(f"d{i}", f"d{i}.txt", "", text, hashlib.sha256(text.encode()).hexdigest())
        )
    emb = HashEmbedder(dim=32)
    flat = Index.build(docs, embedder=emb, out=tmp_path / "flat")
    ivf = Index.build(
        docs, embedder=emb, out=tmp_path / "ivf", dense=DenseConfig(kind="ivf", min_rows=1)
    )
    small, large = flat.segments[0].dense.vectors, ivf.segments[0].dense.vectors
    assert small.dtype == np.float32 and large.dtype == np.float16
    assert np.array_equal(small, large.astype(np.float32))  # one truth, two storages
    raw = emb.embed_passages([flat.passage(0).text])[0]
    assert np.abs(small[0] - raw).max() < 1e-3 and not np.array_equal(small[0], raw)
    for q in ("puce", "lanterne festival"):
        a, b = flat.search(q, k=5), ivf.search(q, k=5)
        assert [h.doc_id for h in a] == [h.doc_id for h in b]
        # FAISS sums the float16 lists in another order than BLAS: equal to rounding.
        assert np.allclose([h.score for h in a], [h.score for h in b], atol=1e-6)
