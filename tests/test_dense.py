from pathlib import Path

import numpy as np
import pytest

from ragchips.dense import RowReader, stored_vectors


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_row_reader_reads_what_the_map_holds(tmp_path: Path, dtype: type) -> None:
    x = np.random.default_rng(0).standard_normal((300, 24)).astype(dtype)
    np.save(tmp_path / "v.npy", x)
    reader = RowReader(tmp_path / "v.npy")
    for rows in ([0], [5, 6, 7, 9], [3, 3, 4], list(range(300)), [299], []):
        got = reader.read(np.asarray(rows, dtype=np.int64))
        assert got.dtype == np.float32 and got.shape == (len(rows), 24)
        assert np.array_equal(got, x[rows].astype(np.float32))


def test_row_reader_refuses_what_is_not_a_float_matrix(tmp_path: Path) -> None:
    np.save(tmp_path / "v.npy", np.zeros((3, 4), dtype=np.int64))
    with pytest.raises(ValueError, match="not a float16 or float32 matrix"):
        RowReader(tmp_path / "v.npy")


def test_stored_vectors_are_float16_values_and_refuse_what_float16_cannot_hold() -> None:
    x = np.random.default_rng(1).standard_normal((10, 8)).astype(np.float32)
    s = stored_vectors(x)
    assert s.dtype == np.float32 and np.array_equal(s, s.astype(np.float16).astype(np.float32))
    assert np.abs(s - x).max() < 2e-3
    for bad in (np.full((1, 8), np.nan), np.full((1, 8), 1e6)):
        with pytest.raises(ValueError, match="finite and below 65504"):
            stored_vectors(bad)


def test_a_closed_segment_closes_the_file_its_rows_are_read_from(tmp_path: Path) -> None:
    from ragchips import Index
    from ragchips.dense import DenseConfig
    from ragchips.embedding import HashEmbedder
    from ragchips.reader import Document

    texts = [f"passage {i} sur la puce numéro {i}" for i in range(40)]
    docs = [Document(f"d{i}", f"d{i}.txt", "", t, str(i)) for i, t in enumerate(texts)]
    idx = Index.build(
        docs,
        embedder=HashEmbedder(dim=16),
        out=tmp_path / "i",
        dense=DenseConfig("ivf", min_rows=1),
    )
    seg = idx.segments[0]
    reader = seg.dense._reader
    assert reader is not None and len(reader.read(np.array([0, 1]))) == 2
    seg.close()
    seg.close()  # twice is fine
    with pytest.raises(OSError):
        reader.read(np.array([0]))


def test_side_thread_is_one_pool_per_process_when_asked_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ragchips import dense

    monkeypatch.setattr(dense, "_cores", lambda: 2)
    assert dense.side_thread() is None  # off unless asked for
    monkeypatch.setenv("RAGCHIPS_QUERY_PARALLEL", "1")
    pool = dense.side_thread()
    assert pool is not None and pool is dense.side_thread()
    assert pool.submit(lambda: 41 + 1).result(timeout=60) == 42
    monkeypatch.setitem(dense._POOLS, "ragchips-dense", (-1, pool))  # as a forked child has it
    child = dense.side_thread()
    assert child is not None and child is not pool
    assert child.submit(lambda: 7).result(timeout=60) == 7
    monkeypatch.setattr(dense, "_cores", lambda: 1)
    assert dense.side_thread() is None


def test_query_threads_limits_blas_while_a_question_is_scored_then_restores(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from threadpoolctl import threadpool_info

    from ragchips.dense import query_threads

    def blas() -> list[int]:
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    before = blas()
    assert before, "numpy's BLAS is visible to threadpoolctl"
    with query_threads():
        assert set(blas()) == {1}
    assert blas() == before
    if max(before) >= 2:  # OpenBLAS caps the count at the cores it started with
        monkeypatch.setenv("RAGCHIPS_QUERY_THREADS", "2")
        with query_threads():
            assert set(blas()) == {2}
        assert blas() == before


def test_query_threads_also_limits_a_blas_loaded_after_its_first_use(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys
    import types

    from threadpoolctl import threadpool_info

    from ragchips import dense

    def blas() -> set[int]:
        return {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}

    with dense.query_threads():
        pass
    monkeypatch.setattr(dense, "_BLAS", [])  # as if the first use had found none
    monkeypatch.setitem(sys.modules, "ragchips_new_import", types.ModuleType("x"))
    with dense.query_threads():
        assert blas() == {1}
