"""The app factory: settings in, a FastAPI app out (one per worker process).

``create_app(settings)`` wires the pieces that live in their own modules: the routers
(:mod:`.routes`), the dependencies (:mod:`.state`), the error handlers and the guards
(:mod:`.errors`: body limit, per-client limit, catch-all). ``/docs`` and the chat page
use only assets served by this app, so both work without internet.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from ..settings import Settings
from .errors import BodyLimit, CatchAll, ClientLimit, install_handlers
from .routes import answers, chat, health, page
from .schemas import ErrorOut
from .state import Service

__all__ = ["MAX_BODY_BYTES", "MAX_CHAT_BODY_BYTES", "create_app"]

log = logging.getLogger("ragchips.server")

# A question is at most MAX_QUESTION_CHARS: a body of /ask or /search is small.
MAX_BODY_BYTES = 64 * 1024
# A chat carries its whole history; it is trimmed to a token budget after parsing.
MAX_CHAT_BODY_BYTES = 2 * 1024 * 1024
# The routes that do work, counted by the per-client limit.
LIMITED_PATHS = frozenset({"/ask", "/search", "/v1/chat/completions"})


def _version() -> str:
    from .. import __version__

    return __version__


def create_app(
    settings: Settings | str | os.PathLike[str] | None = None,
    *,
    concurrency: int | None = None,
    warm_up: bool | None = None,
) -> FastAPI:
    """The FastAPI app serving ``settings.index`` (default: the bundled index).

    ``settings`` defaults to :meth:`Settings.from_env`; a path is a shortcut for those
    settings with that index. With ``warm_up``, start-up opens the index and answers one
    question, so the first request does not pay for loading the embedder.
    """
    if not isinstance(settings, Settings):
        settings = Settings.from_env(index=settings)
    settings = settings.replace(concurrency=concurrency, warm_up=warm_up)
    service = Service(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        t0 = time.perf_counter()
        index = service.holder.get()
        if settings.warm_up:  # loads the embedder and checks it against the index
            index.search("préchauffage du service", k=1)
        log.info(
            "ragchips: serving %s (generation %s, %d passages), ready in %.2f s",
            service.index_path,
            index.generation,
            len(index),
            time.perf_counter() - t0,
        )
        # Not held for the server's life: a rebuilt index replaces this one, and a reference
        # kept here would keep its segments (their leases) on disk until the server stops.
        del index
        service.start_refreshing()
        try:
            yield
        finally:
            service.close()

    from fastapi_offline import FastAPIOffline

    errors = {"model": ErrorOut}
    app = FastAPIOffline(
        title="ragchips",
        summary="Cited answers from French documents; every reply carries its sources.",
        version=_version(),
        lifespan=lifespan,
        static_url="/static/docs",
        redoc_url=None,
        responses={s: errors for s in (400, 401, 413, 422, 429, 500, 503)},
    )
    app.state.service = service
    app.add_middleware(CatchAll)
    app.add_middleware(
        ClientLimit,
        limit=settings.client_limit,
        paths=LIMITED_PATHS,
        by_key=settings.api_key is not None,
    )
    app.add_middleware(
        BodyLimit, default=MAX_BODY_BYTES, limits={"/v1/chat/completions": MAX_CHAT_BODY_BYTES}
    )
    install_handlers(app)
    for module in (answers, chat, health, page):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=page.STATIC_DIR), name="static")
    if settings.debug_routes:

        @app.get("/debug/fail", include_in_schema=False)
        def fail_route() -> None:
            """An unexpected error on purpose (tests): a 500 without the details below."""
            raise RuntimeError("debug failure: secret internal detail")

    return app
