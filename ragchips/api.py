"""``ask()``: one call from a question to a cited answer.

Indexes are opened once per process and kept (keyed by folder), and reopened only when a
rebuild has replaced their manifest, so a notebook or a server pays the load once.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

from .analysis import analyze
from .answer import (
    CLOSEST,
    CLOSEST_MANY,
    NO_PASSAGE_MESSAGE,
    NO_WORDS_MESSAGE,
    NOT_FOUND_MESSAGE,
    READ_PASSAGES,
    _flat,
    extract,
)
from .answertype import asked_about_name
from .calibration import is_english
from .errors import ConfigurationError
from .index import (
    Index,
    Where,
    check_folder,
    check_k,
    check_mode,
    check_question,
    default_index_path,
)
from .lexical import EXACT_ANALYZER
from .query import Question, Retrieval
from .results import Answer, AnswerStream, Claim, Passage

if TYPE_CHECKING:
    from .rerank import Reranker
    from .settings import Settings

__all__ = ["ask", "open_index"]

_CACHE: dict[str, tuple[tuple[int, int, int], Index]] = {}
_CACHE_LOCK = threading.Lock()


def _manifest_stamp(directory: Path) -> tuple[int, int, int]:
    """Changes whenever a save replaces the manifest (a new file: new inode)."""
    try:
        st = (directory / "manifest.json").stat()
    except OSError:
        return (-1, -1, -1)
    return (st.st_mtime_ns, st.st_ino, st.st_size)


def open_index(index: str | os.PathLike[str] | Index | None = None) -> Index:
    """The index at ``index`` (default: :func:`default_index_path`), cached per process."""
    if isinstance(index, Index):
        return index
    directory = check_folder(index) if index is not None else default_index_path()
    key = str(directory.resolve())
    stamp = _manifest_stamp(directory)
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
        if cached and cached[0] == stamp:
            return cached[1]
    loaded = Index.load(directory)
    with _CACHE_LOCK:
        _CACHE[key] = (stamp, loaded)
    return loaded


@overload
def ask(
    question: str,
    k: int = ...,
    index: str | os.PathLike[str] | Index | None = ...,
    mode: str = ...,
    where: Where | None = ...,
    llm: Any = ...,
    stream: Literal[False] = ...,
    rerank: str | Reranker | None = ...,
    settings: Settings | None = ...,
) -> Answer: ...
@overload
def ask(
    question: str,
    k: int = ...,
    index: str | os.PathLike[str] | Index | None = ...,
    mode: str = ...,
    where: Where | None = ...,
    llm: Any = ...,
    *,
    stream: Literal[True],
    rerank: str | Reranker | None = ...,
    settings: Settings | None = ...,
) -> AnswerStream: ...
@overload
def ask(
    question: str,
    k: int = ...,
    index: str | os.PathLike[str] | Index | None = ...,
    mode: str = ...,
    where: Where | None = ...,
    llm: Any = ...,
    stream: bool = ...,
    rerank: str | Reranker | None = ...,
    settings: Settings | None = ...,
) -> Answer | AnswerStream: ...
def ask(
    question: str,
    k: int = 5,
    index: str | os.PathLike[str] | Index | None = None,
    mode: str = "hybrid",
    where: Where | None = None,
    llm: Any = None,
    stream: bool = False,
    rerank: str | Reranker | None = None,
    settings: Settings | None = None,
) -> Answer | AnswerStream:
    """Answer ``question`` from the collection, citing the ``k`` passages it found.

    ``where`` keeps only documents whose fields match (``{"lang": "fr"}``, a list means
    any of). ``llm`` (a model name, :class:`ragchips.llm.LLMConfig` or client) has the
    passages summarised by an OpenAI-compatible chat model instead of the extractive
    answer; ``$RAGCHIPS_LLM`` sets a default. With ``stream=True`` the result is an
    :class:`AnswerStream` that yields the text as it is written. ``rerank`` (a registered
    reranker's name, or one) reorders the passages after fusion (see :mod:`ragchips.rerank`).
    ``settings`` (built once by the CLI or the service, :class:`ragchips.settings.Settings`)
    supplies the default model and its server; without it, a Python caller is the edge and
    ``$RAGCHIPS_LLM`` / ``$RAGCHIPS_LLM_*`` are read here.
    """
    t0 = time.perf_counter()
    question = check_question(question)
    k = check_k(k)
    mode = check_mode(mode)
    idx = open_index(index)
    t1 = time.perf_counter()
    # One pass: the question is analysed once, inside retrieve, and everything below reads
    # the result. The best cosine decides found, whatever the mode, so it is always embedded.
    # The answer is chosen among at least READ_PASSAGES passages even when fewer are asked
    # for: with k=1 the best-ranked passage is often about the topic, not the answer.
    got = idx.retrieve(question, max(k, READ_PASSAGES), mode, where)
    query = got.question
    terms = query.terms
    pool = [
        idx.passage(h.row, rank=i + 1, score=h.score, confidence=got.hit_confidence(h))
        for i, h in enumerate(got.hits)
        if terms
    ]
    if rerank is not None and pool:
        from .rerank import get_reranker
        from .rerank import rerank as apply_reranker

        if not isinstance(rerank, str) and not callable(getattr(rerank, "rerank", None)):
            raise ConfigurationError(
                f"rerank must be a reranker's name or a Reranker, not {type(rerank).__name__}"
            )
        reranker = get_reranker(rerank) if isinstance(rerank, str) else rerank
        pool = apply_reranker(question, pool, reranker)
    t2 = time.perf_counter()
    confidence = got.confidence if pool else 0.0
    found = bool(pool) and got.found
    name = asked_about_name(question) if pool and not found else None
    if pool and not found and (query.keyword or name):
        # A keyword search ("Tigris") is answered by the passages that hold its words, as
        # written: stems alone would let "OpenAI" (stem "open") match "open access". So is a
        # question about a name ("Qui est Gina Raimondo ?"), by a passage naming it: its
        # few words leave the cosine low even when the passage says who she is.
        if name:
            found = _flat(name).casefold() in _flat(pool[0].text).casefold()
        else:
            found = _holds_all(analyze(pool[0].text), terms) and _holds_all(
                EXACT_ANALYZER(pool[0].text), EXACT_ANALYZER(question)
            )
        if found:  # found is confidence >= 0.5 (Answer): the words are the evidence here
            confidence = max(confidence, 0.5)
    similarity = _similarity(idx, got, query) if pool else None
    passages = _sources(pool, k, terms, got.weights, query, similarity) if found else pool[:k]
    timings = {"load_s": round(t1 - t0, 4), "search_s": round(t2 - t1, 4)}
    llm = _chat_model(llm, settings)
    claims: list[Claim] = []

    def extractive() -> str:
        if not terms:
            return NO_WORDS_MESSAGE
        if not passages:
            return NO_PASSAGE_MESSAGE
        out = extract(terms, passages, got.weights, query, weak=not found, similarity=similarity)
        if not found:
            # Weak evidence: say so, and still show the closest sentence of each of the two
            # closest passages, each cited.
            if not out.claims:
                return NOT_FOUND_MESSAGE
            claims[:] = out.claims
            lead = CLOSEST if len(out.claims) == 1 else CLOSEST_MANY
            return f"{NOT_FOUND_MESSAGE} {lead} {out.text}"
        claims[:] = out.claims
        return out.text

    if llm is None or not found:
        text = extractive()
        timings["answer_s"] = round(time.perf_counter() - t2, 4)
        if stream:
            return AnswerStream(
                question,
                passages,
                found,
                mode,
                iter([text]),
                lambda t: (t, []),
                timings,
                claims,
                confidence,
            )
        return Answer(question, text, found, passages, mode, [], timings, claims, confidence)

    from . import llm as llm_module

    if stream:
        chunks = llm_module.summarise_stream(question, passages, llm, fallback=extractive)
        return AnswerStream(
            question, passages, found, mode, chunks, chunks.finish, timings, None, confidence
        )
    text, warnings = llm_module.summarise(question, passages, llm, fallback=extractive)
    timings["answer_s"] = round(time.perf_counter() - t2, 4)
    return Answer(question, text, found, passages, mode, warnings, timings, claims, confidence)


def _similarity(
    idx: Index, got: Retrieval, query: Question
) -> Callable[[list[str]], list[float]] | None:
    """For an English question, the e5 cosines of answer sentences (French text shares few
    of its words), each sentence embedded once per question; None for other questions, and
    with ``RAGCHIPS_SENTENCE_E5=0`` (it costs an English question ~115 ms: a server that
    needs throughput more than English answers turns it off)."""
    if got.query_vector is None or not is_english(query):
        return None
    if os.environ.get("RAGCHIPS_SENTENCE_E5", "1") == "0":
        return None
    cosine = idx.sentence_similarity(got.query_vector)
    seen: dict[str, float] = {}

    def similarity(texts: list[str]) -> list[float]:
        todo = [t for t in dict.fromkeys(texts) if t not in seen]
        seen.update(zip(todo, cosine(todo)))
        return [seen[t] for t in texts if t in seen]

    return similarity


def _sources(
    pool: list[Passage],
    k: int,
    terms: list[str],
    weights: dict[str, float],
    query: Question,
    similarity: Callable[[list[str]], list[float]] | None = None,
) -> list[Passage]:
    """The ``k`` passages to return: those the answer cites (its first sentence's first),
    the rest of the places going to the best ranked; kept in rank order, numbered from 1."""
    if len(pool) <= k:
        return pool
    answer = extract(terms, pool, weights, query, similarity=similarity)
    cited = list(dict.fromkeys(c.passage for c in answer.claims))
    if all(i <= k for i in cited):
        return pool[:k]
    keep = set(cited[:k])
    for i in range(1, len(pool) + 1):
        if len(keep) >= k:
            break
        keep.add(i)
    return [pool[i - 1].ranked(n) for n, i in enumerate(sorted(keep), 1)]


def _holds_all(passage_terms: list[str], terms: list[str]) -> bool:
    return bool(terms) and set(terms) <= set(passage_terms)


def _chat_model(llm: Any, settings: Settings | None) -> Any:
    """The chat model to ask: ``llm``, else the configured default (None: extractive). A
    model named by its name gets its server from ``settings`` when there are some."""
    if llm is None:
        llm = settings.llm if settings is not None else os.environ.get("RAGCHIPS_LLM") or None
    if isinstance(llm, str) and settings is not None:
        from .llm_config import LLMConfig

        return LLMConfig.from_env(model=llm, env=settings.llm_env)
    return llm
