"""The HTTP side of chat models: one :class:`ChatClient` per server configuration.

The protocol is spoken by the official ``openai`` client (the ``llm`` extra), imported only
when a request is made; one client per :class:`ChatClient`, so its connection pool is
reused across calls. Its own retries are off: the policy here is ragchips's. 429 and 5xx
replies and refused or dropped connections are retried ``max_retries`` times with
exponential backoff (``backoff_base`` × 2^attempt, honouring ``Retry-After``, both capped
at ``max_backoff``); a timeout is not retried (the caller already waited ``timeout``), nor
is any other 4xx. A streamed answer is retried only before its first text arrives.
Failures are :class:`~ragchips.llm_config.LLMError`, one line naming the server and the
cause (never the key). What is asked of the model lives in :mod:`ragchips.llm`.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from .llm_config import LLMConfig, LLMError, redacted_url

if TYPE_CHECKING:
    import openai

__all__ = ["ChatClient"]

_KEY_VARS = "RAGCHIPS_LLM_API_KEY or OPENAI_API_KEY"
# Kept short in messages: a server's error text can be a whole HTML page.
_MAX_DETAIL = 200
# Indirection so tests can record the delays instead of waiting them.
_sleep = time.sleep


def _import_openai() -> tuple[Any, _RawErrors]:
    try:
        import openai
    except ImportError:
        raise LLMError(
            "summaries by a chat model need the openai client: pip install 'ragchips[llm]'"
        ) from None
    return openai, _raw_errors(openai)


@dataclass(frozen=True)
class _RawErrors:
    """The HTTP library's own errors, which some openai versions let through mid-stream."""

    timeout: tuple[type[BaseException], ...]
    transport: tuple[type[BaseException], ...]
    connect: tuple[type[BaseException], ...]


def _raw_errors(openai: Any) -> _RawErrors:
    # The library openai's client is built on (httpx, or a fork of it): its base class.
    base = next((c for c in openai.DefaultHttpxClient.__mro__[1:] if c.__name__ == "Client"), None)
    http = sys.modules.get(base.__module__.split(".")[0]) if base is not None else None
    if http is None or not hasattr(http, "TransportError"):
        return _RawErrors((), (), ())
    return _RawErrors((http.TimeoutException,), (http.TransportError,), (http.ConnectError,))


class _Retry(Exception):
    """An attempt that failed in a way worth trying again."""

    def __init__(self, cause: str, status: int | None = None, retry_after: float | None = None):
        super().__init__(cause)
        self.cause = cause
        self.status = status
        self.retry_after = retry_after


def _retry_after(value: str | None) -> float | None:
    """Seconds asked by a ``Retry-After`` header (a number or an HTTP date), if any."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def _retryable(status: int) -> bool:
    return status in (408, 429) or status >= 500


class ChatClient:
    """An OpenAI-compatible chat client (OpenAI, Ollama, vLLM, llama.cpp, LM Studio).

    The official ``openai`` client does the protocol (requests, auth, error statuses, SSE
    parsing); this class adds ragchips's policy on top: which failures are retried and
    how long to wait, one-line errors that name the server and never the key, and replies
    checked before they are trusted. One ``openai.OpenAI`` (and so one connection pool)
    per client, reused by every call; thread-safe; released by :meth:`close` (or ``with``).
    """

    def __init__(self, config: LLMConfig) -> None:
        self.config = config
        self._sdk: openai.OpenAI | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ChatClient(model={self.config.model!r}, base_url={self.shown_url!r})"

    def __enter__(self) -> ChatClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def shown_url(self) -> str:
        return redacted_url(self.config.base_url)

    def close(self) -> None:
        with self._lock:
            sdk, self._sdk = self._sdk, None
        if sdk is not None:
            sdk.close()

    # -- public calls -------------------------------------------------------------------

    def complete(self, messages: list[dict[str, str]]) -> str:
        """The model's whole answer to ``messages``."""
        params = self._params(messages, stream=False)

        def once() -> str:
            sdk = self._client()
            with self._failures():
                raw = sdk.chat.completions.with_raw_response.create(**params)
                body = raw.http_response.read()
            return self._parse_completion(body)

        return self._retrying(once)

    def stream(self, messages: list[dict[str, str]]) -> Iterator[str]:
        """The model's answer to ``messages`` as text deltas, yielded as they arrive."""
        openai, raw = _import_openai()
        params = self._params(messages, stream=True)

        def once() -> Any:
            sdk = self._client()
            with self._failures():
                opened = sdk.chat.completions.with_streaming_response.create(**params)
                return opened, opened.__enter__()

        opened, response = self._retrying(once)
        try:
            if response.headers.get("content-type", "").startswith("application/json"):
                # A server that ignored "stream": true; its whole answer is one delta.
                yield self._parse_completion(response.read())
                return
            yield from self._read_chunks(response.parse(), openai)
        except raw.timeout:
            raise self._error(self._timeout_cause("the stream stalled: ")) from None
        except raw.transport as exc:
            raise self._error(f"the stream was cut mid-answer ({_describe(exc)})") from exc
        finally:
            opened.__exit__(None, None, None)

    # -- internals ----------------------------------------------------------------------

    def _client(self) -> openai.OpenAI:
        openai, _ = _import_openai()
        with self._lock:
            if self._sdk is None:
                self._sdk = openai.OpenAI(
                    api_key=self.config.api_key or "no-key",  # its header is omitted
                    base_url=self.config.base_url,
                    timeout=self.config.timeout,
                    max_retries=0,  # retries are ours: see _retrying
                    default_headers={"User-Agent": "ragchips"},
                )
            return self._sdk

    def _params(self, messages: list[dict[str, str]], stream: bool) -> dict[str, Any]:
        openai, _ = _import_openai()
        headers: dict[str, Any] = {"Accept": "text/event-stream"} if stream else {}
        if not self.config.api_key:  # local servers: no Authorization header at all
            headers["Authorization"] = openai.Omit()
        params: dict[str, Any] = {
            "model": self.config.model,
            "messages": messages,
            "stream": stream,
            "extra_headers": headers,
        }
        if self.config.temperature is not None:
            params["temperature"] = self.config.temperature
        if self.config.max_tokens is not None:
            params["max_tokens"] = self.config.max_tokens
        return params

    @contextmanager
    def _failures(self) -> Iterator[None]:
        """The openai client's errors as :class:`_Retry` (worth another try) or LLMError."""
        openai, raw = _import_openai()
        try:
            yield
        except openai.APITimeoutError:
            raise self._error(self._timeout_cause()) from None
        except openai.APIConnectionError as exc:
            cause = exc.__cause__ if isinstance(exc.__cause__, Exception) else exc
            if isinstance(cause, raw.connect):
                raise _Retry(f"cannot connect ({_describe(cause)})") from cause
            raise _Retry(f"the connection failed ({_describe(cause)})") from cause
        except openai.APIStatusError as exc:
            raise self._status_failure(exc.response) from None
        except raw.timeout:
            raise self._error(self._timeout_cause()) from None
        except raw.transport as exc:
            raise _Retry(f"the reply was cut off ({_describe(exc)})") from exc

    def _status_failure(self, response: Any) -> Exception:
        status = response.status_code
        try:
            detail = self._detail(response.read())
        except Exception:  # the body of an error reply is a courtesy
            detail = ""
        cause = f"HTTP {status} {_reason(status)}"
        if status == 401:
            return self._error(f"{cause}: the API key was refused (set {_KEY_VARS})", status)
        if detail:
            cause += f": {detail}"
        if _retryable(status):
            return _Retry(cause, status, _retry_after(response.headers.get("retry-after")))
        if status == 404:
            cause += f" (check the base URL, …/v1, and the model name {self.config.model!r})"
        return self._error(cause, status)

    def _retrying(self, once: Callable[[], Any]) -> Any:
        attempts = self.config.max_retries + 1
        for attempt in range(attempts):
            try:
                return once()
            except _Retry as r:
                if attempt + 1 >= attempts:
                    tries = "1 attempt" if attempts == 1 else f"{attempts} attempts"
                    raise self._error(f"{r.cause}, after {tries}", r.status) from r.__cause__
                if r.retry_after is not None:
                    delay = r.retry_after
                else:
                    delay = self.config.backoff_base * 2**attempt
                _sleep(min(delay, self.config.max_backoff))
        raise AssertionError("unreachable")  # pragma: no cover

    def _parse_completion(self, body: bytes) -> str:
        try:
            data = json.loads(body)
        except ValueError:
            raise self._error(
                f"the reply is not valid JSON ({_snippet(body)!r})"
                if body
                else "the reply is empty"
            ) from None
        if not isinstance(data, dict):
            raise self._error("the reply is not a JSON object")
        if data.get("error") and not data.get("choices"):
            raise self._error(f"the server reported an error: {self._detail(body)}")
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise self._error("the reply has no choices (truncated or not a chat completion)")
        message = choices[0].get("message")
        content = _text_of(message.get("content") if isinstance(message, dict) else None)
        if content is None:
            raise self._error("the reply has no choices[0].message.content")
        if not content.strip():
            raise self._error("the model returned an empty answer")
        return content.strip()

    def _read_chunks(self, chunks: Iterable[Any], openai: Any) -> Iterator[str]:
        """The text deltas of the openai client's parsed stream, checked as they come.

        The client stops at ``[DONE]`` and hides it; a complete answer is recognised by
        its ``finish_reason`` instead (every OpenAI-compatible server sends one).
        """
        wrote = False
        finished = False
        events = iter(chunks)
        while True:
            try:
                chunk = next(events)
            except StopIteration:
                break
            except openai.APITimeoutError:
                raise self._error(self._timeout_cause("the stream stalled: ")) from None
            except openai.APIConnectionError as exc:
                cause = exc.__cause__ or exc
                raise self._error(f"the stream was cut mid-answer ({_describe(cause)})") from exc
            except openai.APIError as exc:  # an {"error": ...} event
                raise self._error(
                    f"the server reported an error mid-stream: {_snippet(str(exc).encode())}"
                ) from None
            except ValueError as exc:
                raise self._error(
                    f"the stream sent invalid JSON ({_snippet(str(exc).encode())})"
                ) from None
            for choice in getattr(chunk, "choices", None) or ()[:1]:
                delta = getattr(choice, "delta", None)
                content = _text_of(getattr(delta, "content", None))
                if content:
                    wrote = True
                    yield content
                if getattr(choice, "finish_reason", None):
                    finished = True
                break  # only the first choice is ours (n = 1)
        if not wrote:
            raise self._error("the model returned an empty answer")
        if not finished:
            raise self._error(
                "the stream ended without [DONE] or a finish reason: the answer is incomplete"
            )

    def _detail(self, body: bytes) -> str:
        """The server's own error message in ``body``, short and on one line."""
        try:
            data = json.loads(body)
        except ValueError:
            return _snippet(body)
        if isinstance(data, dict):
            err = data.get("error", data.get("detail", data.get("message")))
            if isinstance(err, dict):
                err = err.get("message") or err.get("code") or err
            if err:
                return _snippet(str(err).encode())
        return _snippet(body)

    def _timeout_cause(self, prefix: str = "") -> str:
        return f"{prefix}no reply within the {self.config.timeout:g} s timeout"

    def _error(self, cause: str, status: int | None = None) -> LLMError:
        message = f"LLM server {self.shown_url}: {cause}"
        key = self.config.api_key
        if key:
            message = message.replace(key, "***")
        return LLMError(" ".join(message.split()), base_url=self.shown_url, status=status)


def _text_of(content: Any) -> str | None:
    """A message's text: a string, or the text parts of a list of content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict)]
        return "".join(p for p in parts if isinstance(p, str))
    return None


def _snippet(body: bytes) -> str:
    text = " ".join(body.decode("utf-8", "replace").split())
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 1] + "…"


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
