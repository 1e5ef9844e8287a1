"""The HTTP service: cited answers for chatbots and people, the model loaded once per worker.

Chatbot backends usually drop the sources on the way out. Here every answer keeps them:
``/ask`` returns :meth:`ragchips.Answer.to_dict`; the OpenAI-compatible
``/v1/chat/completions`` adds a structured ``citations`` list *and* a readable
"Sources :" list to every reply; ``GET /`` is a chat page whose citations open the
source document with the cited span highlighted.

Where things are:

=====================  ===================================================================
``app.py``             ``create_app(settings)``: the factory that wires the rest
``routes/``            one router per concern: ``answers`` (/ask, /search, /documents),
                       ``chat`` (/v1/models, /v1/chat/completions), ``health``, ``page`` (/)
``schemas.py``         request and response models (``response_model=`` of every route)
``state.py``           the per-worker :class:`Service` and the ``Depends`` routes use
``errors.py``          JSON errors, the body limit, the per-client limit, the catch-all
``run.py``             ``ragchips serve`` options and uvicorn (one or N workers)
``static/``            the chat page (HTML, CSS, JS: no CDN)
=====================  ===================================================================

Safe to expose: bound to 127.0.0.1 unless ``--host`` says otherwise; ``--api-key`` makes
every API route require ``Authorization: Bearer KEY`` (compared in constant time); only
chat models the operator configured are ever called; chat histories are trimmed to a token
budget; a client with too many requests in flight gets a 429 with ``Retry-After``.

fastapi, pydantic and uvicorn (the ``server`` extra) are imported only when the app is
built, and ``import ragchips`` never imports this package.
"""

from __future__ import annotations

from typing import Any

from ..conversation import is_followup, rewrite_question
from .run import add_serve_arguments, main_serve, serve, settings_from_args

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_CHAT_BODY_BYTES",
    "add_serve_arguments",
    "create_app",
    "is_followup",
    "main_serve",
    "rewrite_question",
    "serve",
    "settings_from_args",
]


def __getattr__(name: str) -> Any:
    """The app and its limits, imported (with fastapi) only when asked for."""
    if name in ("create_app", "MAX_BODY_BYTES", "MAX_CHAT_BODY_BYTES"):
        from . import app

        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
