"""The request and response bodies: what ``/docs`` shows is what routes send.

Every route declares ``response_model=`` with one of the models below, and a passage is
always the library's own :class:`ragchips.Passage` dataclass (pydantic reads it as is), so
the schema cannot drift from :meth:`ragchips.Answer.to_dict`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..index import MAX_K, MAX_QUESTION_CHARS
from ..results import Claim, Passage
from ..settings import EXTRACTIVE_MODELS

__all__ = [
    "AnswerOut",
    "AskRequest",
    "ChatCompletionChunkOut",
    "ChatCompletionOut",
    "ChatRequest",
    "Citation",
    "DocumentOut",
    "ErrorOut",
    "HealthOut",
    "ModelsOut",
    "SearchOut",
    "SearchRequest",
]

_QUESTION_DOC = f"the question, 1 to {MAX_QUESTION_CHARS} characters once trimmed"
_WHERE_DOC = (
    "keep only documents whose fields match: {field: value} or {field: [any, of]}; "
    "fields are doc_id, source, title and the documents' metadata"
)
Mode = Literal["hybrid", "dense", "lexical"]


class SearchRequest(BaseModel):
    """A retrieval: the ``k`` best passages for ``question``."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(..., description=_QUESTION_DOC, examples=["qui fabrique la puce ?"])
    k: int = Field(5, ge=1, le=MAX_K, strict=True, description="passages to return")
    mode: Mode = Field("hybrid", description="hybrid (dense + lexical), dense or lexical")
    where: dict[str, Any] | None = Field(None, description=_WHERE_DOC)


class AskRequest(SearchRequest):
    """A question to answer from the collection, citing ``k`` passages."""

    llm: str | None = Field(
        None,
        description="a chat model the operator configured (see GET /v1/models) to write the "
        "answer; default: the server's default model, else the extractive answer",
    )


class AnswerOut(BaseModel):
    """An answer with its sources (``[n]`` in the answer cites ``passages[n-1]``)."""

    question: str
    answer: str
    found: bool = Field(..., description="false when no passage answers the question")
    confidence: float | None = Field(
        None, description="calibrated belief in [0, 1] that the collection answers it"
    )
    mode: str
    claims: list[Claim] = Field(
        default_factory=list,
        description="the answer's sentences, each with its exact span in its document",
    )
    passages: list[Passage]
    warnings: list[str]
    timings: dict[str, float]


class SearchOut(BaseModel):
    passages: list[Passage]


class DocumentOut(BaseModel):
    """A stored document: passage offsets ``[start:end]`` point into ``text``."""

    doc_id: str
    source: str
    title: str
    text: str
    metadata: dict[str, Any]


class HealthOut(BaseModel):
    status: Literal["ok", "stale"] = Field(
        ..., description="stale: a rebuilt index could not be loaded; the previous one serves"
    )
    index: str
    generation: str
    documents: int
    passages: int
    error: str | None = Field(None, description="why the index could not be reloaded")
    heavy_modules: list[str] = Field(
        ..., description="torch and the like, loaded in this process (should be empty)"
    )
    worker_pid: int = Field(..., description="the worker process that answered")


class ModelOut(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "ragchips"


class ModelsOut(BaseModel):
    """The names ``/v1/chat/completions`` accepts; any other is refused with a 400."""

    object: Literal["list"] = "list"
    data: list[ModelOut]


class ChatMessage(BaseModel):
    """One message of the conversation; ``content`` may be OpenAI's list of parts."""

    model_config = ConfigDict(extra="allow")

    role: str
    content: str | list[dict[str, Any]] | None = None


class ChatRequest(BaseModel):
    """OpenAI's chat-completions request. Sampling parameters are accepted and ignored."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(
        EXTRACTIVE_MODELS[0],
        description="'ragchips' for the collection's own answer (the server's default chat "
        "model if it has one, else extractive), or a chat model listed by GET /v1/models",
    )
    messages: list[ChatMessage] = Field(..., min_length=1)
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    k: int = Field(
        5, ge=1, le=MAX_K, strict=True, description="ragchips extension: passages to cite"
    )
    mode: Mode = Field("hybrid", description="ragchips extension: retrieval mode")
    where: dict[str, Any] | None = Field(None, description="ragchips extension: " + _WHERE_DOC)


class Citation(BaseModel):
    """A source of the reply: ``[index]`` in the text; ``quote`` is document text[start:end]."""

    index: int
    source: str
    title: str
    doc_id: str
    start: int
    end: int
    quote: str
    page: int | None = Field(None, description="the page the passage starts on (PDF)")

    @classmethod
    def of(cls, p: Passage) -> Citation:
        return cls(
            index=p.rank,
            source=p.source,
            title=p.title,
            doc_id=p.doc_id,
            start=p.start,
            end=p.end,
            quote=p.text,
            page=p.page,
        )


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class ChatChoice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop"] = "stop"


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatMeta(BaseModel):
    """What ragchips searched: the rewritten question, and what it found."""

    question: str
    rewritten: bool
    trimmed_messages: int = Field(0, description="old messages left out of the token budget")
    found: bool | None = None
    warnings: list[str] = []


class ChatCompletionOut(BaseModel):
    """OpenAI's chat completion, plus ``citations`` and ``ragchips`` (what was searched)."""

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage
    citations: list[Citation]
    ragchips: ChatMeta


class ChunkDelta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChunkChoice(BaseModel):
    index: int = 0
    delta: ChunkDelta
    finish_reason: Literal["stop"] | None = None


class ChatCompletionChunkOut(BaseModel):
    """One server-sent event of a streamed reply (``citations`` in the first one only)."""

    model_config = ConfigDict(extra="forbid")

    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    citations: list[Citation] | None = None
    ragchips: ChatMeta | None = None
    usage: Usage | None = None


class ErrorBody(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorOut(BaseModel):
    error: ErrorBody
