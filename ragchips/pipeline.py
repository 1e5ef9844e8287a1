"""Documents to passages to vectors, with the model never waiting for the files.

Why a producer thread: reading, cleaning and chunking are Python (they hold the GIL) while
the model spends its time in ONNX Runtime or torch kernels (which release it), so a
thread that reads and cuts the next documents while the current window is embedded hides
most of the reading. Passages are embedded in windows of about :data:`WINDOW`, cut at
document boundaries in document order; the embedder sorts each window by length, so its
batches hold passages of similar length (little padding). The windows depend only on the
documents, never on timing: a build with the thread equals a build without it, exactly
(a test compares).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .chunking import ChunkerSettings
from .embed_cache import EmbeddingCache, embed_cached
from .embedding import Embedder
from .reader import Document
from .writer import Prepared, prepare

__all__ = ["WINDOW", "Embedded", "embed_documents"]

# Passages per window: enough for length-sorted batches, small enough to start at once.
WINDOW = 256
_END = object()


@dataclass
class Embedded:
    """The passages of the documents that have any, their vectors, and what it cost."""

    prepared: list[Prepared]
    vectors: np.ndarray
    passages: int = 0
    embedded: int = 0  # passages actually run through the model (the rest: cache hits)


def embed_documents(
    docs: Iterable[Document],
    chunker: ChunkerSettings,
    embedder: Embedder,
    progress: Callable[[int, int], None] | None = None,
    *,
    overlap: bool = True,
    cache: EmbeddingCache | None = None,
    window: int = WINDOW,
) -> Embedded:
    """Cut ``docs`` into passages and embed them (through the embedding cache).

    ``docs`` may be lazy (files read as it is iterated): with ``overlap`` it is consumed
    on a producer thread. ``progress(done, total)`` counts passages; ``total`` is what has
    been cut so far, so it grows while files are still being read. Documents without body
    text are left out of the result.
    """
    state = {"cut": 0, "done": 0}

    def tick(n: int) -> None:
        state["done"] += n
        if progress is not None:
            progress(state["done"], max(state["cut"], state["done"]))

    def cut(doc: Document) -> Prepared:
        p = prepare(doc, chunker)
        state["cut"] += len(p.spans)
        return p

    source = _produce(docs, cut) if overlap else (cut(d) for d in docs)
    prepared: list[Prepared] = []
    parts: list[np.ndarray] = []
    pending: list[Prepared] = []
    embedded = 0

    def flush() -> None:
        nonlocal embedded
        texts = [t for p in pending for t in p.texts]
        vectors, n = embed_cached(embedder, texts, tick, cache)  # checked (embed_with)
        parts.append(vectors)
        prepared.extend(pending)
        pending.clear()
        embedded += n

    size = 0
    for p in source:
        if not p.spans:
            continue
        pending.append(p)
        size += len(p.spans)
        if size >= window:
            flush()
            size = 0
    if pending:
        flush()
    vectors = np.concatenate(parts) if parts else np.zeros((0, embedder.dim), np.float32)
    return Embedded(prepared, vectors, passages=len(vectors), embedded=embedded)


def _produce(docs: Iterable[Document], cut: Callable[[Document], Prepared]) -> Any:
    """Iterate ``docs`` and cut them on a thread; yield in order; re-raise its errors."""
    out: queue.Queue[Any] = queue.Queue()
    stop = threading.Event()

    def run() -> None:
        try:
            for doc in docs:
                if stop.is_set():
                    return
                out.put(cut(doc))
            out.put(_END)
        except BaseException as exc:  # handed to the consumer, raised there
            out.put(_Failure(exc))

    thread = threading.Thread(target=run, name="ragchips-reader", daemon=True)
    thread.start()
    try:
        while True:
            item = out.get()
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item
    finally:
        stop.set()
        thread.join()


@dataclass
class _Failure:
    exc: BaseException
