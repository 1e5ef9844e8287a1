"""``ask()``: one call from a question to a cited answer.

Indexes are opened once per process and kept (keyed by folder), and reopened only when a
rebuild has replaced their manifest, so a notebook or a server pays the load once.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from .answer import NOT_FOUND_MESSAGE, extract_answer
from .index import Index, check_k, check_mode, check_question, default_index_path
from .results import Answer

__all__ = ["ask", "open_index"]

_CACHE: dict[str, tuple[float, Index]] = {}
_CACHE_LOCK = threading.Lock()


def _manifest_stamp(directory: Path) -> float:
    try:
        st = (directory / "manifest.json").stat()
    except OSError:
        return -1.0
    return st.st_mtime_ns + st.st_ino * 1e-3


def open_index(index: str | os.PathLike[str] | Index | None = None) -> Index:
    """The index at ``index`` (default: :func:`default_index_path`), cached per process."""
    if isinstance(index, Index):
        return index
    directory = Path(index) if index is not None else default_index_path()
    key = str(directory.resolve())
    stamp = _manifest_stamp(directory)
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
        if cached and cached[0] == stamp:
            return cached[1]
    loaded = Index.load(directory)
    with _CACHE_LOCK:
        _CACHE[key] = (stamp, loaded)
    return loaded


def ask(
    question: str,
    k: int = 5,
    index: str | os.PathLike[str] | Index | None = None,
    mode: str = "hybrid",
) -> Answer:
    """Answer ``question`` from the collection, citing the ``k`` passages it found."""
    t0 = time.perf_counter()
    question = check_question(question)
    k = check_k(k)
    mode = check_mode(mode)
    idx = open_index(index)
    t1 = time.perf_counter()
    hits = idx.search_rows(question, k, mode)
    passages = [idx.passage(h.row, rank=i + 1, score=h.score) for i, h in enumerate(hits)]
    t2 = time.perf_counter()
    found = idx.is_answered(question, hits)
    if found:
        terms = idx.lexical_terms(question)
        text = extract_answer(terms, passages, idx.term_weights(terms))
    else:
        text = NOT_FOUND_MESSAGE
    t3 = time.perf_counter()
    return Answer(
        question=question,
        answer=text,
        found=found,
        passages=passages,
        mode=mode,
        timings={
            "load_s": round(t1 - t0, 4),
            "search_s": round(t2 - t1, 4),
            "answer_s": round(t3 - t2, 4),
        },
    )
