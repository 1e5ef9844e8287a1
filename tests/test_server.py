"""The HTTP service, as a chatbot talks to it: a real server process on a loopback port.

One server per module serves the bundled seeds index (plus one on a temporary index for
the rebuild test); every request goes over HTTP with httpx, streams are parsed as the
server-sent events they are.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from ragchips import Index, default_index_path  # noqa: E402
from ragchips.embedding import E5SmallEmbedder  # noqa: E402
from ragchips.index import MAX_QUESTION_CHARS  # noqa: E402
from ragchips.server import (  # noqa: E402
    MAX_BODY_BYTES,
    MAX_CHAT_BODY_BYTES,
    is_followup,
    rewrite_question,
)

sys.path.insert(0, str(Path(__file__).parent))
from fresh_process import imported_by  # noqa: E402
from openai_stub import OpenAIStub, status  # noqa: E402
from server_process import running_server  # noqa: E402
from server_process import server_env as _server_env  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CLIENT = ROOT / "examples" / "chatbot_client.py"
PRODUCTION_2026 = "commencer en 2026"


@pytest.fixture(scope="module")
def stub() -> Iterator[OpenAIStub]:
    """A loopback chat model for the LLM path (its replies cite [1])."""
    with OpenAIStub() as s:
        yield s


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, stub: OpenAIStub) -> Iterator[str]:
    """The service on the bundled seeds index; chat models are asked at the stub."""
    env = _server_env(
        {
            "RAGCHIPS_SERVER_DEBUG": "1",
            "RAGCHIPS_SERVER_MODELS": "stub-model",
            "RAGCHIPS_LLM_BASE_URL": stub.url,
            "RAGCHIPS_LLM_MAX_RETRIES": "0",
            "RAGCHIPS_LLM_TIMEOUT": "10",
        }
    )
    log = tmp_path_factory.mktemp("server") / "server.log"
    with running_server(default_index_path(), log, env) as url:
        yield url


@pytest.fixture(scope="module")
def client(server: str) -> Iterator[Any]:
    with httpx.Client(base_url=server, timeout=30) as c:
        yield c


def chat(*turns: str) -> list[dict[str, str]]:
    """User turns, with an assistant reply between them."""
    messages = []
    for i, turn in enumerate(turns):
        if i:
            messages.append({"role": "assistant", "content": "D'après les sources, TSMC."})
        messages.append({"role": "user", "content": turn})
    return messages


def sse_events(response: Any) -> list[Any]:
    """The ``data:`` payloads of an event stream, parsed as they arrive ("[DONE]" kept)."""
    events: list[Any] = []
    data: list[str] = []
    for line in response.iter_lines():
        if line.startswith("data:"):
            data.append(line[5:].strip())
        elif line == "" and data:
            payload = "\n".join(data)
            events.append(payload if payload == "[DONE]" else json.loads(payload))
            data = []
    assert not data, "the stream ended in the middle of an event"
    return events


def assert_error(response: Any, status_code: int, text: str = "") -> dict[str, Any]:
    assert response.status_code == status_code, response.text
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["type"], str) and error["type"]
    assert "Traceback" not in response.text
    assert text.lower() in error["message"].lower()
    return error


def document_text(source: str) -> str:
    path = Path(source)
    return (path if path.is_absolute() else ROOT / path).read_text(encoding="utf-8")


# -- packaging ---------------------------------------------------------------------------


def test_importing_ragchips_does_not_import_the_server_stack() -> None:
    code = "import ragchips, ragchips.cli, ragchips.api"
    assert imported_by(code, ["fastapi", "uvicorn", "starlette", "ragchips.server"]) == []


def test_missing_server_extra_is_one_clear_line() -> None:
    code = (
        "import sys; sys.modules['fastapi'] = None; "
        "from ragchips.server import main_serve; sys.exit(main_serve(['--port', '1']))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert out.stderr.strip() == (
        "ragchips serve: error: the HTTP service needs the 'server' extra (fastapi is missing): "
        "pip install 'ragchips[server]'"
    )


def test_serve_on_a_missing_index_fails_in_one_line(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "ragchips.server", "--index", str(tmp_path / "none")]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith("ragchips serve: error: no index at")


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_with_an_empty_api_key_fails_in_one_line(workers: str) -> None:
    # With two workers each one failed on its own, in a loop of tracebacks.
    cmd = [sys.executable, "-m", "ragchips.server", "--workers", workers, "--port", "0"]
    env = {**os.environ, "RAGCHIPS_SERVER_API_KEY": ""}
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=ROOT, env=env)
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert "the API key is empty" in out.stderr.strip().splitlines()[-1]


def test_serve_on_a_port_in_use_or_a_bad_host_fails_in_one_line(server: str) -> None:
    # uvicorn logged its start-up, then "ERROR: [Errno 98] ... address already in use"
    # among INFO lines, and exited with status 3.
    port = server.rsplit(":", 1)[1]
    index = str(default_index_path())
    for args, message in [
        (["--port", port], f"cannot listen on 127.0.0.1:{port}"),
        (["--host", "no-such-host.invalid", "--port", "0"], "--host no-such-host.invalid"),
        (["--host", "127.0.0..1", "--port", "0"], "--host 127.0.0..1: not an address"),
    ]:
        cmd = [sys.executable, "-m", "ragchips.server", "--index", index, *args]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=ROOT)
        assert out.returncode == 2, out.stderr
        assert out.stderr.startswith(f"ragchips serve: error: {message}"), out.stderr
        assert len(out.stderr.splitlines()) == 1, out.stderr


# -- the endpoints -----------------------------------------------------------------------


def test_health_describes_the_served_index(client: Any) -> None:
    r = client.get("/health")
    assert r.status_code == 200
    h = r.json()
    index = Index.load(default_index_path())
    assert h["status"] == "ok"
    assert h["index"] == str(default_index_path().absolute())
    assert h["generation"] == index.generation
    assert h["documents"] == len(index.doc_ids()) == 5
    assert h["passages"] == len(index)


def test_ask_returns_the_answer_with_exact_sources(client: Any) -> None:
    r = client.post("/ask", json={"question": "Quel fonds d'Abu Dhabi discute avec Sam Altman ?"})
    assert r.status_code == 200
    a = r.json()
    assert a["found"] is True
    assert "G42" in a["answer"]
    assert a["warnings"] == []
    assert [p["rank"] for p in a["passages"]] == [1, 2, 3, 4, 5]
    assert any(f"[{p['rank']}]" in a["answer"] for p in a["passages"])
    for p in a["passages"]:
        assert {"source", "title", "start", "end", "text", "doc_id"} <= set(p)
        assert document_text(p["source"])[p["start"] : p["end"]] == p["text"]


def test_ask_options_k_mode_and_where(client: Any) -> None:
    doc = "001_ad0f021dc5230f9e"
    for mode in ("hybrid", "dense", "lexical"):
        r = client.post(
            "/ask",
            json={
                "question": "qui fabrique la puce ?",
                "k": 2,
                "mode": mode,
                "where": {"doc_id": doc},
            },
        )
        assert r.status_code == 200, r.text
        a = r.json()
        assert a["mode"] == mode
        assert len(a["passages"]) == 2
        assert {p["doc_id"] for p in a["passages"]} == {doc}
    any_of = ["000_204965758381b4b8", "004_df0997fe8f415d67"]
    r = client.post("/ask", json={"question": "puces", "k": 10, "where": {"doc_id": any_of}})
    assert {p["doc_id"] for p in r.json()["passages"]} <= set(any_of)


def test_off_topic_question_says_not_found_but_keeps_its_sources(client: Any) -> None:
    r = client.post("/ask", json={"question": "Quelle est la recette de la blanquette de veau ?"})
    assert r.status_code == 200
    assert r.json()["found"] is False
    assert r.json()["passages"]


def test_search_returns_passages_only(client: Any) -> None:
    r = client.post(
        "/search", json={"question": "supercalculateur Microsoft", "k": 3, "mode": "lexical"}
    )
    assert r.status_code == 200
    body = r.json()
    assert list(body) == ["passages"]
    assert [p["rank"] for p in body["passages"]] == [1, 2, 3]
    assert "supercalculateur" in body["passages"][0]["text"].lower()


def test_chat_completion_is_openai_shaped_and_cites(client: Any) -> None:
    messages = [
        {"role": "system", "content": "Tu es un assistant."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Quel fonds d'Abu Dhabi discute avec Sam Altman ?"}
            ],
        },
    ]
    r = client.post(
        "/v1/chat/completions",
        json={
            "model": "ragchips",
            "messages": messages,
            "temperature": 0.7,
            "max_tokens": 50,
            "top_p": 1,
            "user": "u",
        },
    )
    assert r.status_code == 200, r.text
    c = r.json()
    assert c["id"].startswith("chatcmpl-")
    assert c["object"] == "chat.completion"
    assert c["model"] == "ragchips"
    assert c["choices"][0]["message"]["role"] == "assistant"
    assert c["choices"][0]["finish_reason"] == "stop"
    content = c["choices"][0]["message"]["content"]
    assert "G42" in content
    usage = c["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0
    cites = c["citations"]
    assert [x["index"] for x in cites] == [1, 2, 3, 4, 5]
    for x in cites:
        assert set(x) == {"index", "source", "title", "doc_id", "start", "end", "quote", "page"}
        assert document_text(x["source"])[x["start"] : x["end"]] == x["quote"]
    answer, sources = content.split("\n\nSources :\n")
    assert "G42" in answer
    lines = sources.splitlines()
    assert len(lines) == len(cites)
    for line, x in zip(lines, cites):
        assert line == f"[{x['index']}] {x['title']} — {x['source']} [{x['start']}:{x['end']}]"
    assert c["ragchips"]["found"] is True


def test_chat_stream_is_sse_with_citations_first(client: Any) -> None:
    question = "Quel fonds d'Abu Dhabi discute avec Sam Altman ?"
    plain = client.post(
        "/v1/chat/completions", json={"model": "ragchips", "messages": chat(question)}
    )
    expected = plain.json()["choices"][0]["message"]["content"]
    body = {
        "model": "ragchips",
        "messages": chat(question),
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    with client.stream("POST", "/v1/chat/completions", json=body) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        events = sse_events(r)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert all(e["object"] == "chat.completion.chunk" for e in chunks)
    assert len({e["id"] for e in chunks}) == 1
    first = chunks[0]
    assert first["choices"][0]["delta"]["role"] == "assistant"
    assert first["citations"] == plain.json()["citations"]
    assert not any("citations" in e for e in chunks[1:])
    text = "".join(e["choices"][0]["delta"].get("content", "") for e in chunks if e["choices"])
    assert text == expected
    finish = [e for e in chunks if e["choices"] and e["choices"][0]["finish_reason"]]
    assert [e["choices"][0]["finish_reason"] for e in finish] == ["stop"]
    assert finish[0]["ragchips"]["found"] is True
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0


def test_models_and_openapi_document_the_service(client: Any) -> None:
    models = client.get("/v1/models").json()
    assert [m["id"] for m in models["data"]] == ["ragchips", "stub-model"]
    spec = client.get("/openapi.json").json()
    assert {"/ask", "/search", "/health", "/v1/chat/completions"} <= set(spec["paths"])
    schemas = spec["components"]["schemas"]
    assert {"AskRequest", "SearchRequest", "ChatRequest", "AnswerOut", "ChatCompletionOut"} <= set(
        schemas
    )
    assert schemas["AskRequest"]["properties"]["k"]["maximum"] == 100
    assert client.get("/docs").status_code == 200


def test_query_path_never_loads_torch(client: Any) -> None:
    for mode in ("hybrid", "dense", "lexical"):
        assert (
            client.post(
                "/ask", json={"question": "qui fabrique la puce ?", "mode": mode}
            ).status_code
            == 200
        )
    body = {"messages": chat("qui fabrique la puce ?"), "stream": True}
    with client.stream("POST", "/v1/chat/completions", json=body) as r:
        sse_events(r)
    assert client.get("/health").json()["heavy_modules"] == []


# -- follow-up questions ---------------------------------------------------------------------


def test_rewrite_rule() -> None:
    assert is_followup("et quand commencera la production ?")  # connective
    assert is_followup("Mais pourquoi ?")
    assert is_followup("quand commencera-t-elle ?")  # pronoun, even inverted
    assert is_followup("ça coûte combien ?")
    assert is_followup("en 2027 ?")  # one content word
    assert not is_followup("Quel fonds d'Abu Dhabi discute avec Sam Altman ?")
    assert not is_followup("quand commencera la production de la puce ?")
    first = "qui fabrique la puce ?"
    follow = "et quand commencera la production ?"
    assert rewrite_question([first]) == first
    assert rewrite_question([first, follow]) == f"fabrique puce {follow}"
    # A follow-up of a follow-up carries the rewritten context on.
    assert rewrite_question([first, follow, "et en 2027 ?"]) == (
        "fabrique puce commencera production et en 2027 ?"
    )
    # A question that stands alone resets the context.
    standalone = "Combien de GPU utilise le supercalculateur de Microsoft ?"
    assert rewrite_question([first, standalone]) == standalone
    assert rewrite_question(["Par qui la puce sera-t-elle fabriquée ?", "et quand ?"]) == (
        "puce fabriquée et quand ?"
    )
    assert rewrite_question([f"{'mot ' * 10}?", "et ça ?"]) == "mot et ça ?"


@pytest.mark.parametrize(
    "previous",
    [
        "qui fabrique la puce ?",
        "Quelle entreprise va fabriquer la puce d'OpenAI ?",
        "Which company manufactures OpenAI's chip?",
        "Quel fondeur gravera la puce IA d'OpenAI ?",
        "Par qui la puce sera-t-elle fabriquée ?",
        "Qui produira la puce d'inférence conçue avec Broadcom ?",
    ],
)
def test_followup_is_answered_in_context(client: Any, previous: str) -> None:
    follow = "et quand commencera la production ?"
    r = client.post("/v1/chat/completions", json={"messages": chat(previous, follow)})
    assert r.status_code == 200, r.text
    c = r.json()
    assert c["ragchips"]["rewritten"] is True
    assert c["ragchips"]["question"].endswith(follow)
    assert c["ragchips"]["question"] != follow
    assert any(PRODUCTION_2026 in x["quote"] for x in c["citations"])


def test_followup_rewrite_is_what_finds_the_answer(client: Any) -> None:
    """Alone, "quand commencera-t-elle ?" does not put the 2026 passage first; after the
    question about the chip maker, it is the first source and the answer says 2026."""
    follow = "quand commencera-t-elle ?"
    alone = client.post("/v1/chat/completions", json={"messages": chat(follow)}).json()
    assert alone["ragchips"]["rewritten"] is False
    assert PRODUCTION_2026 not in alone["citations"][0]["quote"]
    r = client.post(
        "/v1/chat/completions", json={"messages": chat("qui fabrique la puce ?", follow)}
    )
    c = r.json()
    assert c["ragchips"]["question"] == f"fabrique puce {follow}"
    assert PRODUCTION_2026 in c["citations"][0]["quote"]
    answer = c["choices"][0]["message"]["content"].split("\n\nSources :")[0]
    assert "2026" in answer


# -- validation and errors --------------------------------------------------------------------


LONG = "a" * (MAX_QUESTION_CHARS + 1)


@pytest.mark.parametrize(
    ("path", "body", "code", "text"),
    [
        ("/ask", b'{"question": "qui', 400, "not valid JSON"),
        ("/ask", b"", 422, "field required"),
        ("/ask", {}, 422, "question"),
        ("/ask", {"question": ""}, 400, "empty"),
        ("/ask", {"question": " \n\t "}, 400, "empty"),
        ("/ask", {"question": LONG}, 400, f"limit is {MAX_QUESTION_CHARS}"),
        ("/ask", {"question": 42}, 422, "question"),
        ("/ask", {"question": "puce", "k": 0}, 422, "k:"),
        ("/ask", {"question": "puce", "k": 101}, 422, "k:"),
        ("/ask", {"question": "puce", "k": True}, 422, "k:"),
        ("/ask", {"question": "puce", "mode": "fuzzy"}, 422, "mode:"),
        (
            "/ask",
            {"question": "puce", "where": {"colour": "red"}},
            400,
            "no document has a field 'colour'",
        ),
        ("/ask", {"question": "puce", "top_k": 3}, 422, "top_k"),
        ("/ask", [1, 2], 422, "request body"),
        ("/ask", b'{"question": "\\ud800"}', 400, "invalid unicode"),
        ("/ask", b'{"question": "\xff\xfe puce"}', 400, "not valid JSON (not UTF-8 text)"),
        ("/search", b"[" * 30000 + b"]" * 30000, 400, "not valid JSON (nested too deeply)"),
        ("/search", {"question": "   "}, 400, "empty"),
        ("/search", {"question": "puce", "k": 1000}, 422, "k:"),
        ("/search", {"question": "puce", "where": {"lang": "fr"}}, 400, "no document has a field"),
        ("/ask", {"question": "puce", "where": {"doc_id": "nosuch"}}, 400, "no document matches"),
        ("/search", {"question": "puce", "where": {"doc_id": []}}, 400, "lists no value"),
        (
            "/v1/chat/completions",
            {"messages": chat("puce"), "where": {"doc_id": {"gte": "zzz"}}},
            400,
            "no document matches",
        ),
        ("/v1/chat/completions", b"{nope", 400, "not valid JSON"),
        ("/v1/chat/completions", {"model": "ragchips"}, 422, "messages"),
        ("/v1/chat/completions", {"messages": []}, 422, "messages"),
        (
            "/v1/chat/completions",
            {"messages": [{"role": "system", "content": "x"}]},
            400,
            "no user message",
        ),
        (
            "/v1/chat/completions",
            {"messages": [{"role": "user", "content": "  "}]},
            400,
            "no user message",
        ),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": LONG}]}, 400, "limit"),
        ("/v1/chat/completions", {"messages": chat("puce"), "mode": "x"}, 422, "mode"),
    ],
)
def test_bad_requests_get_a_clear_json_error(
    client: Any, path: str, body: Any, code: int, text: str
) -> None:
    if isinstance(body, bytes):
        r = client.post(path, content=body, headers={"Content-Type": "application/json"})
    else:
        r = client.post(path, json=body)
    assert_error(r, code, text)


def test_body_over_the_limit_is_refused_before_parsing(client: Any) -> None:
    big = json.dumps({"question": "x" * MAX_BODY_BYTES}).encode()
    assert_error(client.post("/ask", content=big), 413, "KiB")
    # Without a Content-Length (chunked), the count stops the read as well; a chat history
    # may be longer than a question, up to its own limit.
    huge = json.dumps({"messages": [{"role": "user", "content": "x" * MAX_CHAT_BODY_BYTES}]})
    big_chat = huge.encode()
    chunks = (big_chat[i : i + 4096] for i in range(0, len(big_chat), 4096))
    assert_error(client.post("/v1/chat/completions", content=chunks), 413, "KiB")
    # Not JSON at all, but big: still 413, not a parse error.
    assert_error(client.post("/search", content=b"\xff" * (MAX_BODY_BYTES + 1)), 413)


def test_json_is_read_whatever_the_content_type(client: Any) -> None:
    r = client.post(
        "/ask",
        content=json.dumps({"question": "qui fabrique la puce ?", "k": 1}),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 200 and len(r.json()["passages"]) == 1


def test_json_without_a_content_type_is_read(client: Any) -> None:
    # requests.post(url, data=json.dumps(body)) sends no Content-Type at all.
    body = json.dumps({"question": "qui fabrique la puce ?", "k": 1}).encode()
    r = client.post("/ask", content=body)
    assert "content-type" not in r.request.headers
    assert r.status_code == 200, r.text
    assert len(r.json()["passages"]) == 1
    assert_error(client.post("/search", content=b'{"question": "puce", "k": 0}'), 422, "k:")


def test_unknown_route_and_method_are_json_errors(client: Any) -> None:
    assert assert_error(client.get("/nowhere"), 404)["type"] == "not_found_error"
    assert_error(client.get("/ask"), 405)


def test_crash_is_a_500_without_details_and_the_server_keeps_serving(
    client: Any, server: str
) -> None:
    r = client.get("/debug/fail")
    error = assert_error(r, 500)
    assert error["type"] == "server_error"
    assert "secret" not in r.text and "RuntimeError" not in r.text

    bad = [
        ("/ask", b"{"),
        ("/ask", json.dumps({"question": ""}).encode()),
        ("/search", json.dumps({"question": "x", "k": -1}).encode()),
        ("/v1/chat/completions", json.dumps({"messages": []}).encode()),
        ("/ask", b"x" * (MAX_BODY_BYTES + 10)),
    ]
    codes: list[int] = []

    def burst(offset: int) -> None:
        with httpx.Client(base_url=server, timeout=30) as c:
            for i in range(20):
                path, body = bad[(i + offset) % len(bad)]
                codes.append(c.post(path, content=body).status_code)
                if i % 7 == 0:
                    codes.append(c.get("/debug/fail").status_code)

    threads = [threading.Thread(target=burst, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(codes) == 4 * 23
    assert set(codes) <= {400, 413, 422, 500}
    good = client.post(
        "/ask", json={"question": "Quel fonds d'Abu Dhabi discute avec Sam Altman ?"}
    )
    assert good.status_code == 200 and "G42" in good.json()["answer"]


# -- the chat-model path ----------------------------------------------------------------------


def test_chat_model_path_keeps_the_sources(client: Any, stub: OpenAIStub) -> None:
    pytest.importorskip("ragchips.llm")
    question = "Quel fonds d'Abu Dhabi discute avec Sam Altman ?"
    r = client.post(
        "/v1/chat/completions", json={"model": "stub-model", "messages": chat(question)}
    )
    assert r.status_code == 200, r.text
    c = r.json()
    assert stub.last.json["model"] == "stub-model"
    assert "G42" in stub.last.prompt  # the retrieved passages were sent to the model
    content = c["choices"][0]["message"]["content"]
    assert content.startswith("Réponse du serveur de test [1].")
    assert "\n\nSources :\n[1] " in content and len(c["citations"]) == 5

    body = {"model": "stub-model", "messages": chat(question), "stream": True}
    with client.stream("POST", "/v1/chat/completions", json=body) as s:
        events = sse_events(s)
    text = "".join(e["choices"][0]["delta"].get("content", "") for e in events[:-1] if e["choices"])
    assert text.startswith("Réponse du serveur de test [1].")
    assert events[0]["citations"] == c["citations"]

    a = client.post("/ask", json={"question": question, "llm": "stub-model"}).json()
    assert a["answer"] == "Réponse du serveur de test [1]."
    assert a["passages"]

    # A chat model that fails is a 502, streamed or not (the stream fails before any byte).
    stub.enqueue(status(500), status(500))
    assert_error(client.post("/ask", json={"question": question, "llm": "stub-model"}), 502)
    assert_error(client.post("/v1/chat/completions", json=body), 502)


# -- rebuilding the index under a running server ---------------------------------------------


DOCS = {
    "volcans.txt": "Les volcans d'Auvergne\n\nLe puy de Dôme est un volcan endormi du Massif "
    "central. La chaîne des Puys compte plus de quatre-vingts volcans alignés sur trente "
    "kilomètres.",
    "fromages.txt": "Les fromages d'Auvergne\n\nLe saint-nectaire est affiné sur paille de "
    "seigle pendant au moins cinq semaines. Le cantal est l'un des plus anciens fromages de "
    "France.",
}
NEW_DOC = (
    "La mine de Zorglubie\n\nLe gisement de lithium de Zorglubie sera exploité à partir de "
    "2031 par une coopérative de mineurs bretons."
)


def test_index_rebuilt_while_serving_is_picked_up(
    tmp_path: Path, native_embedder: E5SmallEmbedder
) -> None:
    embedder = native_embedder
    files = []
    for name, text in DOCS.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        files.append(tmp_path / name)
    out = tmp_path / "index"
    Index.build(files, embedder=embedder, out=out)

    with (
        running_server(out, tmp_path / "server.log", _server_env()) as url,
        httpx.Client(base_url=url, timeout=30) as c,
    ):
        before = c.get("/health").json()
        assert before["documents"] == 2
        r = c.post("/search", json={"question": "lithium Zorglubie", "mode": "lexical"})
        assert r.json()["passages"] == []

        stop = threading.Event()
        codes: list[int] = []

        def load() -> None:
            with httpx.Client(base_url=url, timeout=30) as lc:
                while not stop.is_set():
                    codes.append(
                        lc.post("/ask", json={"question": "Quel volcan est endormi ?"}).status_code
                    )
                    codes.append(
                        lc.post("/search", json={"question": "fromage affiné", "k": 2}).status_code
                    )

        threads = [threading.Thread(target=load) for _ in range(3)]
        for t in threads:
            t.start()
        try:
            time.sleep(0.3)
            (tmp_path / "mine.txt").write_text(NEW_DOC, encoding="utf-8")
            Index.build([*files, tmp_path / "mine.txt"], embedder=embedder, out=out)
            deadline = time.monotonic() + 20
            while (after := c.get("/health").json())["generation"] == before["generation"]:
                assert time.monotonic() < deadline, "the rebuilt index was not picked up"
                time.sleep(0.05)
            time.sleep(0.3)  # requests keep flowing on the new generation
        finally:
            stop.set()
            for t in threads:
                t.join()

        assert after["documents"] == 3 and after["status"] == "ok"
        assert after["generation"] == Index.load(out).generation
        assert len(codes) >= 8 and set(codes) == {200}, codes
        hits = c.post("/search", json={"question": "lithium Zorglubie", "k": 1}).json()["passages"]
        assert hits[0]["doc_id"] == "mine" and "2031" in hits[0]["text"]
        a = c.post(
            "/ask", json={"question": "Quand le lithium de Zorglubie sera-t-il exploité ?"}
        ).json()
        assert a["passages"][0]["doc_id"] == "mine"

        # A manifest that cannot be loaded: the previous index keeps serving, /health says so.
        manifest = out / "manifest.json"
        good = manifest.read_bytes()
        (out / "broken.json").write_text("{not json", encoding="utf-8")
        os.replace(out / "broken.json", manifest)
        stale = c.get("/health").json()
        assert stale["status"] == "stale" and "manifest" in stale["error"]
        assert stale["generation"] == after["generation"] and stale["documents"] == 3
        r = c.post("/search", json={"question": "lithium Zorglubie", "k": 1})
        assert r.status_code == 200 and r.json()["passages"][0]["doc_id"] == "mine"
        (out / "fixed.json").write_bytes(good)
        os.replace(out / "fixed.json", manifest)
        deadline = time.monotonic() + 10
        while c.get("/health").json()["status"] != "ok":
            assert time.monotonic() < deadline, "the repaired index was not picked up"
            time.sleep(0.2)


# -- the example client -----------------------------------------------------------------------


def test_example_client_streams_the_answer_and_its_sources(client: Any, server: str) -> None:
    question = "Quel fonds d'Abu Dhabi discute avec Sam Altman ?"
    expected = client.post("/v1/chat/completions", json={"messages": chat(question)}).json()
    answer = expected["choices"][0]["message"]["content"].split("\n\nSources :")[0]
    out = subprocess.run(
        [sys.executable, str(CLIENT), "--url", server, question],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert answer in out.stdout
    assert "Sources :" in out.stdout
    for x in expected["citations"]:
        assert f"[{x['index']}] {x['title']}" in out.stdout


def test_example_client_reports_a_server_error(server: str) -> None:
    out = subprocess.run(
        [sys.executable, str(CLIENT), "--url", server, " "],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1
    assert "no user message" in out.stderr and "Traceback" not in out.stderr
