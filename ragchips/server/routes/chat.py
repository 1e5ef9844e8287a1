"""``/v1/models`` and ``/v1/chat/completions``: OpenAI's protocol, every reply with sources."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse

from ...api import ask
from ...conversation import ChatTurn, count_tokens, question_for
from ...errors import RagchipsError
from ...index import Index
from ...results import Answer, AnswerStream, Passage, page_label
from ..errors import ragchips_status
from ..schemas import (
    AssistantMessage,
    ChatChoice,
    ChatCompletionChunkOut,
    ChatCompletionOut,
    ChatMeta,
    ChatRequest,
    ChunkChoice,
    ChunkDelta,
    Citation,
    ErrorOut,
    ModelOut,
    ModelsOut,
    Usage,
)
from ..state import Service, get_index, get_service, require_key

__all__ = ["router", "sources_block"]

log = logging.getLogger("ragchips.server")
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}

router = APIRouter(dependencies=[Depends(require_key)], tags=["chat"])


def sources_block(passages: list[Passage]) -> str:
    """The readable list that ends every chat reply."""
    if not passages:
        return "\n\nSources : aucun passage de la collection ne correspond."
    lines = [
        f"[{p.rank}] {p.title} — {p.source}{page_label(p.page)} [{p.start}:{p.end}]"
        for p in passages
    ]
    return "\n\nSources :\n" + "\n".join(lines)


@router.get("/v1/models", response_model=ModelsOut, summary="Model names for chat")
def models_route(service: Service = Depends(get_service)) -> ModelsOut:  # noqa: B008
    """'ragchips' (the collection's own answer) and the chat models the operator set up."""
    return ModelsOut(data=[ModelOut(id=name) for name in service.model_names()])


@router.post(
    "/v1/chat/completions",
    response_model=ChatCompletionOut,
    responses={
        200: {
            "description": "a chat completion, or with stream=true server-sent "
            "chat.completion.chunk events (ChatCompletionChunkOut); the first chunk "
            "carries `citations`",
            "content": {"text/event-stream": {}},
        },
        429: {"model": ErrorOut},
        502: {"model": ErrorOut},
    },
    summary="OpenAI-compatible chat, every reply with its sources",
)
def chat_route(
    body: ChatRequest,
    index: Index = Depends(get_index),  # noqa: B008
    service: Service = Depends(get_service),  # noqa: B008
) -> Any:
    """Answer the last user message in the context of the conversation.

    Only the newest messages within the server's token budget are read (the others are
    counted under ``ragchips.trimmed_messages``). A follow-up ("et quand commencera la
    production ?") is searched together with the previous question's content words (see
    :func:`ragchips.conversation.rewrite_question`); the searched question is returned
    under ``ragchips.question``. Every reply carries its sources twice: a ``citations``
    list (in the first chunk when streaming) and a numbered "Sources :" list at its end.
    """
    client = service.chat_client(body.model)
    turn = question_for(body.messages, service.settings.history_tokens)
    with service.slot(client):
        result = ask(
            turn.question,
            k=body.k,
            index=index,
            mode=body.mode,
            where=body.where,
            llm=client,
            stream=body.stream,
            settings=service.settings,
        )
    model = body.model or service.model_names()[0]
    if body.stream:
        assert isinstance(result, AnswerStream)
        include_usage = bool((body.stream_options or {}).get("include_usage"))
        events = _chat_events(result, model, turn, include_usage)
        first = next(events)  # the model's first words, or its error, before any header
        return StreamingResponse(
            _chained(first, events), media_type="text/event-stream", headers=SSE_HEADERS
        )
    assert isinstance(result, Answer)
    content = result.answer + sources_block(result.passages)
    completion_tokens = count_tokens(content)
    return ChatCompletionOut(
        id=_completion_id(),
        created=int(time.time()),
        model=model,
        choices=[ChatChoice(message=AssistantMessage(content=content))],
        usage=_usage(turn.prompt_tokens, completion_tokens),
        citations=[Citation.of(p) for p in result.passages],
        ragchips=_meta(turn, result.found, result.warnings),
    )


def _meta(turn: ChatTurn, found: bool | None = None, warnings: list[str] | None = None) -> ChatMeta:
    return ChatMeta(
        question=turn.question,
        rewritten=turn.rewritten,
        trimmed_messages=turn.dropped,
        found=found,
        warnings=list(warnings or []),
    )


def _usage(prompt: int, completion: int) -> Usage:
    return Usage(
        prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
    )


def _completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"


def _sse(obj: Any) -> bytes:
    return b"data: " + json.dumps(obj, ensure_ascii=False).encode("utf-8") + b"\n\n"


def _chained(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest


def _chat_events(
    stream: AnswerStream, model: str, turn: ChatTurn, include_usage: bool
) -> Iterator[bytes]:
    """The SSE events of a streamed reply.

    1. role + ``citations`` (sources are known before the first word), sent together with
       the first text delta, so that a chat model failing before its first word still gets
       an HTTP error status;
    2. the text deltas as they are written;
    3. the readable "Sources :" list;
    4. ``finish_reason: "stop"`` with ``ragchips`` (searched question, found, warnings);
    5. with ``stream_options.include_usage``, a usage chunk; then ``data: [DONE]``.
    """
    cid, created = _completion_id(), int(time.time())

    def chunk(delta: ChunkDelta | None, finish: bool = False, **extra: Any) -> bytes:
        choices = (
            []
            if delta is None
            else [ChunkChoice(index=0, delta=delta, finish_reason="stop" if finish else None)]
        )
        out = ChatCompletionChunkOut(
            id=cid,
            object="chat.completion.chunk",
            created=created,
            model=model,
            choices=choices,
            **extra,
        )
        return _sse(out.model_dump(mode="json", exclude_unset=True))

    texts = iter(stream)
    first_text = next(texts, "")  # an error here is still a JSON error response
    citations = [Citation.of(p) for p in stream.passages]
    head = chunk(ChunkDelta(role="assistant", content=""), citations=citations)
    yield head + (chunk(ChunkDelta(content=first_text)) if first_text else b"")
    completion_tokens = count_tokens(first_text)
    try:
        for text in texts:
            if text:
                completion_tokens += count_tokens(text)
                yield chunk(ChunkDelta(content=text))
    except Exception as exc:  # headers are gone: report in the stream, as OpenAI servers do
        if isinstance(exc, RagchipsError):
            message, type_ = str(exc), ragchips_status(exc)[1]
        else:
            log.error("streamed answer failed", exc_info=exc)
            message, type_ = "internal server error (details in the server log)", "server_error"
        yield _sse({"error": {"message": message, "type": type_, "param": None, "code": None}})
        yield b"data: [DONE]\n\n"
        return
    final = stream.final
    sources = sources_block(stream.passages)
    completion_tokens += count_tokens(sources)
    yield chunk(ChunkDelta(content=sources))
    yield chunk(ChunkDelta(), True, ragchips=_meta(turn, final.found, final.warnings))
    if include_usage:
        yield chunk(None, usage=_usage(turn.prompt_tokens, completion_tokens))
    yield b"data: [DONE]\n\n"
