from __future__ import annotations

import numpy as np
import pytest

from ragchips.embedding import E5SmallEmbedder, get_embedder
from ragchips.errors import RagchipsError


def test_native_queries_are_normalised_384d(native_embedder: E5SmallEmbedder) -> None:
    v = native_embedder.embed_queries(["qui fabrique la puce ?", "Who makes the chip?"])
    assert v.shape == (2, 384) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)
    assert float(v[0] @ v[1]) > 0.8  # same question in two languages


def test_prefixes_matter(native_embedder: E5SmallEmbedder) -> None:
    q = native_embedder.embed_queries(["la production commencera en 2026"])[0]
    p = native_embedder.embed_passages(["la production commencera en 2026"])[0]
    assert 0.8 < float(q @ p) < 0.9999


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
