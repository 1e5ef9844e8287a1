"""A LlamaIndex retriever over a ragchips index (extra ``llamaindex``: llama-index-core).

>>> from ragchips.integrations.llamaindex import RagchipsLlamaRetriever
>>> nodes = RagchipsLlamaRetriever(index="indexes/seeds", k=3).retrieve("qui fabrique la puce ?")
>>> nodes[0].node.metadata["start"], nodes[0].score

Each ``NodeWithScore`` holds one passage as a ``TextNode`` (``start_char_idx`` and
``end_char_idx`` set to its span) with the same citation metadata as the LangChain
retriever; it plugs into ``RetrieverQueryEngine`` and any LlamaIndex pipeline.
"""

from __future__ import annotations

from typing import Any

from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from ..results import Passage
from . import citation_metadata

__all__ = ["RagchipsLlamaRetriever", "to_node"]


def to_node(passage: Passage) -> NodeWithScore:
    """One passage as a scored LlamaIndex node."""
    metadata = citation_metadata(passage)
    node = TextNode(
        id_=f"ragchips:{passage.doc_id}:{passage.start}-{passage.end}",
        text=passage.text,
        metadata=metadata,
        start_char_idx=passage.start,
        end_char_idx=passage.end,
        # The citation stays with the node but is not what an LLM or embedder reads.
        excluded_embed_metadata_keys=list(metadata),
        excluded_llm_metadata_keys=[
            k
            for k in metadata
            if k not in ("title", "source", "page") or (k == "page" and passage.page is None)
        ],
    )
    return NodeWithScore(node=node, score=float(passage.score))


class RagchipsLlamaRetriever(BaseRetriever):
    """Passages of a ragchips index as LlamaIndex nodes, best first."""

    def __init__(
        self,
        index: Any = None,
        k: int = 5,
        mode: str = "hybrid",
        where: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self._index = index
        self._k = k
        self._mode = mode
        self._where = where
        super().__init__(**kwargs)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        from ..api import open_index

        passages = open_index(self._index).search(
            query_bundle.query_str, self._k, self._mode, self._where
        )
        return [to_node(p) for p in passages]

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        from ..aio import asearch

        passages = await asearch(
            query_bundle.query_str, self._k, self._index, self._mode, self._where
        )
        return [to_node(p) for p in passages]
