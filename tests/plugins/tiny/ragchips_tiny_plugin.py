"""An example ragchips plugin: one embedder and one reranker, registered by entry points."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from ragchips.embedding import Embedder
from ragchips.results import Passage

_WORD = re.compile(r"\w{3,}")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


class BagOfWordsEmbedder(Embedder):
    """Hashed bag of words: texts that share words get close vectors (no model, no weights)."""

    name = "tiny-bow"
    dim = 64

    def _vector(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        for w in _words(text):
            bucket = hashlib.blake2b(w.encode(), digest_size=4).digest()
            v[int.from_bytes(bucket, "little") % self.dim] += 1
        norm = float(np.linalg.norm(v))
        return v / norm if norm else v

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self._vector(t) for t in texts]).reshape(-1, self.dim)

    def embed_passages(self, texts: Sequence[str], progress: Any = None) -> np.ndarray:
        out = self.embed_queries(texts)
        if progress is not None:
            progress(len(texts))
        return out


class OverlapReranker:
    """Most question words first (ties keep the fused order); scores become the overlap."""

    name = "tiny-overlap"

    def rerank(self, question: str, passages: list[Passage]) -> list[Passage]:
        asked = set(_words(question))
        scored = [(len(asked & set(_words(p.text))), p) for p in passages]
        scored.sort(key=lambda pair: -pair[0])
        return [replace(p, score=float(n)) for n, p in scored]


def make_embedder(name: str, options: Mapping[str, Any]) -> BagOfWordsEmbedder:
    return BagOfWordsEmbedder()


def make_reranker(name: str, options: Mapping[str, Any]) -> OverlapReranker:
    return OverlapReranker()
