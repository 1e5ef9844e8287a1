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
