"""``ragchips mcp``: the collection for agents, over stdio, with the official MCP SDK.

Tools: ``search`` (the passages for a question, each with its exact citation) and ``ask``
(the cited answer, its claims, confidence and warnings). Resources: every document's stored
text, at ``ragchips://documents/<doc_id, percent-encoded>`` (each passage and claim gives
its ``resource``), the text that offsets point into, so an agent can check a citation by
reading ``text[start:end]``. Needs the ``mcp`` extra (mcp >= 2).
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import quote

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.resources import FunctionResource

from ..errors import RagchipsError
from ..results import Passage
from . import citation, citation_metadata

__all__ = ["RESOURCE_PREFIX", "build_server", "resource_uri", "run_stdio"]

RESOURCE_PREFIX = "ragchips://documents/"

INSTRUCTIONS = (
    "Search a French document collection and cite it exactly. 'search' returns passages "
    "with source, page and [start:end] character offsets into the document text; 'ask' "
    "returns an extractive answer citing passages as [n], and its claims (each answer "
    "sentence with its own [start:end]). Documents are resources at "
    f"{RESOURCE_PREFIX}<doc_id, percent-encoded>, the 'resource' each passage and claim "
    "gives: their text[start:end] is each passage and claim, character for character."
)


def resource_uri(doc_id: str) -> str:
    """A document's address: its doc_id percent-encoded (it may hold "/", spaces, accents)."""
    return RESOURCE_PREFIX + quote(doc_id, safe="")


T = TypeVar("T")


async def _user_errors(work: Awaitable[T]) -> T:
    """A bad question reaches the agent as its one-line message (the SDK hides other
    exceptions' text)."""
    try:
        return await work
    except RagchipsError as exc:
        raise ToolError(str(exc)) from exc


def _passage(p: Passage) -> dict[str, Any]:
    return {
        **citation_metadata(p),
        "citation": citation(p),
        "text": p.text,
        "resource": resource_uri(p.doc_id),
    }


def build_server(index: str | os.PathLike[str] | Any = None) -> MCPServer:
    """An MCP server over ``index`` (a folder, an Index or None: the default index),
    loaded now, so a bad index fails before the agent connects."""
    from ..aio import aask, asearch
    from ..api import open_index

    idx = open_index(index)
    server = MCPServer(name="ragchips", instructions=INSTRUCTIONS)

    @server.tool()
    async def search(
        question: str, k: int = 5, mode: str = "hybrid", where: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """The k passages of the collection that best answer the question, best first,
        each with source, title, page, start, end, score and a printable citation."""
        passages = await _user_errors(asearch(question, k, idx, mode, where))
        return [_passage(p) for p in passages]

    @server.tool()
    async def ask(
        question: str, k: int = 5, mode: str = "hybrid", where: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """An answer to the question from the collection, citing its passages as [n]
        (n = rank), with its claims (each sentence's exact span); found is false and
        confidence low when the collection does not answer it."""
        answer = await _user_errors(aask(question, k=k, index=idx, mode=mode, where=where))
        return {
            "answer": answer.answer,
            "found": answer.found,
            "confidence": answer.confidence,
            "warnings": list(answer.warnings),
            "claims": [{**c.to_dict(), "resource": resource_uri(c.doc_id)} for c in answer.claims],
            "passages": [_passage(p) for p in answer.passages],
        }

    def reader(doc_id: str) -> Callable[[], str]:
        return lambda: str(idx.document(doc_id).text)

    for doc_id in idx.doc_ids():
        doc = idx.document(doc_id)
        server.add_resource(
            FunctionResource(
                uri=resource_uri(doc_id),
                name=doc_id,
                title=doc.title,
                description=f"{doc.title} ({doc.source})",
                mime_type="text/plain",
                fn=reader(doc_id),
            )
        )
    return server


def run_stdio(index: str | os.PathLike[str] | None = None) -> int:
    """Serve over stdin/stdout until the client disconnects."""
    build_server(index).run("stdio")
    return 0
