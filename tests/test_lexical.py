"""Tests of the BM25 lexical index: search, filters, fusion scores, pickle-free persistence."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ragchips.analysis import FrenchAnalyzer, analyze
from ragchips.lexical import LexicalIndex

PASSAGES = [
    "G42, le fonds d'Abu Dhabi présidé par le cheikh al-Nahyan, investit dans l'IA.",
    "AMD présente le MI300, un accélérateur concurrent du H100 de Nvidia.",
    "La pénurie d'électricité freine les centres de données en Irlande.",
    "Le projet Tigris prévoit 10 000 emplois et 7 trillions de dollars.",
    "Intel développe une nouvelle usine de puces en Allemagne.",
    "Les puces de Nvidia dominent le marché de l'IA générative.",
]


@pytest.fixture(scope="module")
def index() -> LexicalIndex:
    return LexicalIndex.build(PASSAGES)


@pytest.mark.parametrize(
    ("query", "row"),
    [
        ("Tigris", 3),
        ("Qu'est-ce que G42 ?", 0),
        ("MI300", 1),
        ("Nahyan", 0),
        ("penurie electricite", 2),
        ("10 000 emplois", 3),
        ("Où Intel a-t-il développé son usine ?", 4),
    ],
)
def test_exact_names_numbers_and_rare_words_rank_first(
    index: LexicalIndex, query: str, row: int
) -> None:
    rows, scores = index.search(query, k=3)
    assert rows[0] == row
    assert scores[0] > 0


def test_results_are_best_first_with_types(index: LexicalIndex) -> None:
    rows, scores = index.search("puces Nvidia IA", k=10)
    assert rows.dtype == np.int64 and scores.dtype == np.float32
    assert len(rows) == len(scores) == len(set(rows.tolist()))
    assert np.all(np.diff(scores) <= 0)
    assert rows[0] == 5  # the only passage with all three words
    assert set(rows.tolist()) == {0, 1, 4, 5}  # only passages sharing a term


def test_k_limits_results(index: LexicalIndex) -> None:
    rows, scores = index.search("puces Nvidia IA", k=2)
    full_rows, full_scores = index.search("puces Nvidia IA", k=10)
    assert rows.tolist() == full_rows[:2].tolist()
    np.testing.assert_allclose(scores, full_scores[:2])
    assert index.search("Nvidia", k=0)[0].size == 0
    with pytest.raises(ValueError):
        index.search("Nvidia", k=-1)


@pytest.mark.parametrize("query", ["", "   ", "zzzqx inconnu", "le la les de ?"])
def test_query_without_known_terms_gives_empty_results(index: LexicalIndex, query: str) -> None:
    rows, scores = index.search(query, k=5)
    assert rows.size == 0 and scores.size == 0
    assert not index.scores(query).any()


def test_scores_is_the_full_vector_consistent_with_search(index: LexicalIndex) -> None:
    scores = index.scores("Nvidia H100")
    assert scores.shape == (len(PASSAGES),) and scores.dtype == np.float32
    assert scores[1] > scores[5] > 0
    assert scores[0] == scores[2] == scores[3] == scores[4] == 0
    rows, top = index.search("Nvidia H100", k=5)
    np.testing.assert_allclose(top, scores[rows])


def test_accented_and_plain_query_words_weigh_the_same(index: LexicalIndex) -> None:
    # "électricité" has two alternative terms (electr, electricit); it must count once.
    np.testing.assert_allclose(index.scores("électricité"), index.scores("electricite"))


def test_len(index: LexicalIndex) -> None:
    assert len(index) == len(PASSAGES)


def test_document_frequency(index: LexicalIndex) -> None:
    assert index.document_frequency("nvidi") == 2
    assert index.document_frequency("tigr") == 1
    assert index.document_frequency("inconnu") == 0


def test_our_analyzer_is_used_not_bm25s_tokenizer() -> None:
    idx = LexicalIndex.build(["Tigris: 10 000 emplois", "10 emplois et 000 euros"])
    rows, _ = idx.search("10000", k=2)
    assert rows.tolist() == [0]  # bm25s's regex would split "10 000" and never see "10000"


def test_custom_analyzer() -> None:
    idx = LexicalIndex.build(["Alpha beta", "gamma"], analyzer=str.split)
    assert idx.search("Alpha", k=2)[0].tolist() == [0]
    assert idx.search("alpha", k=2)[0].size == 0  # str.split does not lower-case


# --- allowed subset ----------------------------------------------------------------------


def test_allowed_boolean_mask(index: LexicalIndex) -> None:
    mask = np.zeros(len(PASSAGES), dtype=bool)
    mask[[4, 5]] = True
    rows, _ = index.search("puces Nvidia IA", k=10, allowed=mask)
    assert set(rows.tolist()) == {4, 5}


def test_allowed_row_ids(index: LexicalIndex) -> None:
    rows, scores = index.search("puces Nvidia IA", k=10, allowed=np.array([0, 1]))
    assert set(rows.tolist()) == {0, 1}
    assert np.all(np.diff(scores) <= 0)
    assert index.search("puces", k=10, allowed=np.array([], dtype=np.int64))[0].size == 0
    assert index.search("Tigris", k=10, allowed=np.array([0, 1, 2]))[0].size == 0


def test_allowed_is_validated(index: LexicalIndex) -> None:
    with pytest.raises(ValueError):
        index.search("puces", k=3, allowed=np.ones(3, dtype=bool))
    with pytest.raises(IndexError):
        index.search("puces", k=3, allowed=np.array([len(PASSAGES)]))
    with pytest.raises(TypeError):
        index.search("puces", k=3, allowed=np.array([0.5]))


# --- building errors -------------------------------------------------------------------


def test_empty_corpus_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="empty"):
        LexicalIndex.build([])


def test_corpus_of_stop_words_only_searches_empty() -> None:
    idx = LexicalIndex.build(["le la les", "de des"])
    assert len(idx) == 2
    assert idx.search("le", k=2)[0].size == 0


def test_non_string_passage_is_rejected() -> None:
    with pytest.raises(TypeError):
        LexicalIndex.build(["ok", 3])  # type: ignore[list-item]


# --- persistence -----------------------------------------------------------------------


@pytest.mark.parametrize("mmap", [True, False])
def test_save_load_round_trip(index: LexicalIndex, tmp_path: Path, mmap: bool) -> None:
    index.save(tmp_path)
    loaded = LexicalIndex.load(tmp_path, mmap=mmap)
    assert len(loaded) == len(index)
    assert loaded.analyzer is analyze
    for query in ("Tigris", "penurie electricite", "puces Nvidia IA", "zzz"):
        a_rows, a_scores = index.search(query, k=4)
        b_rows, b_scores = loaded.search(query, k=4)
        assert a_rows.tolist() == b_rows.tolist()
        np.testing.assert_allclose(a_scores, b_scores)
        np.testing.assert_allclose(index.scores(query), loaded.scores(query))


def test_saved_files_load_without_pickle(index: LexicalIndex, tmp_path: Path) -> None:
    index.save(tmp_path)
    files = sorted(p for p in tmp_path.iterdir())
    assert files and {p.suffix for p in files} == {".npy", ".json"}
    for path in files:
        if path.suffix == ".npy":
            array = np.load(path, allow_pickle=False)
            assert array.dtype != object
        else:
            json.loads(path.read_text(encoding="utf-8"))


def test_build_is_deterministic(tmp_path: Path) -> None:
    LexicalIndex.build(PASSAGES).save(tmp_path / "a")
    LexicalIndex.build(PASSAGES).save(tmp_path / "b")
    for path in (tmp_path / "a").iterdir():
        assert path.read_bytes() == (tmp_path / "b" / path.name).read_bytes(), path.name


def test_analyzer_options_are_persisted(tmp_path: Path) -> None:
    analyzer = FrenchAnalyzer(hyphens="parts", stop_words=frozenset({"le"}))
    LexicalIndex.build(PASSAGES, analyzer=analyzer).save(tmp_path)
    assert LexicalIndex.load(tmp_path).analyzer == analyzer


def test_custom_analyzer_must_be_given_back_at_load(tmp_path: Path) -> None:
    LexicalIndex.build(["Alpha beta", "gamma"], analyzer=str.split).save(tmp_path)
    with pytest.raises(ValueError, match="custom analyzer"):
        LexicalIndex.load(tmp_path)
    loaded = LexicalIndex.load(tmp_path, analyzer=str.split)
    assert loaded.search("gamma", k=1)[0].tolist() == [1]


def test_load_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        LexicalIndex.load(tmp_path / "nope")


def test_loaded_index_scores_without_bm25s_or_scipy(index: LexicalIndex, tmp_path: Path) -> None:
    import subprocess
    import sys

    index.save(tmp_path)
    code = (
        "import sys; from pathlib import Path; from ragchips.lexical import LexicalIndex; "
        f"idx = LexicalIndex.load(Path({str(tmp_path)!r})); "
        "rows, scores = idx.search('Tigris', 1); assert len(rows) == 1; "
        "print(sorted(m for m in ('bm25s', 'scipy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_loaded_index_can_be_saved_again(index: LexicalIndex, tmp_path: Path) -> None:
    index.save(tmp_path / "a")
    LexicalIndex.load(tmp_path / "a").save(tmp_path / "b")
    again = LexicalIndex.load(tmp_path / "b")
    np.testing.assert_allclose(again.scores("Tigris G42"), index.scores("Tigris G42"))


def test_inconsistent_saved_arrays_are_refused(index: LexicalIndex, tmp_path: Path) -> None:
    index.save(tmp_path)
    indptr = np.load(tmp_path / "indptr.csc.index.npy")
    np.save(tmp_path / "indptr.csc.index.npy", indptr[:-1], allow_pickle=False)
    with pytest.raises(ValueError, match="disagree"):
        LexicalIndex.load(tmp_path)
