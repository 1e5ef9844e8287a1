"""Where and how to ask a chat model: :class:`LLMConfig`, and :class:`LLMError`.

Settings (read by :meth:`LLMConfig.from_env`, i.e. whenever ``llm`` is a model name):

=============================  ==========================================================
``RAGCHIPS_LLM_BASE_URL``      server root, up to ``/v1`` (else ``OPENAI_BASE_URL``, else
                               ``https://api.openai.com/v1``; Ollama:
                               ``http://localhost:11434/v1``)
``RAGCHIPS_LLM_API_KEY``       bearer key (else ``OPENAI_API_KEY``); may be unset for local
                               servers, then no ``Authorization`` header is sent
``RAGCHIPS_LLM_MODEL``         model name when none is given (else ``RAGCHIPS_LLM``, which
                               also makes ``ask()`` use the model by default)
``RAGCHIPS_LLM_TIMEOUT``       seconds allowed to connect and for each read (default 60);
                               a stream may last longer as long as text keeps coming
``RAGCHIPS_LLM_MAX_RETRIES``   extra attempts after a 429, a 5xx or a failed connection
                               (default 2)
``RAGCHIPS_LLM_TEMPERATURE``   sampling temperature (default 0); ``default`` sends none,
                               for models that accept only their own
``RAGCHIPS_LLM_FALLBACK``      ``1``/``true``: when the server fails, answer with the
                               extractive text and a warning instead of raising
=============================  ==========================================================
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from .errors import RagchipsError

__all__ = ["DEFAULT_BASE_URL", "LLMConfig", "LLMError"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_RETRIES = 2


class LLMError(RagchipsError):
    """The chat model could not give an answer (server down, refused, timed out, garbage).

    ``base_url`` is the server asked (credentials removed) and ``status`` its HTTP status
    when it sent one.
    """

    def __init__(self, message: str, *, base_url: str | None = None, status: int | None = None):
        super().__init__(message)
        self.base_url = base_url
        self.status = status


# -- configuration ------------------------------------------------------------------------


@dataclass(frozen=True)
class LLMConfig:
    """Where and how to ask the chat model.

    Building one directly reads no environment variable (so ``api_key`` defaults to none);
    :meth:`from_env` does. ``timeout`` bounds the connection and every single read, so a
    silent server fails after ``timeout`` seconds. ``backoff_base`` and ``max_backoff``
    shape the waits between retries (seconds).
    """

    model: str
    base_url: str = DEFAULT_BASE_URL
    api_key: str | None = field(default=None, repr=False)
    timeout: float = DEFAULT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    temperature: float | None = 0.0
    fallback: bool = False
    max_tokens: int | None = None
    backoff_base: float = 1.0
    max_backoff: float = 20.0

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model.strip():
            raise LLMError("no chat model given: pass llm='model-name' or set RAGCHIPS_LLM_MODEL")
        base = str(self.base_url).strip().rstrip("/")
        if not re.match(r"https?://[^/\s]+", base):
            raise LLMError(
                f"invalid LLM base URL {redacted_url(base)!r}: expected http(s)://host[:port]/v1"
            )
        object.__setattr__(self, "base_url", base)
        object.__setattr__(self, "model", self.model.strip())
        if self.api_key is not None and not self.api_key.strip():
            object.__setattr__(self, "api_key", None)
        if not self.timeout > 0:
            raise LLMError(f"invalid LLM timeout {self.timeout!r}: must be > 0 seconds")
        if not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise LLMError(f"invalid LLM max_retries {self.max_retries!r}: must be an int >= 0")
        if self.backoff_base < 0 or self.max_backoff < 0:
            raise LLMError("invalid LLM backoff: backoff_base and max_backoff must be >= 0")

    @classmethod
    def from_env(
        cls, model: str | None = None, env: Mapping[str, str] | None = None, **overrides: Any
    ) -> LLMConfig:
        """The settings of ``env`` (default ``os.environ``; see the module doc), ``overrides``
        winning. The service passes the variables it read once at start-up."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise TypeError(f"unknown LLMConfig field(s): {', '.join(unknown)}")
        env = os.environ if env is None else env
        values: dict[str, Any] = {
            "base_url": env.get("RAGCHIPS_LLM_BASE_URL")
            or env.get("OPENAI_BASE_URL")
            or DEFAULT_BASE_URL,
            "api_key": env.get("RAGCHIPS_LLM_API_KEY") or env.get("OPENAI_API_KEY") or None,
            "model": model or env.get("RAGCHIPS_LLM_MODEL") or env.get("RAGCHIPS_LLM") or "",
        }
        # Only the settings not overridden are parsed: a bad variable is not in the way.
        wanted = known - set(overrides)
        if "timeout" in wanted and "RAGCHIPS_LLM_TIMEOUT" in env:
            values["timeout"] = _env_number(env, "RAGCHIPS_LLM_TIMEOUT", float)
        if "max_retries" in wanted and "RAGCHIPS_LLM_MAX_RETRIES" in env:
            values["max_retries"] = _env_number(env, "RAGCHIPS_LLM_MAX_RETRIES", int)
        if "temperature" in wanted and "RAGCHIPS_LLM_TEMPERATURE" in env:
            raw = env["RAGCHIPS_LLM_TEMPERATURE"].strip().lower()
            values["temperature"] = (
                None
                if raw in ("", "default", "none")
                else _env_number(env, "RAGCHIPS_LLM_TEMPERATURE", float)
            )
        if "fallback" in wanted and "RAGCHIPS_LLM_FALLBACK" in env:
            flag = env["RAGCHIPS_LLM_FALLBACK"].strip().lower()
            values["fallback"] = flag in ("1", "true", "yes", "on")
        values.update(overrides)
        return cls(**values)


def _env_number(env: Mapping[str, str], name: str, kind: type[float] | type[int]) -> float | int:
    raw = env[name].strip()
    try:
        return kind(raw)
    except ValueError:
        raise LLMError(f"invalid {name}={raw!r}: expected a number") from None


def redacted_url(url: str) -> str:
    """``url`` without ``user:password@``: error messages must not leak credentials."""
    return re.sub(r"^(https?://)[^/@\s]*@", r"\1", url)
