"""A minimal chatbot on top of ``ragchips serve``: streamed answers, then their sources.

It speaks the OpenAI chat-completions protocol with nothing but httpx, to show that any
OpenAI client works unchanged and that the sources arrive with the answer: the first
server-sent chunk carries ``citations``, and the text ends with a numbered "Sources :" list.

    ragchips serve &                                    # or: python -m ragchips.server
    python examples/chatbot_client.py "qui fabrique la puce ?"
    python examples/chatbot_client.py                   # a conversation; empty line to quit

In a conversation the whole history is sent each turn, so a follow-up such as
"et quand commencera la production ?" is understood in context (the server reads only
the newest turns within its token budget). A server started with ``--api-key KEY``
wants ``--api-key KEY`` here too.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from typing import Any

import httpx


class ServerError(Exception):
    """The service answered with an error (its message) or could not be reached."""


def stream_chat(
    client: httpx.Client, messages: list[dict[str, str]], model: str
) -> Iterator[dict[str, Any]]:
    """The ``chat.completion.chunk`` events of one streamed reply."""
    body = {"model": model, "messages": messages, "stream": True}
    with client.stream("POST", "/v1/chat/completions", json=body) as response:
        if response.status_code != 200:
            response.read()
            try:
                message = response.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = response.text[:200]
            raise ServerError(f"HTTP {response.status_code}: {message}")
        for line in response.iter_lines():
            if not line.startswith("data:"):
                continue  # blank separators and ": comments"
            data = line[5:].strip()
            if data == "[DONE]":
                return
            event = json.loads(data)
            if "error" in event:
                raise ServerError(event["error"].get("message", "error in the stream"))
            yield event


def one_turn(client: httpx.Client, messages: list[dict[str, str]], model: str) -> str:
    """Print the reply as it arrives, then the quoted passages; return the reply text."""
    parts: list[str] = []
    citations: list[dict[str, Any]] = []
    for event in stream_chat(client, messages, model):
        citations = event.get("citations", citations)
        for choice in event.get("choices", []):
            text = choice.get("delta", {}).get("content") or ""
            parts.append(text)
            print(text, end="", flush=True)
    print()
    if citations:
        print("\nPassages cités :")
        for c in citations:
            quote = " ".join(c["quote"].split())
            quote = quote if len(quote) <= 160 else quote[:159] + "…"
            print(f"  [{c['index']}] « {quote} »")
    return "".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("question", nargs="*", help="ask this and exit (default: converse)")
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the ragchips service")
    parser.add_argument(
        "--model", default="ragchips", help="'ragchips' or a chat model the server lists"
    )
    parser.add_argument(
        "--api-key",
        default=os.environ.get("RAGCHIPS_SERVER_API_KEY"),
        help="the service's key, if it requires one (default: $RAGCHIPS_SERVER_API_KEY)",
    )
    args = parser.parse_args(argv)

    messages: list[dict[str, str]] = []
    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}
    timeout = httpx.Timeout(10.0, read=120.0)
    with httpx.Client(base_url=args.url, timeout=timeout, headers=headers) as client:
        try:
            if args.question:
                messages.append({"role": "user", "content": " ".join(args.question)})
                one_turn(client, messages, args.model)
                return 0
            while True:
                try:
                    question = input("\nVous : ").strip()
                except EOFError:
                    return 0
                if not question:
                    return 0
                messages.append({"role": "user", "content": question})
                try:
                    reply = one_turn(client, messages, args.model)
                except ServerError as exc:  # say why, forget the turn, carry on
                    print(f"error: {exc}", file=sys.stderr)
                    messages.pop()
                    continue
                messages.append({"role": "assistant", "content": reply})
        except ServerError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        except httpx.HTTPError as exc:
            print(f"error: cannot talk to {args.url}: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            return 130


if __name__ == "__main__":
    sys.exit(main())
