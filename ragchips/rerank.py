"""Rerankers: an optional stage after fusion that reorders (or drops) the passages found.

A reranker is anything with a ``name`` and ``rerank(question, passages) -> passages``, found
by name in :data:`RERANKERS`; other packages add theirs through the ``ragchips.rerankers``
entry point group (see :mod:`ragchips.plugins`), for instance a cross-encoder. ragchips ships
none: the fused ranking is measured and tuned, and a reranker is a trade of latency for
quality that the operator makes knowingly.

:func:`rerank` is what the search code calls: it checks that the reranker only reorders and
drops passages it was given (a citation must still point at the index's exact text) and
numbers the ranks again from 1.
"""

from __future__ import annotations

import threading
from typing import Protocol, runtime_checkable

from .errors import PluginError, RagchipsError, exception_line
from .plugins import RERANKERS_GROUP, Registry
from .results import Passage

__all__ = ["NO_RERANKER", "RERANKERS", "Reranker", "get_reranker", "rerank"]

# The name that means "no reranking" (for options and settings).
NO_RERANKER = "none"


@runtime_checkable
class Reranker(Protocol):
    """Reorders passages for a question, best first; may return fewer, never others."""

    name: str

    def rerank(self, question: str, passages: list[Passage]) -> list[Passage]: ...


RERANKERS: Registry[Reranker] = Registry("reranker", RERANKERS_GROUP, check=Reranker)
_INSTANCES: dict[str, Reranker] = {}
_LOCK = threading.Lock()


def get_reranker(name: str | None) -> Reranker | None:
    """The reranker called ``name`` (made once per process); None for no name or ``"none"``."""
    if not name or name == NO_RERANKER:
        return None
    with _LOCK:
        if name not in _INSTANCES:
            _INSTANCES[name] = RERANKERS.create(name)
        return _INSTANCES[name]


def rerank(question: str, passages: list[Passage], reranker: Reranker | None) -> list[Passage]:
    """``passages`` reordered by ``reranker`` (unchanged without one), ranked again from 1.

    A reranker may change scores (the passages' ``score``), but the span of every passage it
    returns must be one it was given, once.
    """
    if reranker is None or not passages:
        return passages
    given = {_span(p) for p in passages}
    name = getattr(reranker, "name", type(reranker).__name__)
    try:
        out = list(reranker.rerank(question, list(passages)))
    except RagchipsError:
        raise
    except Exception as exc:  # a plugin's failure, or None where a list was due
        raise PluginError(f"reranker {name!r} failed: {exception_line(exc)}") from exc
    spans = [_span(p) if isinstance(p, Passage) else None for p in out]
    if any(s not in given for s in spans) or len(set(spans)) != len(spans):
        raise PluginError(
            f"reranker {name!r} returned passages it was not given (or one twice); "
            "a reranker may only reorder and drop passages"
        )
    by_span = {_span(p): p for p in passages}
    return [p.ranked(i, like=by_span[_span(p)]) for i, p in enumerate(out, start=1)]


def _span(p: Passage) -> tuple[str, int, int]:
    return (p.doc_id, p.start, p.end)
