"""Conversations: which question to search for the last message of a chat.

A chat client sends the whole history every turn. Two things follow, and both are domain
logic rather than HTTP, so they live here and work from Python too:

- a follow-up ("et quand commencera la production ?") means nothing alone: it is searched
  together with the previous question's content words (:func:`rewrite_question`);
- histories grow without bound: only the newest messages within a token budget are read
  (:func:`trim_history`), so a 74-turn chat is answered instead of refused.

    >>> turn = question_for([{"role": "user", "content": "qui fabrique la puce ?"},
    ...                      {"role": "user", "content": "et quand commencera la production ?"}])
    >>> turn.question
    'fabrique puce et quand commencera la production ?'
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .analysis import FRENCH_STOP_WORDS, fold_accents
from .errors import InvalidQuestionError
from .index import MAX_QUESTION_CHARS

__all__ = [
    "MAX_CONTEXT_WORDS",
    "ChatTurn",
    "check_encodable",
    "content_words",
    "count_tokens",
    "is_followup",
    "message_text",
    "question_for",
    "rewrite_question",
    "trim_history",
]

# A follow-up that opens with one of these continues the previous question.
CONNECTIVES = frozenset(
    {"et", "mais", "alors", "puis", "donc", "ensuite", "aussi", "sinon", "pourtant", "or"}
    | {"bon", "ok", "and", "but", "so", "also"}
)
# A follow-up with one of these points back at something named before.
PRONOUNS = frozenset(
    {"il", "ils", "elle", "elles", "ça", "ca", "cela", "ceci", "lui", "eux"}
    | {"celui", "celle", "ceux", "celles", "it", "they", "them"}
)
# Besides French stop words, the function words of English questions.
_ENGLISH_STOP = frozenset(
    {"a", "an", "the", "of", "to", "in", "on", "for", "with", "by", "from", "at", "as"}
    | {"and", "or", "but", "so", "is", "are", "was", "were", "be", "been", "do", "does"}
    | {"did", "what", "which", "who", "whom", "whose", "when", "where", "why", "how"}
    | {"it", "its", "they", "them", "this", "that", "these", "those", "will", "would"}
    | {"can", "could", "should", "has", "have", "had", "about"}
)
# At most this many content words of the previous question are carried over.
MAX_CONTEXT_WORDS = 12
# Fewer content words than this, and a message is too short to stand alone.
MIN_CONTENT_WORDS = 2
_WORDS = re.compile(r"[^\W_]+")
_TOKENS = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*")
_ELISION = re.compile(r"^(?:l|d|qu|jusqu|lorsqu|puisqu|quoiqu|n|s|c|j|m|t)['’]", re.IGNORECASE)
_POSSESSIVE = re.compile(r"['’]s$", re.IGNORECASE)
_TOKEN_LIKE = re.compile(r"\w+|[^\w\s]")


def count_tokens(text: str) -> int:
    """An approximate token count (words and punctuation): no tokenizer is loaded."""
    return len(_TOKEN_LIKE.findall(text))


def _is_stop(word: str) -> bool:
    low = word.lower()
    return (
        low in FRENCH_STOP_WORDS or fold_accents(low) in FRENCH_STOP_WORDS or low in _ENGLISH_STOP
    )


def content_words(text: str) -> list[str]:
    """The words of ``text`` that carry meaning, as written (elisions removed, no repeats)."""
    out: list[str] = []
    seen: set[str] = set()
    for token in _TOKENS.findall(text):
        token = _POSSESSIVE.sub("", _ELISION.sub("", token))
        # "sera-t-elle" -> "", "développe-t-il" -> "développe", "GPT-4" stays.
        word = "-".join(p for p in token.split("-") if p.lower() != "t" and not _is_stop(p))
        key = fold_accents(word.lower())
        if not word or key in seen or _is_stop(word) or (len(word) < 2 and not word.isdigit()):
            continue
        seen.add(key)
        out.append(word)
    return out


def is_followup(message: str) -> bool:
    """Whether ``message`` needs the previous question to be understood (the rule below)."""
    words = [w.lower() for w in _WORDS.findall(message)]
    if not words:
        return True
    return (
        words[0] in CONNECTIVES
        or any(w in PRONOUNS for w in words)
        or len(content_words(message)) < MIN_CONTENT_WORDS
    )


def rewrite_question(user_messages: Sequence[str]) -> str:
    """The question to retrieve with for the last of ``user_messages``, deterministically.

    The rule: a user message is a *follow-up* when it starts with a connective ("et",
    "mais", "alors", "puis", "donc", "ensuite"...), contains a pronoun standing for
    something said before ("il", "elle", "ils", "elles", "ça", "cela", "lui"... including
    the inverted "commencera-t-elle"), or has fewer than two content words ("et en 2027 ?").
    A follow-up is searched as the content words of the previous question — itself
    rewritten if it was a follow-up, at most :data:`MAX_CONTEXT_WORDS`, minus words the
    message already has — followed by the message. Any other message stands alone.

    ``["qui fabrique la puce ?", "et quand commencera la production ?"]`` →
    ``"fabrique puce et quand commencera la production ?"``.
    """
    current = ""
    for raw in user_messages:
        message = " ".join(raw.split())
        if not message:
            continue
        if not current or not is_followup(message):
            current = message
            continue
        own = {fold_accents(w.lower()) for w in content_words(message)}
        context = [w for w in content_words(current) if fold_accents(w.lower()) not in own]
        context = context[:MAX_CONTEXT_WORDS]
        rewritten = f"{' '.join(context)} {message}".strip()
        current = rewritten if len(rewritten) <= MAX_QUESTION_CHARS else message
    return current


def message_text(content: Any) -> str:
    """A message's text: a string, or the text parts of OpenAI's list of content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict) and p.get("type") == "text"]
        return " ".join(p for p in parts if isinstance(p, str))
    return ""


def check_encodable(text: str, what: str) -> None:
    """Refuse text that cannot be encoded (lone surrogates from a ``\\udXXX`` JSON escape)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidQuestionError(
            f"the {what} contains invalid Unicode (an unpaired surrogate)"
        ) from None


def _role_and_text(message: Any) -> tuple[str, str]:
    if isinstance(message, Mapping):
        return str(message.get("role", "")), message_text(message.get("content"))
    return str(getattr(message, "role", "")), message_text(getattr(message, "content", None))


def trim_history(messages: Sequence[Any], budget: int) -> tuple[list[Any], int]:
    """The newest ``messages`` whose texts fit in ``budget`` tokens, and how many were dropped.

    The last user message with text is always kept (it is the question), even alone over
    the budget; older messages are dropped whole, oldest first. Messages are dicts with
    ``role`` and ``content`` (or objects with those attributes).
    """
    last_user = max(
        (i for i, m in enumerate(messages) if _is_user_text(m)), default=len(messages) - 1
    )
    kept_from = last_user
    used = sum(count_tokens(_role_and_text(m)[1]) for m in messages[last_user:])
    for i in range(last_user - 1, -1, -1):
        used += count_tokens(_role_and_text(messages[i])[1])
        if used > budget:
            break
        kept_from = i
    return list(messages[kept_from:]), kept_from


def _is_user_text(message: Any) -> bool:
    role, text = _role_and_text(message)
    return role == "user" and bool(text.strip())


@dataclass(frozen=True)
class ChatTurn:
    """What to search for the last user message of a chat."""

    question: str
    last: str
    rewritten: bool
    dropped: int
    prompt_tokens: int


def question_for(messages: Sequence[Any], budget: int | None = None) -> ChatTurn:
    """The question to search for the last user message, from the history within ``budget``.

    Raises :class:`InvalidQuestionError` when no user message has text, or one of the
    messages read contains text that cannot be encoded (an unpaired surrogate).
    """
    dropped = 0
    if budget is not None:
        messages, dropped = trim_history(messages, budget)
    texts = [_role_and_text(m) for m in messages]
    user_turns = [text for role, text in texts if role == "user"]
    if not any(t.strip() for t in user_turns):
        raise InvalidQuestionError("messages: no user message with text to answer")
    for turn in user_turns:
        check_encodable(turn, "message")
    question = rewrite_question(user_turns)
    last = next(t for t in reversed(user_turns) if t.strip())
    return ChatTurn(
        question=question,
        last=last,
        rewritten=" ".join(last.split()) != question,
        dropped=dropped,
        prompt_tokens=sum(count_tokens(text) for _, text in texts),
    )
