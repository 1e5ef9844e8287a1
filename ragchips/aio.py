"""The async API: ``await aask(...)``, ``await asearch(...)``, ``async for`` over a stream.

Loading an index, embedding a question and calling a chat model block; here that work
runs in a worker thread (:func:`asyncio.to_thread`), so a notebook or an async web app
keeps its event loop free while ragchips works. Results are the same objects as the sync
API returns (:class:`~ragchips.results.Answer`, :class:`~ragchips.results.Passage`).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from .results import Answer, AnswerStream, Passage

__all__ = ["AsyncAnswerStream", "aask", "aopen_index", "asearch", "astream"]

IndexLike = Any  # a folder, an Index or None (the default index)
_END = object()


async def aopen_index(index: str | os.PathLike[str] | IndexLike = None) -> Any:
    """:func:`ragchips.open_index` in a thread (the first load reads files and the model)."""
    from .api import open_index

    return await asyncio.to_thread(open_index, index)


async def aask(
    question: str,
    k: int = 5,
    index: IndexLike = None,
    mode: str = "hybrid",
    where: dict[str, Any] | None = None,
    llm: Any = None,
) -> Answer:
    """:func:`ragchips.ask`, awaited: the same :class:`Answer`, the loop left free."""
    answer = await _ask_in_thread(question, k, index, mode, where, llm, stream=False)
    assert isinstance(answer, Answer)
    return answer


async def _ask_in_thread(
    question: str,
    k: int,
    index: IndexLike,
    mode: str,
    where: dict[str, Any] | None,
    llm: Any,
    stream: bool,
) -> Answer | AnswerStream:
    """:func:`ragchips.ask` run in a worker thread (loading, embedding and a chat model block)."""
    from .api import ask

    return await asyncio.to_thread(
        ask, question, k=k, index=index, mode=mode, where=where, llm=llm, stream=stream
    )


async def asearch(
    question: str,
    k: int = 5,
    index: IndexLike = None,
    mode: str = "hybrid",
    where: dict[str, Any] | None = None,
) -> list[Passage]:
    """The ``k`` best passages for ``question`` (no answer written), awaited."""
    idx = await aopen_index(index)
    passages: list[Passage] = await asyncio.to_thread(idx.search, question, k, mode, where)
    return passages


class AsyncAnswerStream:
    """An :class:`~ragchips.results.AnswerStream` for ``async for``: each piece of text is
    awaited from a worker thread; ``passages`` and ``found`` are known from the start and
    ``await stream.final()`` gives the complete answer (a coroutine, unlike the sync
    stream's ``final`` property: it may have to read the rest of the stream)."""

    def __init__(self, stream: AnswerStream) -> None:
        self._stream = stream
        self._chunks = iter(stream)
        self.question = stream.question
        self.passages = stream.passages
        self.found = stream.found
        self.mode = stream.mode

    def __aiter__(self) -> AsyncAnswerStream:
        return self

    async def __anext__(self) -> str:
        chunk = await asyncio.to_thread(next, self._chunks, _END)
        if chunk is _END:
            raise StopAsyncIteration
        return str(chunk)

    async def final(self) -> Answer:
        """The complete answer (reads what is left of the stream)."""
        return await asyncio.to_thread(lambda: self._stream.final)


async def astream(
    question: str,
    k: int = 5,
    index: IndexLike = None,
    mode: str = "hybrid",
    where: dict[str, Any] | None = None,
    llm: Any = None,
) -> AsyncAnswerStream:
    """:func:`ragchips.ask` with ``stream=True``, for ``async for``."""
    stream = await _ask_in_thread(question, k, index, mode, where, llm, stream=True)
    assert isinstance(stream, AnswerStream)
    return AsyncAnswerStream(stream)
