"""Hybrid search: the dense side beside BM25, and what a failure of either leaves."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from ragchips import Index, dense, hybrid


def test_dense_search_beside_bm25_ranks_as_in_one_thread(
    seeds_index_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    idx = Index.load(seeds_index_path)
    questions = ["qui fabrique la puce ?", "combien de milliards", "Tigris", "quand ?"]
    vectors = idx.embedder.embed_queries(questions)
    alone = [idx.search_rows(q, 10, query_vector=v) for q, v in zip(questions, vectors)]
    monkeypatch.setenv("RAGCHIPS_QUERY_PARALLEL", "1")
    monkeypatch.setattr(hybrid, "PARALLEL_ROWS", 0)
    monkeypatch.setattr(dense, "_cores", lambda: 2)
    threads: list[str] = []
    real = Index._dense

    def spy(self: Index, *args: object) -> object:
        threads.append(threading.current_thread().name)
        return real(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(Index, "_dense", spy)
    beside = [idx.search_rows(q, 10, query_vector=v) for q, v in zip(questions, vectors)]
    assert beside == alone
    assert threads and all(t.startswith("ragchips-dense") for t in threads)


def test_a_failed_bm25_waits_for_the_dense_search_beside_it(
    seeds_index_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    idx = Index.load(seeds_index_path)
    monkeypatch.setenv("RAGCHIPS_QUERY_PARALLEL", "1")
    monkeypatch.setattr(hybrid, "PARALLEL_ROWS", 0)
    monkeypatch.setattr(dense, "_cores", lambda: 2)
    finished = threading.Event()
    real = Index._dense

    def slow(self: Index, *args: object) -> object:
        time.sleep(0.2)
        out = real(self, *args)  # type: ignore[arg-type]
        finished.set()
        return out

    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("postings unreadable")

    monkeypatch.setattr(Index, "_dense", slow)
    monkeypatch.setattr(hybrid, "score_fields", broken)
    with pytest.raises(RuntimeError, match="postings unreadable"):
        idx.search_rows("qui fabrique la puce ?", 5)
    assert finished.is_set()


# A French collection where an English song title shares an English question's function
# words ("what", "the", "time", "of", "day"): rare words in French text, so BM25 weighs
# them heavily.
ENGLISH_TRAP = {
    "pape.md": "# La bénédiction dominicale\n\nChaque dimanche à midi, le pape bénit la foule "
    "réunie place Saint-Pierre depuis la fenêtre du palais apostolique.\n",
    "rock.md": "# The Who\n\nLe groupe britannique The Who publie en 1971 la chanson « What Is "
    "the Time of the Day », écrite par Pete Townshend pour l'album Who's Next.\n",
    "banque.md": "# Les banques françaises\n\nBNP Paribas est la première banque française "
    "par le total de son bilan, devant le Crédit agricole et la Société générale.\n",
    "football.md": "# Le poste de libéro\n\nDans le football des années 1960, le libéro occupe "
    "une position particulière : placé derrière la défense, il couvre ses coéquipiers.\n",
    "radio.md": "# La maison de la radio\n\nLe bâtiment de la radio nationale, inauguré en 1963, "
    "est moderne ; sa tour domine le quartier.\n",
    "the.md": "# Le thé vert\n\nLe thé vert se boit sans sucre, dans de petites tasses, "
    "surtout au Japon et en Chine.\n",
    "gaudi.md": "# La Sagrada Família\n\nLa basilique de la Sagrada Família, à Barcelone, est "
    "l'œuvre d'Antoni Gaudí ; les travaux, commencés en 1882, ne sont pas achevés.\n",
}
TRAP_QUESTION = "At what time of the day does the Pope bless the crowd?"


@pytest.fixture(scope="module")
def english_trap(tmp_path_factory: pytest.TempPathFactory, native_embedder: object) -> Index:
    docs = tmp_path_factory.mktemp("trap")
    for name, text in ENGLISH_TRAP.items():
        (docs / name).write_text(text, encoding="utf-8")
    out = tmp_path_factory.mktemp("trap-index") / "i"
    return Index.build([docs], embedder=native_embedder, out=out)  # type: ignore[arg-type]


def test_an_english_question_leans_on_the_multilingual_model(english_trap: Index) -> None:
    from ragchips import ask

    answer = ask(TRAP_QUESTION, k=2, index=english_trap)
    assert answer.passages[0].doc_id == "pape"
    # search_rows without weights (Index.search, the service's /search) gets them too.
    rows = english_trap.search_rows(TRAP_QUESTION, 2)
    assert english_trap.passage(rows[0].row, rank=1, score=0.0).doc_id == "pape"
    # The same question ranked with the French weights falls into the song title.
    rows = english_trap.search_rows(TRAP_QUESTION, 2, weights=hybrid.WEIGHTS)
    assert english_trap.passage(rows[0].row, rank=1, score=0.0).doc_id == "rock"


def test_only_english_questions_get_the_english_weights() -> None:
    from ragchips.query import Question

    english = hybrid.weights_for(Question.of(TRAP_QUESTION))
    assert english["dense"] == hybrid.WEIGHTS["dense"]
    assert english["stems"] == pytest.approx(hybrid.ENGLISH_LEXICAL * hybrid.WEIGHTS["stems"])
    # On English text BM25 is worth as much to an English question as to a French one.
    assert hybrid.weights_for(Question.of(TRAP_QUESTION), 1.0) == pytest.approx(hybrid.WEIGHTS)
    for french in ("À quelle heure le pape bénit-il la foule ?", "Tigris", "Qui a fondé Nvidia ?"):
        assert hybrid.weights_for(Question.of(french)) is hybrid.WEIGHTS


ENGLISH_DOCS = {
    "pope.md": "# The Sunday blessing\n\nEvery Sunday at noon, the Pope blesses the crowd "
    "gathered in St Peter's Square from a window of the Apostolic Palace and of the city.\n",
    "bank.md": "# French banks\n\nBNP Paribas is the largest French bank by total assets, "
    "ahead of Crédit Agricole and Société Générale, and of the other lenders.\n",
}


def test_an_english_collection_keeps_bm25_for_english_questions(
    english_trap: Index, tmp_path: Path, native_embedder: object
) -> None:
    from ragchips.query import Question

    # The song title holds "the" and "of"; the tea passage only "the" (the stem of "thé").
    assert english_trap.english_text() == pytest.approx(1 / 7)
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in ENGLISH_DOCS.items():
        (docs / name).write_text(text, encoding="utf-8")
    idx = Index.build([docs], embedder=native_embedder, out=tmp_path / "i")  # type: ignore[arg-type]
    assert idx.english_text() == 1.0
    assert idx.weights_for(Question.of(TRAP_QUESTION)) == pytest.approx(hybrid.WEIGHTS)
    assert (
        english_trap.weights_for(Question.of(TRAP_QUESTION))["stems"] < hybrid.WEIGHTS["stems"] / 2
    )


def test_english_text_counts_live_passages_only(tmp_path: Path, native_embedder: object) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in {**ENGLISH_DOCS, "banque.md": ENGLISH_TRAP["banque.md"]}.items():
        (docs / name).write_text(text, encoding="utf-8")
    idx = Index.build([docs], embedder=native_embedder, out=tmp_path / "i")  # type: ignore[arg-type]
    assert idx.english_text() == pytest.approx(2 / 3)
    idx.delete(["pope"])
    assert Index.load(tmp_path / "i").english_text() == pytest.approx(1 / 2)


def test_a_single_signal_ranking_keeps_its_scale_for_english_questions(
    english_trap: Index,
) -> None:
    from ragchips.query import Question

    question = Question.of(TRAP_QUESTION)
    assert english_trap.weights_for(question, "lexical") is hybrid.WEIGHTS
    assert english_trap.weights_for(question, "dense") is hybrid.WEIGHTS
    lexical = english_trap.search_rows(TRAP_QUESTION, 1, mode="lexical")
    forced = english_trap.search_rows(TRAP_QUESTION, 1, mode="lexical", weights=hybrid.WEIGHTS)
    assert lexical[0].score == pytest.approx(forced[0].score)
    # ask()'s path (Index.retrieve) too.
    got = english_trap.retrieve(TRAP_QUESTION, 1, "lexical")
    assert got.hits[0].score == pytest.approx(forced[0].score)
