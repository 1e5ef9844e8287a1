"""A real OpenAI-compatible chat server on 127.0.0.1, scripted reply by reply.

Tests of code that talks to a chat model need the real failure modes (refused or dropped
connections, stalls, cut streams, garbage), which a mocked transport cannot produce. This
server is the stdlib ``ThreadingHTTPServer`` on a free loopback port, speaking
``POST /v1/chat/completions`` (JSON, or server-sent events when ``"stream": true``).

Each request takes the next behaviour from a queue (:meth:`OpenAIStub.enqueue`); once the
queue is empty, :attr:`OpenAIStub.default` answers (a short cited reply). Every request is
recorded in :attr:`OpenAIStub.requests` (headers, JSON body, messages)::

    with OpenAIStub() as stub:
        stub.enqueue(status(429, retry_after=0), reply("La puce est gravée par TSMC [1]."))
        ...  # point the client at stub.url (".../v1") or monkeypatch stub.env()
        assert stub.requests[-1].json["model"] == "m"

Behaviours: :func:`reply` (JSON or SSE, following the request), :func:`completion` (JSON
always), :func:`json_reply`, :func:`sse` (deltas with delays, cut, without ``[DONE]``),
:func:`status` (with ``Retry-After``), :func:`hang`, :func:`close`, :func:`garbage`.

Using it from another test file: ``tests/`` is not a package, so put the folder on the path
first, then import the fixture too (pytest registers it under the name ``openai_stub``)::

    sys.path.insert(0, str(Path(__file__).parent))
    from openai_stub import OpenAIStub, openai_stub_fixture, reply  # noqa: E402, F401
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

__all__ = [
    "Behaviour",
    "OpenAIStub",
    "RecordedRequest",
    "close",
    "completion",
    "garbage",
    "hang",
    "json_reply",
    "openai_stub_fixture",
    "reply",
    "sse",
    "status",
]

CHAT_PATH = "/v1/chat/completions"
DEFAULT_TEXT = "Réponse du serveur de test [1]."


# -- behaviours ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Behaviour:
    """One scripted answer; build it with the functions below."""

    kind: str
    status: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    events: tuple[str | dict[str, Any] | bytes, ...] = ()
    delay: float = 0.0
    first_delay: float = 0.0
    done: bool = True
    finish_reason: str | None = "stop"
    cut: bool = False
    text: str = ""
    seconds: float = 30.0


def json_reply(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Behaviour:
    """``body`` (a JSON-able value, or ``str``/``bytes`` sent verbatim) with ``status``."""
    if isinstance(body, bytes):
        raw = body
    elif isinstance(body, str):
        raw = body.encode()
    else:
        raw = json.dumps(body, ensure_ascii=False).encode()
    return Behaviour("json", status=status, body=raw, headers=tuple((headers or {}).items()))


def completion_body(text: str | None, model: str = "stub", finish_reason: str = "stop") -> dict:
    """A chat-completion object whose message content is ``text``."""
    return {
        "id": "chatcmpl-stub",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": finish_reason,
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def completion(text: str | None) -> Behaviour:
    """A JSON chat completion answering ``text`` (even to a streaming request)."""
    return json_reply(completion_body(text))


def reply(text: str = DEFAULT_TEXT, delay: float = 0.0) -> Behaviour:
    """``text`` as the request wants it: JSON, or SSE word by word (``delay`` between)."""
    return Behaviour("reply", text=text, delay=delay)


def sse(
    events: list[str | dict[str, Any] | bytes],
    delay: float = 0.0,
    first_delay: float = 0.0,
    done: bool = True,
    finish_reason: str | None = "stop",
    cut: bool = False,
) -> Behaviour:
    """A 200 event stream: each ``str`` is a content delta, each ``dict`` an event sent as
    is, each ``bytes`` written raw. ``delay`` seconds before each event after the first
    (``first_delay`` before the first); then a ``finish_reason`` chunk (unless None) and
    ``data: [DONE]`` (unless ``done=False``), and a proper end of body. ``cut=True`` drops
    the connection after the events instead, mid-body.
    """
    return Behaviour(
        "sse",
        events=tuple(events),
        delay=delay,
        first_delay=first_delay,
        done=done,
        finish_reason=finish_reason,
        cut=cut,
    )


def status(
    code: int, message: str | None = None, retry_after: float | str | None = None
) -> Behaviour:
    """An error reply in OpenAI's shape, with an optional ``Retry-After`` header."""
    headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
    body = {"error": {"message": message or f"stub error {code}", "type": "stub", "code": code}}
    return json_reply(body, status=code, headers=headers)


def hang(seconds: float = 30.0) -> Behaviour:
    """Read the request, then say nothing for ``seconds`` (or until the stub stops)."""
    return Behaviour("hang", seconds=seconds)


def close() -> Behaviour:
    """Read the request, then close the connection without a reply."""
    return Behaviour("close")


def garbage(data: bytes = b"\x00\xffNOT HTTP AT ALL\r\n\r\n") -> Behaviour:
    """Write ``data`` instead of an HTTP response, then close."""
    return Behaviour("garbage", body=data)


# -- the server ---------------------------------------------------------------------------


@dataclass
class RecordedRequest:
    """A request as the stub received it (header names lower-cased)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    json: Any = None
    received_at: float = field(default_factory=time.monotonic)

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list((self.json or {}).get("messages") or [])

    @property
    def prompt(self) -> str:
        """All message contents, joined: what the model was told."""
        return "\n".join(str(m.get("content", "")) for m in self.messages)


class OpenAIStub:
    """The server; a context manager. ``url`` ends in ``/v1`` like a real base URL."""

    def __init__(self, default: Behaviour | None = None) -> None:
        self.default = default or reply()
        self.requests: list[RecordedRequest] = []
        self._queue: deque[Behaviour] = deque()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> OpenAIStub:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> OpenAIStub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "the stub is not running"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def env(self, model: str = "stub-model", api_key: str | None = None) -> dict[str, str]:
        """Variables that point ``ragchips.llm.LLMConfig.from_env`` at this stub."""
        out = {"RAGCHIPS_LLM_BASE_URL": self.url, "RAGCHIPS_LLM_MODEL": model}
        if api_key is not None:
            out["RAGCHIPS_LLM_API_KEY"] = api_key
        return out

    # -- script ------------------------------------------------------------------------

    def enqueue(self, *behaviours: Behaviour) -> OpenAIStub:
        with self._lock:
            self._queue.extend(behaviours)
        return self

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._queue)

    @property
    def last(self) -> RecordedRequest:
        return self.requests[-1]

    def _next(self, request: RecordedRequest) -> Behaviour:
        with self._lock:
            self.requests.append(request)
            return self._queue.popleft() if self._queue else self.default


def _handler_for(stub: OpenAIStub) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        pass

    Handler.stub = stub
    return Handler


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    stub: OpenAIStub

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        request = RecordedRequest(
            method=self.command,
            path=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            json=parsed,
        )
        self.close_connection = True
        if self.path != CHAT_PATH or self.command != "POST":
            with self.stub._lock:
                self.stub.requests.append(request)
            self._send_json(404, status(404, f"no route {self.command} {self.path}").body)
            return
        behaviour = self.stub._next(request)
        streaming = isinstance(parsed, dict) and bool(parsed.get("stream"))
        # The client may give up first (a timeout test): nothing more to say then.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._play(behaviour, streaming)

    def _play(self, b: Behaviour, streaming: bool) -> None:
        if b.kind == "reply":
            if streaming:
                words = b.text.split(" ")
                deltas = [w if i == 0 else " " + w for i, w in enumerate(words)]
                self._send_sse(sse(list(deltas), delay=b.delay))
            else:
                time.sleep(b.delay)
                self._send_json(200, json.dumps(completion_body(b.text)).encode())
        elif b.kind == "json":
            self._send_json(b.status, b.body, b.headers)
        elif b.kind == "sse":
            self._send_sse(b)
        elif b.kind == "hang":
            self.stub._stop.wait(b.seconds)
            self._drop()
        elif b.kind == "close":
            self._drop()
        elif b.kind == "garbage":
            self.wfile.write(b.body)
            self.wfile.flush()
            self._drop()
        else:  # pragma: no cover - a typo in a test script
            raise ValueError(f"unknown behaviour {b.kind!r}")

    def _send_json(self, code: int, body: bytes, headers: tuple[tuple[str, str], ...] = ()) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def _send_sse(self, b: Behaviour) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.flush()
        for i, event in enumerate(b.events):
            pause = b.first_delay if i == 0 else b.delay
            if pause:
                time.sleep(pause)
            self._chunk(_event_bytes(event, first=i == 0))
        if b.cut:
            # Half a chunk, then the connection drops: an incomplete body, as when a proxy
            # or the server dies mid-answer.
            self.wfile.write(b'40\r\ndata: {"choices": [{"delta": {"content": "tron')
            self.wfile.flush()
            self._drop()
            return
        if b.finish_reason is not None:
            finish = {"choices": [{"index": 0, "delta": {}, "finish_reason": b.finish_reason}]}
            self._chunk(_event_bytes(finish, first=False))
        if b.done:
            self._chunk(b"data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _drop(self) -> None:
        """Close the connection at once (no HTTP ending)."""
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


def _event_bytes(event: str | dict[str, Any] | bytes, first: bool) -> bytes:
    if isinstance(event, bytes):
        return event
    if isinstance(event, str):
        delta: dict[str, Any] = {"content": event}
        if first:
            delta["role"] = "assistant"
        event = {
            "id": "chatcmpl-stub",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "stub",
            "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
        }
    return b"data: " + json.dumps(event, ensure_ascii=False).encode() + b"\n\n"


@pytest.fixture(name="openai_stub")
def openai_stub_fixture() -> Iterator[OpenAIStub]:
    """A running :class:`OpenAIStub`, stopped after the test."""
    with OpenAIStub() as stub:
        yield stub
