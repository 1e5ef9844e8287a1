"""Summaries written by a chat model, still citing the passages ``[n]``.

The extractive answer only copies sentences; a chat model can write a real answer from
the same passages. Any server speaking the OpenAI chat-completions protocol works
(OpenAI, Ollama, vLLM, the llama.cpp server, LM Studio): ``POST {base_url}/chat/completions``,
optionally streamed as server-sent events. A model can still go wrong, so every answer goes
through :func:`check_citations` (a ``[n]`` that names no passage is removed and reported),
and the passages are sent as quoted data the model is told never to obey.

Settings: :class:`LLMConfig` (:mod:`ragchips.llm_config`, which lists the variables).

The HTTP side (retries, timeouts, one-line errors) is :mod:`ragchips.llm_client`.

Fallback: :func:`summarise` falls back to its ``fallback`` callable only when the config
asks for it (``LLMConfig.fallback``). The callable supplies the text, the flag is the
user's consent: ``ask()`` always passes its extractive answer, so ``fallback=False`` (the
default) keeps a broken server loud, and without a callable a failure always raises.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Generator

from .llm_client import ChatClient
from .llm_config import DEFAULT_BASE_URL, LLMConfig, LLMError
from .prompt import NO_CITATION_WARNING, SYSTEM_PROMPT, build_messages, check_citations
from .results import Passage

__all__ = [
    "DEFAULT_BASE_URL",
    "NO_CITATION_WARNING",
    "SYSTEM_PROMPT",
    "ChatClient",
    "LLMConfig",
    "LLMError",
    "SummaryStream",
    "build_messages",
    "check_citations",
    "client_for",
    "summarise",
    "summarise_stream",
]


# -- what ask() calls ---------------------------------------------------------------------


# Clients by configuration: ask(llm="model") in a loop reuses one connection pool.
_CLIENTS: OrderedDict[LLMConfig, ChatClient] = OrderedDict()
_CLIENTS_LOCK = threading.Lock()
# Configurations kept; the least recently used is dropped (not closed: it may be in use).
_MAX_CLIENTS = 8


def client_for(config: LLMConfig) -> ChatClient:
    """The process's shared client for ``config`` (one per distinct configuration)."""
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(config)
        if client is None:
            client = _CLIENTS[config] = ChatClient(config)
            while len(_CLIENTS) > _MAX_CLIENTS:
                _CLIENTS.popitem(last=False)
        else:
            _CLIENTS.move_to_end(config)
        return client


def _resolve(llm: str | LLMConfig | ChatClient) -> tuple[ChatClient, bool]:
    """A client for ``llm``, and whether it is ours to close (never, now: shared)."""
    if isinstance(llm, ChatClient):
        return llm, False
    if isinstance(llm, LLMConfig):
        return client_for(llm), False
    if isinstance(llm, str):
        return client_for(LLMConfig.from_env(model=llm)), False
    raise TypeError(
        f"llm must be a model name, an LLMConfig or a ChatClient, not {type(llm).__name__}"
    )


def _fallback_warning(exc: LLMError) -> str:
    return f"le modèle de langage n'a pas répondu, réponse extractive à la place ({exc})"


def summarise(
    question: str,
    passages: list[Passage],
    llm: str | LLMConfig | ChatClient,
    fallback: Callable[[], str] | None = None,
) -> tuple[str, list[str]]:
    """The model's answer from ``passages`` with its citations checked, and the warnings.

    ``llm`` as a string is a model name, the rest coming from the environment. If the
    server fails, the answer is ``fallback()`` plus a warning when both a callable is
    given and the config's ``fallback`` flag is set; otherwise :class:`LLMError` is raised.
    """
    client, owned = _resolve(llm)
    try:
        text = client.complete(build_messages(question, passages))
    except LLMError as exc:
        if fallback is None or not client.config.fallback:
            raise
        return fallback(), [_fallback_warning(exc)]
    finally:
        if owned:
            client.close()
    return check_citations(text, len(passages))


class SummaryStream:
    """The text deltas of a streamed summary (an iterator), and its :meth:`finish` step.

    :meth:`finish` turns the concatenated text into the final ``(text, warnings)``:
    citations checked, plus any fallback warning. With fallback enabled (see
    :func:`summarise`), a server failing before the first delta makes the stream yield
    ``fallback()`` instead; failing after it ends the stream with an "incomplete" warning.
    """

    def __init__(
        self,
        client: ChatClient,
        owned: bool,
        messages: list[dict[str, str]],
        n_passages: int,
        fallback: Callable[[], str] | None,
    ) -> None:
        self.warnings: list[str] = []
        self.fell_back = False
        self._n = n_passages
        self._gen = self._run(client, owned, messages, fallback)

    def __iter__(self) -> SummaryStream:
        return self

    def __next__(self) -> str:
        return next(self._gen)

    def close(self) -> None:
        """Stop early and release the connection."""
        self._gen.close()

    def finish(self, text: str) -> tuple[str, list[str]]:
        if self.fell_back:
            return text, list(self.warnings)
        checked, warnings = check_citations(text, self._n)
        return checked, [*self.warnings, *warnings]

    def _run(
        self,
        client: ChatClient,
        owned: bool,
        messages: list[dict[str, str]],
        fallback: Callable[[], str] | None,
    ) -> Generator[str, None, None]:
        started = False
        try:
            for delta in client.stream(messages):
                started = True
                yield delta
        except LLMError as exc:
            if fallback is None or not client.config.fallback:
                raise
            if started:
                self.warnings.append(f"la réponse du modèle est incomplète ({exc})")
            else:
                self.fell_back = True
                self.warnings.append(_fallback_warning(exc))
                yield fallback()
        finally:
            if owned:
                client.close()


def summarise_stream(
    question: str,
    passages: list[Passage],
    llm: str | LLMConfig | ChatClient,
    fallback: Callable[[], str] | None = None,
) -> SummaryStream:
    """Like :func:`summarise`, streamed: iterate for the deltas as the model writes them.

    Nothing is sent before the first ``next()``; errors surface while iterating. The
    markers are checked by ``SummaryStream.finish`` (or :func:`check_citations`) once
    the text is complete.
    """
    client, owned = _resolve(llm)
    return SummaryStream(client, owned, build_messages(question, passages), len(passages), fallback)
