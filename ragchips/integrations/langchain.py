"""A LangChain retriever over a ragchips index (extra ``langchain``: langchain-core).

>>> from ragchips.integrations.langchain import RagchipsRetriever
>>> retriever = RagchipsRetriever(index="indexes/seeds", k=3)
>>> docs = retriever.invoke("qui fabrique la puce ?")
>>> docs[0].metadata["source"], docs[0].metadata["start"], docs[0].metadata["end"]

Each ``Document`` is one passage; its metadata carry the exact citation (see
:func:`ragchips.integrations.citation_metadata`). The async path (``ainvoke``) runs the
search in a worker thread, so it does not block the event loop.
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from ..index import check_k
from ..results import Passage
from . import citation_metadata

__all__ = ["RagchipsRetriever", "to_document"]


def to_document(passage: Passage) -> Document:
    """A LangChain ``Document`` for one passage, with its citation as metadata."""
    return Document(page_content=passage.text, metadata=citation_metadata(passage))


class RagchipsRetriever(BaseRetriever):
    """Passages of a ragchips index as LangChain documents, best first.

    ``index`` is a folder, an :class:`~ragchips.index.Index` or None (the default index);
    ``k``, ``mode`` and ``where`` are those of :meth:`ragchips.index.Index.search`.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    index: Any = None
    k: int = 5
    mode: str = "hybrid"
    where: dict[str, Any] | None = None

    def __init__(self, **data: Any) -> None:
        # ask()'s one-line error for a bad k, before pydantic turns True or "3" into a
        # number (or wraps the error in a ValidationError).
        if "k" in data:
            check_k(data["k"])
        super().__init__(**data)

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        from ..api import open_index

        passages = open_index(self.index).search(query, self.k, self.mode, self.where)
        return [to_document(p) for p in passages]

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun
    ) -> list[Document]:
        from ..aio import asearch

        passages = await asearch(query, self.k, self.index, self.mode, self.where)
        return [to_document(p) for p in passages]
