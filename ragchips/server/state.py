"""What a worker holds for its lifetime, and the ``Depends`` that hand it to routes.

One :class:`Service` per app: the settings, the index (reloaded when a rebuild replaces
its manifest), the retrieval slots and one reused chat client per configured model. Routes
never build any of these: they ask for them with ``Depends(get_settings)``,
``Depends(get_index)``... so a test can swap one with ``app.dependency_overrides``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import Depends, Request

from ..api import open_index
from ..errors import RagchipsError
from ..index import Index, default_index_path
from ..settings import EXTRACTIVE_MODELS, Settings
from .errors import ApiError

if TYPE_CHECKING:
    from ..llm import ChatClient

__all__ = [
    "IndexHolder",
    "Service",
    "get_index",
    "get_service",
    "get_settings",
    "require_key",
]

log = logging.getLogger("ragchips.server")

# After a failed reload, serve the previous index this long before trying again.
RELOAD_RETRY_S = 2.0
# A request waits this long for another request's reload, then takes the previous index.
RELOAD_WAIT_S = 1.0
# An idle worker looks at the index this often: it then holds only the current generation
# (a compaction's old copy was kept on disk until a request came); the next writer removes
# what no reader holds. It never takes the writer's lock: a reader must not make a writer
# fail.
IDLE_REFRESH_S = 30.0


class IndexHolder:
    """The index this process serves, reloaded when a rebuild replaces its manifest.

    Every worker process has its own holder over the same folder on disk; a rebuild
    writes a new generation and swaps the manifest atomically, so each worker picks it
    up on its next request (one ``stat``), never a half-written one.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.error: str | None = None
        self._current: Index | None = None
        self._lock = threading.Lock()
        self._failed_at = 0.0

    def get(self) -> Index:
        """The newest loadable index. A request that comes while another one reloads waits
        for that reload (up to RELOAD_WAIT_S): it used to be answered from the previous
        generation, a deleted document included, after the writer had returned."""
        current = self._current
        if (
            current is not None
            and self.error
            and time.monotonic() - self._failed_at < RELOAD_RETRY_S
        ):
            return current
        if not self._lock.acquire(timeout=-1 if current is None else RELOAD_WAIT_S):
            assert current is not None
            return current  # a reload this slow: the previous state rather than no answer
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


class Service:
    """Everything one app serves with, built once from :class:`~ragchips.settings.Settings`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        path = settings.index if settings.index is not None else default_index_path()
        self.index_path = Path(path).absolute()
        self.holder = IndexHolder(self.index_path)
        self.slots = threading.BoundedSemaphore(settings.concurrency)
        self._clients: dict[str, ChatClient] = {}
        self._clients_lock = threading.Lock()
        self._stop = threading.Event()
        settings.check_api_key()
        key = settings.api_key
        self._key_digest = hashlib.sha256(key.encode()).digest() if key else None

    # -- chat models ------------------------------------------------------------------------

    def model_names(self) -> list[str]:
        return [EXTRACTIVE_MODELS[0], *self.settings.chat_models]

    def chat_client(self, model: str | None) -> ChatClient | None:
        """The reused client for ``model``; ``None`` for the extractive answer.

        ``model`` is an extractive alias (the default chat model, if configured), or one of
        the operator's models; any other name is refused with a 400 that lists them, so a
        client can never make this server call a model (or a server) nobody configured.
        """
        name = (model or "").strip()
        if name.lower() in ("", *EXTRACTIVE_MODELS):
            if not self.settings.llm:
                return None
            name = self.settings.llm
        if name not in self.settings.chat_models:
            listed = ", ".join(repr(n) for n in self.model_names())
            raise ApiError(
                400,
                f"model {name!r} is not served here; the models are: {listed}",
                "invalid_request_error",
                "model",
                "model_not_found",
            )
        with self._clients_lock:
            client = self._clients.get(name)
            if client is None:
                from ..llm import ChatClient, LLMConfig

                config = LLMConfig.from_env(model=name, env=self.settings.llm_env)
                client = self._clients[name] = ChatClient(config)
            return client

    def slot(self, client: ChatClient | None) -> AbstractContextManager[Any]:
        """A retrieval slot, unless a chat model writes the answer: that is seconds of waiting
        on another server, not of CPU here, and must not hold back other questions."""
        return self.slots if client is None else nullcontext()

    def close(self) -> None:
        self._stop.set()
        with self._clients_lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()

    def start_refreshing(self) -> None:
        """Refresh in the background while idle (see ``IDLE_REFRESH_S``); once per
        lifespan (an app may be started again)."""
        self._stop = threading.Event()
        stop = self._stop
        threading.Thread(
            target=self._refresh_loop, args=(stop,), name="ragchips-refresh", daemon=True
        ).start()

    def _refresh_loop(self, stop: threading.Event) -> None:
        while not stop.wait(IDLE_REFRESH_S):
            self.refresh()

    def refresh(self) -> None:
        """Switch to the current generation, releasing the old one's segments."""
        try:
            self.holder.get()
        except (RagchipsError, OSError) as exc:  # the index gone or damaged meanwhile
            log.debug("index %s: idle refresh skipped: %s", self.index_path, exc)

    # -- client keys -------------------------------------------------------------------------

    def key_ok(self, authorization: str | None) -> bool:
        """Whether ``Authorization: Bearer KEY`` carries the configured key (constant time)."""
        if self._key_digest is None:
            return True
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer":
            return False
        given = hashlib.sha256(token.strip().encode("utf-8", "replace")).digest()
        return hmac.compare_digest(given, self._key_digest)


def get_service(request: Request) -> Service:
    return request.app.state.service


def get_settings(service: Service = Depends(get_service)) -> Settings:  # noqa: B008
    return service.settings


def get_index(service: Service = Depends(get_service)) -> Index:  # noqa: B008
    return service.holder.get()


def require_key(request: Request, service: Service = Depends(get_service)) -> None:  # noqa: B008
    """401 unless the request carries the operator's key (when one is configured)."""
    if not service.key_ok(request.headers.get("authorization")):
        raise ApiError(
            401,
            "a valid API key is required: send 'Authorization: Bearer KEY'",
            "authentication_error",
            code="invalid_api_key",
            headers={"WWW-Authenticate": "Bearer"},
        )
