"""A plugin embedder's bad output or exception is one line naming it, before anything is
written; vectors that are merely not unit length are normalised."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ragchips import Index
from ragchips.embedding import EMBEDDERS, HashEmbedder, get_embedder
from ragchips.errors import PluginError
from ragchips.maintenance import verify
from ragchips.reader import Document

DOCS = [
    Document("a", "a.txt", "A", "Le phare de Kerbrat fut allumé en 1902.", "a" * 64),
    Document("b", "b.txt", "B", "Le comté est un fromage du Jura.", "b" * 64),
]


class Faulty(HashEmbedder):
    """hash-16, with one fault: in passages, in queries, or both."""

    def __init__(self, fault: str, where: str = "passages") -> None:
        super().__init__(16)
        self.name = f"faulty-{fault}"
        self.fault, self.where = fault, where

    def _bad(self, texts: Sequence[str], good: np.ndarray) -> Any:
        if self.fault == "nan":
            good[-1, 0] = np.nan
        elif self.fault == "zero":
            good[0] = 0
        elif self.fault == "scaled":
            good = good * 3
        elif self.fault == "width":
            good = good[:, :8]
        elif self.fault == "none":
            return None
        elif self.fault == "raise":
            raise RuntimeError("GPU on fire\nsecond line")
        elif self.fault == "missing":
            raise NotImplementedError
        return good

    def embed_passages(self, texts: Sequence[str], progress: Any = None) -> Any:
        good = super().embed_passages(texts, progress)
        return self._bad(texts, good) if self.where in ("passages", "both") else good

    def embed_queries(self, texts: Sequence[str]) -> Any:
        good = super().embed_queries(texts)
        return self._bad(texts, good) if self.where in ("queries", "both") else good


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("nan", r"returned a vector with NaN or infinite values \(text 2\)"),
        ("zero", r"returned an all-zero vector \(text 1\)"),
        ("width", r"returned vectors of shape \(2, 8\), expected \(2, 16\)"),
        ("none", "returned None, not vectors"),
        ("raise", "failed in embed_passages: RuntimeError: GPU on fire$"),
        ("missing", "does not implement embed_passages"),
    ],
)
def test_bad_passage_vectors_are_refused_before_anything_is_written(
    tmp_path: Path, fault: str, message: str
) -> None:
    with pytest.raises(PluginError, match=f"embedder 'faulty-{fault}' {message}") as info:
        Index.build(DOCS, embedder=Faulty(fault), out=tmp_path / "i")
    assert "\n" not in str(info.value)
    assert not (tmp_path / "i" / "manifest.json").exists()


@pytest.mark.parametrize("fault", ["nan", "width", "raise"])
def test_bad_question_vectors_are_refused_at_build_by_the_probe(tmp_path: Path, fault: str) -> None:
    with pytest.raises(PluginError, match=f"embedder 'faulty-{fault}'"):
        Index.build(DOCS, embedder=Faulty(fault, "queries"), out=tmp_path / "i")
    assert not (tmp_path / "i" / "manifest.json").exists()


def test_vectors_not_of_unit_length_are_normalised(tmp_path: Path) -> None:
    embedder = Faulty("scaled", "both")
    Index.build(DOCS, embedder=embedder, out=tmp_path / "i")
    assert verify(tmp_path / "i").ok  # verify checks unit length (without the embedder)
    index = Index.load(tmp_path / "i", embedder=embedder)
    assert np.allclose(np.linalg.norm(index.embed_query("Quand fut allumé le phare ?")), 1)
    assert index.search("Quand le phare de Kerbrat fut-il allumé ?", k=1)[0].doc_id == "a"


class _Plain(HashEmbedder):
    pass


def _register(name: str, make: Any) -> None:
    def factory(asked: str, options: Mapping[str, Any]) -> Any:
        return make()

    EMBEDDERS.register(name, factory, package="guard-test 1.0")


@pytest.mark.parametrize(
    ("name", "setup", "message"),
    [
        ("guard-dim", lambda e: setattr(e, "dim", 16.0), "dim must be a positive int"),
        ("guard-dim0", lambda e: setattr(e, "dim", 0), "dim must be a positive int"),
        ("guard-rename", lambda e: setattr(e, "name", "guard-renamed"), "a name no installed"),
        (
            "guard-ident",
            lambda e: setattr(e, "identity", lambda: {"path": Path("/x")}),
            "identity\\(\\) is not JSON",
        ),
    ],
)
def test_a_plugin_whose_index_could_not_be_reopened_is_refused_when_made(
    name: str, setup: Any, message: str
) -> None:
    def make() -> HashEmbedder:
        emb = _Plain(16)
        emb.name = name
        setup(emb)
        return emb

    _register(name, make)
    try:
        with pytest.raises(PluginError, match=message):
            get_embedder(name)
    finally:
        EMBEDDERS.unregister(name)


def test_a_plugin_whose_dim_is_a_numpy_integer_is_accepted() -> None:
    def factory(asked: str, options: Mapping[str, Any]) -> Any:
        emb = _Plain(16)
        emb.name = "guard-npdim"
        emb.dim = np.int64(16)  # type: ignore[assignment]
        emb.identity = lambda: {"name": "guard-npdim", "dim": 16}  # type: ignore[method-assign]
        return emb

    EMBEDDERS.register("guard-npdim", factory, package="guard-test 1.0")
    try:
        assert get_embedder("guard-npdim").dim == 16
    finally:
        EMBEDDERS.unregister("guard-npdim")
