"""BM25 postings in segments: equal to a fresh build after deletions and merges."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from ragchips.analysis import analyze
from ragchips.lexical import (
    DEFAULT_B,
    DEFAULT_K1,
    FIELDS,
    FieldPostings,
    _live_mask,
    build_postings,
    compact_lengths,
    live_count,
    merge_postings,
    score_field,
)

TEXTS = [
    "La puce d'OpenAI sera fabriquée par TSMC en 2026.",
    "Broadcom aide OpenAI à concevoir sa puce.",
    "Le festival des lanternes a pour thème les oiseaux migrateurs.",
    "Les puces de Nvidia dominent le marché des centres de données.",
    "Tigris : 10 000 emplois et une usine de puces.",
    "Le chat dort sur le canapé pendant que la pluie tombe.",
]
# Words whose terms have alternatives (a group counts once, with its best alternative).
ALTERNATIVES = [
    "Une publication imprimée, puis publiée en ligne.",
    "Associé au projet après son stage, il imprime tout.",
]


def brute_force(question: str, field: str, texts: list[str]) -> np.ndarray:
    """BM25 (Lucene variant) written out by hand over the analysed texts."""
    analyse, groups_of = FIELDS[field]
    docs = [analyse(t) for t in texts]
    n = len(docs)
    avgdl = sum(len(d) for d in docs) / n
    out = np.zeros(n)
    for group in groups_of(question):
        best = np.zeros(n)
        for term in set(group):
            df = sum(1 for d in docs if term in d)
            if not df:
                continue
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            for i, d in enumerate(docs):
                tf = d.count(term)
                norm = DEFAULT_K1 * (1 - DEFAULT_B + DEFAULT_B * len(d) / avgdl)
                best[i] = max(best[i], idf * tf / (tf + norm) if tf else 0.0)
        out += best
    return out


def scores(question: str, field: str, segments, alive) -> np.ndarray:
    n_live = sum(len(s) if m is None else int(m.sum()) for s, m in zip(segments, alive))
    total = sum(
        float(np.sum(s.lengths if m is None else s.lengths[m])) for s, m in zip(segments, alive)
    )
    ls = score_field(question, field, segments, alive, n_live, total)
    full = []
    for seg, rows, sc in zip(segments, ls.rows, ls.scores):
        v = np.zeros(len(seg))
        v[rows] = sc
        full.append(v)
    return np.concatenate(full)


@pytest.mark.parametrize("field", list(FIELDS))
@pytest.mark.parametrize(
    "question",
    [
        "qui fabrique la puce ?",
        "puces puces Nvidia",
        "Tigris 10 000",
        "éléphant",
    ],
)
def test_scores_equal_bm25_written_by_hand(field: str, question: str) -> None:
    p = build_postings(TEXTS, FIELDS[field][0])
    got = scores(question, field, [p], [None])
    assert np.allclose(got, brute_force(question, field, TEXTS), atol=1e-5)


@pytest.mark.parametrize("field", list(FIELDS))
def test_a_word_with_alternative_terms_counts_once(field: str) -> None:
    question = "publication imprimée associée après le stage"
    assert field == "forms" or any(len(g) > 1 for g in FIELDS[field][1](question))
    texts = TEXTS + ALTERNATIVES
    p = build_postings(texts, FIELDS[field][0])
    got = scores(question, field, [p], [None])
    assert got[-2:].all()
    assert np.allclose(got, brute_force(question, field, texts), atol=1e-5)


def test_scores_after_deletions_equal_a_fresh_build_of_what_is_left() -> None:
    first = build_postings(TEXTS[:3], FIELDS["stems"][0])
    second = build_postings(TEXTS[3:], FIELDS["stems"][0])
    alive = [np.array([True, False, True]), np.array([True, True, False])]
    kept = [t for t, ok in zip(TEXTS, np.concatenate(alive)) if ok]
    for q in ("puce OpenAI", "les puces du marché", "oiseaux"):
        got = scores(q, "stems", [first, second], alive)[np.concatenate(alive)]
        assert np.allclose(got, brute_force(q, "stems", kept), atol=1e-5)


def test_merge_equals_a_build_of_the_kept_texts() -> None:
    a = build_postings(TEXTS[:4], FIELDS["forms"][0])
    b = build_postings(TEXTS[4:], FIELDS["forms"][0])
    keep_a, keep_b = np.array([True, False, True, True]), np.array([False, True])
    merged = merge_postings([(a, keep_a), (b, keep_b)])
    kept = [t for t, ok in zip(TEXTS, np.concatenate([keep_a, keep_b])) if ok]
    fresh = build_postings(kept, FIELDS["forms"][0])
    assert set(merged.vocab) == set(fresh.vocab)
    for term in fresh.vocab:
        r1, t1 = merged.postings(term)  # type: ignore[misc]
        r2, t2 = fresh.postings(term)  # type: ignore[misc]
        assert r1.tolist() == r2.tolist() and t1.tolist() == t2.tolist()
    assert merged.lengths.tolist() == fresh.lengths.tolist()


def test_a_word_counts_once_whatever_its_accents_and_twice_when_repeated() -> None:
    p = build_postings(["le café est chaud", "le cafe est froid"], FIELDS["stems"][0])
    accented = scores("café", "stems", [p], [None])
    plain = scores("cafe", "stems", [p], [None])
    assert np.allclose(accented, plain) and accented.min() > 0
    twice = scores("café café", "stems", [p], [None])
    assert np.allclose(twice, 2 * accented)


def test_numbers_stay_whole() -> None:
    p = build_postings(["Tigris: 10 000 emplois", "10 emplois et 000 euros"], FIELDS["stems"][0])
    s = scores("10 000", "stems", [p], [None])
    assert s[0] > 0 and s[1] == 0


def test_unknown_terms_and_empty_collections_score_nothing() -> None:
    p = build_postings(TEXTS, FIELDS["stems"][0])
    assert not scores("zzzz qqqq", "stems", [p], [None]).any()
    ls = score_field("puce", "stems", [p], [np.zeros(len(TEXTS), bool)], 0, 0.0)
    assert all(len(r) == 0 for r in ls.rows)


def test_save_and_load_without_pickle(tmp_path: Path) -> None:
    p = build_postings(TEXTS, FIELDS["stems"][0])
    p.save(tmp_path / "stems")
    for f in (tmp_path / "stems").glob("*.npy"):
        np.load(f, allow_pickle=False)
    q = FieldPostings.load(tmp_path / "stems")
    assert np.allclose(scores("puce", "stems", [q], [None]), scores("puce", "stems", [p], [None]))
    np.save(tmp_path / "stems" / "indptr.npy", np.asarray(q.indptr)[:-1])  # one term short
    with pytest.raises(ValueError, match="disagree"):
        FieldPostings.load(tmp_path / "stems")


def test_passages_must_be_text() -> None:
    with pytest.raises(TypeError, match="must be str"):
        build_postings(["ok", 3], FIELDS["stems"][0])  # type: ignore[list-item]


def test_counts_are_stored_in_16_bits_and_score_as_float32_ones() -> None:
    p = build_postings(TEXTS, FIELDS["stems"][0])
    assert p.tf.dtype == np.uint16
    wide = FieldPostings(p.vocab, p.indptr, p.rows, p.tf.astype(np.float32), p.lengths)
    for q in ("puce", "festival des lanternes"):
        assert np.array_equal(scores(q, "stems", [p], [None]), scores(q, "stems", [wide], [None]))


def test_lengths_are_kept_in_the_smallest_exact_type() -> None:
    assert compact_lengths(np.array([0, 3, 255], np.float32)).dtype == np.uint8
    assert compact_lengths(np.array([1, 256], np.float32)).dtype == np.uint16
    for odd in ([1, 70_000], [1.5, 2], [-1, 2], [np.nan, 1]):
        assert compact_lengths(np.array(odd, np.float32)).dtype == np.float32
    x = np.array([7, 300, 65535], np.float32)
    assert np.array_equal(compact_lengths(x).astype(np.float32), x)


def test_a_field_written_with_float32_lengths_loads_compacted(tmp_path: Path) -> None:
    p = build_postings(["puces fabriquées à Taïwan", "quatre"], analyze)
    assert p.lengths.dtype == np.uint8
    before = p.lengths.tolist()
    p.lengths = np.asarray(p.lengths, dtype=np.float32)  # as segments were written before
    p.save(tmp_path)
    loaded = FieldPostings.load(tmp_path)
    assert loaded.lengths.dtype == np.uint8
    assert loaded.lengths.tolist() == before and before[0] > before[1] > 0
    np.save(tmp_path / "lengths.npy", np.array([1, 2], np.int64))
    with pytest.raises(ValueError, match="passage lengths are neither"):
        FieldPostings.load(tmp_path)


def test_deleted_rows_found_by_binary_search_equal_the_mask() -> None:
    rng = np.random.default_rng(3)
    for _ in range(200):
        rows = np.unique(rng.integers(0, 500, rng.integers(0, 300))).astype(np.int32)
        tf = rng.integers(1, 5, len(rows)).astype(np.uint16)
        gone = np.unique(rng.integers(0, 500, rng.integers(0, 8)))
        alive = np.ones(500, bool)
        alive[gone] = False
        keep = _live_mask(rows, alive, gone)
        got_rows, got_tf = (rows, tf) if keep is None else (rows[keep], tf[keep])
        assert np.array_equal(got_rows, rows[alive[rows]])
        assert np.array_equal(got_tf, tf[alive[rows]])
        assert live_count(rows, alive, gone) == live_count(rows, alive, None) == len(got_rows)
