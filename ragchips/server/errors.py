"""Errors as OpenAI-style JSON on every route, and the guards that run before any route.

``{"error": {"message", "type", "param", "code"}}``. Malformed JSON → 400; a body over the
limit → 413 before anything is parsed; a field of the wrong type or out of range → 422; a
question or filter the library refuses → 400; a missing or wrong API key → 401; a model
nobody configured → 400; too many requests in flight from one client → 429 with
``Retry-After``; an index that cannot be opened → 503; a chat model that fails → 502;
anything else → 500 without a traceback (the traceback goes to the server log).
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from ..errors import (
    CorruptIndexError,
    EmbedderMismatchError,
    IndexNotFoundError,
    InvalidQuestionError,
    NoMatchError,
    RagchipsError,
)

__all__ = [
    "ApiError",
    "BodyLimit",
    "CatchAll",
    "ClientLimit",
    "install_handlers",
    "ragchips_status",
]

log = logging.getLogger("ragchips.server")

# A refused body up to this size is still read (and dropped) so the client gets the 413.
DRAIN_BYTES = 1024 * 1024


class ApiError(Exception):
    """An HTTP error with its OpenAI-style body (raised by routes and dependencies)."""

    def __init__(
        self,
        status: int,
        message: str,
        type_: str,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.param = status, message, type_, param
        self.code, self.headers = code, headers or {}

    def response(self) -> JSONResponse:
        body = {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }
        return JSONResponse(body, status_code=self.status, headers=self.headers)


def _is_llm_error(exc: BaseException) -> bool:
    llm = sys.modules.get("ragchips.llm")
    error_class = getattr(llm, "LLMError", None)
    return error_class is not None and isinstance(exc, error_class)


def ragchips_status(exc: RagchipsError) -> tuple[int, str]:
    if isinstance(exc, InvalidQuestionError | NoMatchError):  # NoMatch: a where nothing meets
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


def install_handlers(app: FastAPI) -> None:
    """Every error a route can raise becomes the JSON body above."""

    @app.exception_handler(RequestValidationError)
    async def on_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        status, message, param = _validation_message(list(exc.errors()))
        return ApiError(status, message, "invalid_request_error", param).response()

    @app.exception_handler(RagchipsError)
    async def on_ragchips(request: Request, exc: RagchipsError) -> JSONResponse:
        status, type_ = ragchips_status(exc)
        if status >= 500:
            log.warning("%s %s: %s", request.method, request.url.path, exc)
        return ApiError(status, str(exc), type_).response()

    @app.exception_handler(ApiError)
    async def on_api_error(request: Request, exc: ApiError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(HTTPException)
    async def on_http(request: Request, exc: HTTPException) -> JSONResponse:
        type_ = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
        headers = dict(exc.headers) if exc.headers else None
        message = str(exc.detail)  # FastAPI's "There was an error parsing the body": say why
        if isinstance(exc.__cause__, UnicodeDecodeError):
            message = "the request body is not valid JSON (not UTF-8 text)"
        elif isinstance(exc.__cause__, RecursionError):
            message = "the request body is not valid JSON (nested too deeply)"
        return ApiError(exc.status_code, message, type_, headers=headers).response()


class BodyLimit:
    """Refuse bodies over the limit of their path with a 413, before any of it is parsed.

    ``limits`` maps a path to its limit (chat histories are longer than questions), else
    ``default``. The refused body is still read and dropped, up to :data:`DRAIN_BYTES`:
    closing a connection with unread data makes the kernel reset it, and the client would
    get a "connection reset" instead of the 413. Also reads every POST body as JSON
    whatever its ``Content-Type`` (``curl -d`` labels JSON as form data), or without one
    (``requests.post(url, data=json.dumps(body))`` sends none).
    """

    def __init__(self, app: Any, default: int, limits: dict[str, int] | None = None) -> None:
        self.app = app
        self.default = default
        self.limits = limits or {}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.get(scope.get("path", ""), self.default)
        headers = dict(scope.get("headers") or ())
        if scope.get("method") == "POST" and b"json" not in headers.get(b"content-type", b""):
            headers[b"content-type"] = b"application/json"
            scope = {**scope, "headers": list(headers.items())}
        try:
            declared = int(headers.get(b"content-length", b"-1"))
        except ValueError:
            declared = -1
        message = f"the request body is over {limit // 1024} KiB"
        if declared > limit:
            drained = declared <= DRAIN_BYTES and await _drain(receive, DRAIN_BYTES)
            response = ApiError(413, message, "invalid_request_error").response()
            if not drained:
                response.headers["Connection"] = "close"
            await response(scope, receive, send)
            return
        received = 0
        state = {"more": True, "refused": False}

        async def counted() -> Any:
            nonlocal received
            event = await receive()
            if event["type"] == "http.request":
                received += len(event.get("body", b""))
                state["more"] = bool(event.get("more_body"))
                if received > limit:
                    state["refused"] = True
                    raise HTTPException(413, message)
            return event

        try:
            await self.app(scope, counted, send)
        finally:
            if state["refused"] and state["more"]:
                await _drain(receive, DRAIN_BYTES)


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


class ClientLimit:
    """At most ``limit`` requests in flight per client on ``paths``; the next gets a 429.

    A client is its bearer key when the service requires keys (a wrong key fails fast with
    a 401 anyway), else its address. The count covers the whole request,
    a streamed reply included, and a refused request costs nothing: no queue builds up
    behind a client that sends faster than it reads.
    """

    RETRY_AFTER_S = 1

    def __init__(self, app: Any, limit: int, paths: frozenset[str], by_key: bool) -> None:
        self.app = app
        self.limit = limit
        self.paths = paths
        self.by_key = by_key
        self._lock = threading.Lock()
        self._in_flight: dict[str, int] = {}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("path") not in self.paths:
            await self.app(scope, receive, send)
            return
        who = _client_id(scope, self.by_key)
        limit = self.limit
        with self._lock:
            busy = self._in_flight.get(who, 0)
            if busy < limit:
                self._in_flight[who] = busy + 1
        if busy >= limit:
            response = ApiError(
                429,
                f"too many requests in flight from this client (limit {limit}): "
                "retry when one has finished",
                "rate_limit_error",
                code="rate_limit_exceeded",
                headers={"Retry-After": str(self.RETRY_AFTER_S)},
            ).response()
            await response(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            with self._lock:
                left = self._in_flight[who] - 1
                if left:
                    self._in_flight[who] = left
                else:
                    del self._in_flight[who]


def _client_id(scope: Any, by_key: bool) -> str:
    for name, value in scope.get("headers") or () if by_key else ():
        if name == b"authorization" and value:
            return "key:" + value.decode("latin-1")
    client = scope.get("client")
    return "addr:" + (client[0] if client else "?")


class CatchAll:
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
            await ApiError(500, message, "server_error").response()(scope, receive, send)
