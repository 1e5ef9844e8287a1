"""ragchips inside other frameworks, each behind its own extra and imported on demand:

==================  =====================================  ==========================
module              what                                   extra
==================  =====================================  ==========================
``langchain``       :class:`RagchipsRetriever` (LangChain  ``ragchips[langchain]``
                    ``BaseRetriever``, sync and async)
``llamaindex``      :class:`RagchipsLlamaRetriever`        ``ragchips[llamaindex]``
                    (``NodeWithScore`` results)
``mcp_server``      ``ragchips mcp``: tools ``search`` and  ``ragchips[mcp]``
                    ``ask``, documents as resources
==================  =====================================  ==========================

Every integration hands over the same citation metadata (:func:`citation_metadata`):
``source``, ``title``, ``page``, ``start``, ``end``, ``score`` (plus ``doc_id``,
``passage_id``, ``rank``, ``confidence`` and the document's own fields as ``metadata``), so
``document_text[start:end]`` is the passage exactly.
"""

from __future__ import annotations

from typing import Any

from ..results import Passage

__all__ = ["citation", "citation_metadata"]


def citation_metadata(passage: Passage) -> dict[str, Any]:
    """The metadata every integration attaches to a passage (JSON-safe)."""
    return {
        "source": passage.source,
        "title": passage.title,
        "page": passage.page,
        "start": passage.start,
        "end": passage.end,
        "score": float(passage.score),
        "doc_id": passage.doc_id,
        "passage_id": passage.passage_id,
        "rank": passage.rank,
        "confidence": passage.confidence,
        "metadata": _json_safe(passage.metadata),
    }


def _json_safe(value: Any) -> Any:
    """The document's own fields as JSON values (front matter may hold dates)."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def citation(passage: Passage) -> str:
    """How a passage is cited for people: ``rapport.pdf, p. 12 [start:end]``."""
    page = f", p. {passage.page}" if passage.page is not None else ""
    return f"{passage.source}{page} [{passage.start}:{passage.end}]"
