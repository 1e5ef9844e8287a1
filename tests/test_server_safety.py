"""A service safe to expose: keys, configured models only, trimmed histories, per-client limits.

The logic is tested in process (FastAPI's ``TestClient``, ``dependency_overrides`` to swap
the index); the paths a real client takes are tested against a real server process on
loopback, with the official ``openai`` client where a chatbot would use it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402

from ragchips import Index, ask, default_index_path  # noqa: E402
from ragchips.conversation import question_for, trim_history  # noqa: E402
from ragchips.embedding import HashEmbedder  # noqa: E402
from ragchips.server import create_app  # noqa: E402
from ragchips.server.state import get_index  # noqa: E402
from ragchips.settings import Settings  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from openai_stub import OpenAIStub, sse  # noqa: E402
from server_process import running_server, server_env  # noqa: E402

KEY = "client-key-0123456789"
QUESTION = "qui fabrique la puce ?"


def settings(**kw: Any) -> Settings:
    values: dict[str, Any] = {"index": default_index_path(), "warm_up": False}
    values.update(kw)
    return Settings(**values)


@pytest.fixture()
def stub() -> Iterator[OpenAIStub]:
    with OpenAIStub() as s:
        yield s


def stub_env(stub: OpenAIStub) -> dict[str, str]:
    return {"RAGCHIPS_LLM_BASE_URL": stub.url, "RAGCHIPS_LLM_MAX_RETRIES": "0"}


def long_chat(turns: int) -> list[dict[str, str]]:
    """A chat of ``turns`` user questions, each answered with a long cited reply."""
    answer = "D'après les sources, TSMC fabriquera la puce à Taïwan [1]. " * 16
    messages: list[dict[str, str]] = [{"role": "system", "content": "Tu es un assistant."}]
    for i in range(turns - 1):
        messages.append({"role": "user", "content": f"Question numéro {i} sur les puces ?"})
        messages.append({"role": "assistant", "content": answer})
    messages.append({"role": "user", "content": QUESTION})
    messages.append({"role": "assistant", "content": answer})
    messages.append({"role": "user", "content": "et quand commencera la production ?"})
    return messages


# -- settings ----------------------------------------------------------------------------


def test_settings_read_the_environment_once() -> None:
    s = Settings.from_env(
        {
            "RAGCHIPS_INDEX": "/tmp/idx",
            "RAGCHIPS_LLM": "mistral",
            "RAGCHIPS_SERVER_MODELS": "qwen, mistral,llama",
            "RAGCHIPS_SERVER_API_KEY": KEY,
            "RAGCHIPS_SERVER_CLIENT_LIMIT": "3",
            "RAGCHIPS_LLM_BASE_URL": "http://localhost:11434/v1",
            "HOME": "/root",
        }
    )
    assert s.index == Path("/tmp/idx") and s.client_limit == 3 and s.api_key == KEY
    assert s.chat_models == ("mistral", "qwen", "llama")
    # What the chat client is configured from, kept as read (nothing unrelated).
    assert s.llm_env == {
        "RAGCHIPS_LLM": "mistral",
        "RAGCHIPS_LLM_BASE_URL": "http://localhost:11434/v1",
    }
    assert KEY not in repr(s)
    assert s.host == "127.0.0.1"  # this machine only, unless --host says otherwise


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("RAGCHIPS_SERVER_CLIENT_LIMIT", "many", "whole number"),
        ("RAGCHIPS_SERVER_CONCURRENCY", "0", ">= 1"),
        ("RAGCHIPS_SERVER_HISTORY_TOKENS", "-5", ">= 1"),
    ],
)
def test_bad_settings_are_one_line_errors(name: str, value: str, message: str) -> None:
    from ragchips.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match=message) as info:
        Settings.from_env({name: value})
    assert name in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("key", "message"),
    [("", "the API key is empty"), ("  ", "the API key is empty"), ("clé", "printable ASCII")],
)
def test_an_empty_or_unsendable_api_key_is_refused_not_ignored(key: str, message: str) -> None:
    from ragchips.errors import ConfigurationError

    # Empty: an unset variable in a deployment script must not open the service to all.
    for made in (
        Settings.from_env({"RAGCHIPS_SERVER_API_KEY": key}),
        Settings.from_env({}, api_key=key),
    ):
        with pytest.raises(ConfigurationError, match=message):
            create_app(made)
    assert Settings.from_env({}).api_key is None  # no key at all: an open local service
    # Other commands read the same environment: a blank key there is no concern of theirs.
    out = subprocess.run(
        [str(Path(sys.executable).parent / "ask"), "--json", "qui fabrique la puce ?"],
        env={**os.environ, "RAGCHIPS_SERVER_API_KEY": key},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr


# -- conversations -----------------------------------------------------------------------


def test_trim_history_keeps_the_newest_messages_within_the_budget() -> None:
    messages = long_chat(74)
    kept, dropped = trim_history(messages, 300)
    assert kept == messages[dropped:] and dropped > 100
    assert kept[-1]["content"] == "et quand commencera la production ?"
    # The question is kept even when it alone is over the budget.
    kept, dropped = trim_history([{"role": "user", "content": "mot " * 50}], 5)
    assert len(kept) == 1 and dropped == 0


def test_question_for_a_long_chat_still_rewrites_the_follow_up() -> None:
    turn = question_for(long_chat(74), budget=400)
    assert turn.question == "fabrique puce et quand commencera la production ?"
    assert turn.rewritten and turn.dropped > 100
    with pytest.raises(Exception, match="no user message"):
        question_for([{"role": "system", "content": "x"}])


# -- in process: models, keys, trimming ------------------------------------------------------


def test_a_model_nobody_configured_is_refused_and_never_called(stub: OpenAIStub) -> None:
    app = create_app(settings(llm_env=stub_env(stub)))
    with TestClient(app) as c:
        for model in ("gpt-4o", "stub-model"):
            r = c.post(
                "/v1/chat/completions",
                json={"model": model, "messages": [{"role": "user", "content": QUESTION}]},
            )
            assert r.status_code == 400, r.text
            error = r.json()["error"]
            assert error["param"] == "model" and error["code"] == "model_not_found"
            assert repr(model) in error["message"] and "'ragchips'" in error["message"]
        r = c.post("/ask", json={"question": QUESTION, "llm": "gpt-4o"})
        assert r.status_code == 400 and "'ragchips'" in r.json()["error"]["message"]
        assert [m["id"] for m in c.get("/v1/models").json()["data"]] == ["ragchips"]
        # The extractive answer still works for the default name.
        r = c.post(
            "/v1/chat/completions", json={"messages": [{"role": "user", "content": QUESTION}]}
        )
        assert r.status_code == 200
    assert stub.requests == []


def test_configured_models_are_called_with_one_reused_client(stub: OpenAIStub) -> None:
    app = create_app(settings(llm="stub-default", models=("stub-b",), llm_env=stub_env(stub)))
    with TestClient(app) as c:
        names = [m["id"] for m in c.get("/v1/models").json()["data"]]
        assert names == ["ragchips", "stub-default", "stub-b"]
        for model, sent in (("ragchips", "stub-default"), ("stub-b", "stub-b")):
            r = c.post(
                "/v1/chat/completions",
                json={"model": model, "messages": [{"role": "user", "content": QUESTION}]},
            )
            assert r.status_code == 200, r.text
            assert stub.last.json["model"] == sent
        c.post("/ask", json={"question": QUESTION, "llm": "stub-b"})
        service = app.state.service
        assert sorted(service._clients) == ["stub-b", "stub-default"]


def test_api_key_is_required_on_every_api_route() -> None:
    app = create_app(settings(api_key=KEY))
    with TestClient(app) as c:
        calls = [
            ("post", "/ask", {"question": QUESTION}),
            ("post", "/search", {"question": QUESTION}),
            ("post", "/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}]}),
            ("get", "/v1/models", None),
            ("get", "/health", None),
            ("get", "/documents/001_ad0f021dc5230f9e", None),
        ]
        for method, path, body in calls:
            for auth in (None, "Bearer wrong-key", f"Basic {KEY}", KEY):
                headers = {"Authorization": auth} if auth else {}
                r = c.request(method, path, json=body, headers=headers)
                assert r.status_code == 401, (path, auth, r.text)
                assert r.headers["www-authenticate"] == "Bearer"
                assert r.json()["error"]["type"] == "authentication_error"
            r = c.request(method, path, json=body, headers={"Authorization": f"Bearer {KEY}"})
            assert r.status_code == 200, (path, r.text)
        # The page, its assets and the docs are public: the page asks for the key.
        for path in ("/", "/static/chat.js", "/docs", "/openapi.json"):
            assert c.get(path).status_code == 200, path


def test_dependency_override_serves_another_index(tmp_path: Path) -> None:
    doc = tmp_path / "volcans.txt"
    doc.write_text("Les volcans\n\nLe puy de Dôme est un volcan endormi.", encoding="utf-8")
    other = Index.build([doc], embedder=HashEmbedder(), out=tmp_path / "idx")
    app = create_app(settings())
    app.dependency_overrides[get_index] = lambda: other
    with TestClient(app) as c:
        h = c.get("/health").json()
        assert h["documents"] == 1 and h["generation"] == other.generation
        hits = c.post("/search", json={"question": "puy de Dôme", "mode": "lexical"}).json()
        assert hits["passages"][0]["doc_id"] == "volcans"
        assert c.get("/documents/volcans").json()["text"] == doc.read_text(encoding="utf-8")


def test_a_doc_id_with_slashes_and_url_characters_is_served(tmp_path: Path) -> None:
    import json
    from urllib.parse import quote

    from ragchips.reader import read_documents

    ids = ["2024/03/article", "a/b?c#d%2e"]
    (tmp_path / "c.jsonl").write_text(
        "".join(json.dumps({"doc_id": d, "text": f"Le texte numéro {i} du journal."}) + "\n"
                for i, d in enumerate(ids)),
        encoding="utf-8",
    )  # fmt: skip
    other = Index.build(read_documents([tmp_path / "c.jsonl"]), embedder=HashEmbedder(),
                        out=tmp_path / "idx")  # fmt: skip
    app = create_app(settings())
    app.dependency_overrides[get_index] = lambda: other
    with TestClient(app) as c:
        for i, d in enumerate(ids):
            r = c.get("/documents/" + quote(d, safe=""))  # as the chat page asks for it
            assert r.status_code == 200, r.text
            assert r.json()["doc_id"] == d and f"numéro {i}" in r.json()["text"]


def test_a_74_turn_chat_is_trimmed_not_refused() -> None:
    app = create_app(settings(history_tokens=400))
    with TestClient(app) as c:
        r = c.post("/v1/chat/completions", json={"messages": long_chat(74)})
        assert r.status_code == 200, r.text
        meta = r.json()["ragchips"]
        assert meta["question"] == "fabrique puce et quand commencera la production ?"
        assert meta["trimmed_messages"] > 100


def test_document_route_returns_the_text_spans_point_into() -> None:
    app = create_app(settings())
    with TestClient(app) as c:
        hits = c.post("/search", json={"question": QUESTION, "k": 3}).json()["passages"]
        for p in hits:
            doc = c.get(f"/documents/{p['doc_id']}").json()
            assert doc["text"][p["start"] : p["end"]] == p["text"]
            assert doc["source"] == p["source"] and doc["title"] == p["title"]
        r = c.get("/documents/nope")
        assert r.status_code == 404 and "nope" in r.json()["error"]["message"]


def test_a_replaced_generation_is_released_while_the_server_runs(index_copy: Path) -> None:
    # The server once kept the generation it started with open for its whole life, so its
    # segments stayed on disk after every rebuild (their leases blocked the clean-up).
    app = create_app(settings(index=index_copy))
    with TestClient(app) as c:
        first = {p.name for p in index_copy.glob("seg-*")}
        assert c.get("/health").json()["status"] == "ok"
        for _ in range(2):
            Index.load(index_copy).compact()  # a new segment; the old one is replaced
            assert c.post("/search", json={"question": QUESTION}).status_code == 200
        assert not first & {p.name for p in index_copy.glob("seg-*")}


def test_openapi_schemas_are_what_routes_send() -> None:
    app = create_app(settings())
    with TestClient(app) as c:
        spec = c.get("/openapi.json").json()
        schemas = spec["components"]["schemas"]
        # One passage schema, the library's own dataclass.
        assert "Passage" in schemas and "PassageOut" not in schemas
        assert set(schemas["Passage"]["properties"]) == {
            "rank", "score", "text", "doc_id", "source", "title", "start", "end",
            "passage_id", "metadata", "confidence", "page",
        }  # fmt: skip
        for path, ref in (
            ("/ask", "AnswerOut"),
            ("/search", "SearchOut"),
            ("/v1/chat/completions", "ChatCompletionOut"),
        ):
            ok = spec["paths"][path]["post"]["responses"]["200"]["content"]["application/json"]
            assert ok["schema"]["$ref"].endswith("/" + ref)
        answer = c.post("/ask", json={"question": QUESTION}).json()
        assert set(answer) == set(schemas["AnswerOut"]["properties"])
        # What `ask --json` prints and the README promises: claims and confidence too.
        assert set(answer) == set(ask(QUESTION).to_dict())
        assert answer["claims"] and 0.5 <= answer["confidence"] <= 1
        for claim in answer["claims"]:
            doc = c.get(f"/documents/{claim['doc_id']}").json()
            assert doc["text"][claim["start"] : claim["end"]] == claim["text"]
        assert set(answer["passages"][0]) == set(schemas["Passage"]["properties"])
        chat = c.post(
            "/v1/chat/completions", json={"messages": [{"role": "user", "content": QUESTION}]}
        ).json()
        assert set(chat) == set(schemas["ChatCompletionOut"]["properties"])


def test_docs_work_offline() -> None:
    app = create_app(settings())
    with TestClient(app) as c:
        html = c.get("/docs").text
        assert "cdn" not in html.lower() and "https://" not in html
        for asset in ("/static/docs/swagger-ui-bundle.js", "/static/docs/swagger-ui.css"):
            assert asset in html
            assert c.get(asset).status_code == 200
        page = c.get("/").text
        assert "https://" not in page and "/static/chat.js" in page


# -- real server processes -----------------------------------------------------------------


def test_key_and_long_chats_through_the_openai_client(tmp_path: Path) -> None:
    openai = pytest.importorskip("openai")
    env = server_env({"RAGCHIPS_SERVER_HISTORY_TOKENS": "500"})
    auth = {"Authorization": f"Bearer {KEY}"}
    with running_server(
        default_index_path(), tmp_path / "log", env, ["--api-key", KEY], headers=auth
    ) as url:
        assert httpx.get(url + "/health").status_code == 401
        bad = openai.OpenAI(base_url=url + "/v1", api_key="wrong", max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            bad.chat.completions.create(model="ragchips", messages=long_chat(2))
        client = openai.OpenAI(base_url=url + "/v1", api_key=KEY, max_retries=0)
        messages = long_chat(74)
        assert len(httpx.Request("POST", url, json={"messages": messages}).content) > 64 * 1024
        reply_ = client.chat.completions.create(model="ragchips", messages=messages)
        assert "Sources :" in (reply_.choices[0].message.content or "")
        assert reply_.model_extra["ragchips"]["trimmed_messages"] > 100
        stream = client.chat.completions.create(model="ragchips", messages=messages, stream=True)
        text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
        assert "2026" in text and "Sources :" in text
        with pytest.raises(openai.BadRequestError, match="not served here"):
            client.chat.completions.create(model="gpt-4o", messages=messages)
    assert "Uvicorn running on http://127.0.0.1:" in (tmp_path / "log").read_text()


def test_one_client_over_its_limit_gets_429_with_retry_after(
    tmp_path: Path, stub: OpenAIStub
) -> None:
    env = server_env({**stub_env(stub), "RAGCHIPS_SERVER_MODELS": "slow"})
    with running_server(
        default_index_path(), tmp_path / "log", env, ["--client-limit", "1"]
    ) as url:
        stub.enqueue(sse(["Début", " lent [1]."], first_delay=1.5))
        body = {
            "model": "slow",
            "messages": [{"role": "user", "content": QUESTION}],
            "stream": True,
        }
        slow_status: list[int] = []

        def slow() -> None:
            r = httpx.post(url + "/v1/chat/completions", json=body, timeout=30)
            slow_status.append(r.status_code)

        t = threading.Thread(target=slow)
        t.start()
        deadline = time.monotonic() + 10
        while not stub.requests:  # the first request is now waiting on the chat model
            assert time.monotonic() < deadline
            time.sleep(0.02)
        r = httpx.post(url + "/search", json={"question": QUESTION}, timeout=30)
        assert r.status_code == 429, r.text
        assert r.headers["retry-after"] == "1"
        assert r.json()["error"]["type"] == "rate_limit_error"
        assert httpx.get(url + "/health").status_code == 200  # not a limited route
        t.join()
        assert slow_status == [200]
        # Once the first request is done, the client may ask again.
        assert httpx.post(url + "/search", json={"question": QUESTION}).status_code == 200


def test_workers_share_the_index_and_all_pick_up_a_rebuild(
    tmp_path: Path, native_embedder: Any
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "volcans.txt").write_text(
        "Les volcans\n\nLe puy de Dôme est un volcan endormi du Massif central.", "utf-8"
    )
    out = tmp_path / "index"
    Index.build([docs], embedder=native_embedder, out=out)

    def generations_by_worker(url: str, want: int, generation: str | None) -> dict[int, str]:
        """Ask /health on fresh connections until ``want`` workers answered (with
        ``generation``, if given)."""
        seen: dict[int, str] = {}
        deadline = time.monotonic() + 30
        while True:
            h = httpx.get(url + "/health", timeout=10).json()
            if generation is None or h["generation"] == generation:
                seen[h["worker_pid"]] = h["generation"]
            if len(seen) >= want:
                return seen
            assert time.monotonic() < deadline, f"only saw {seen}"

    with running_server(out, tmp_path / "log", server_env(), ["--workers", "2"]) as url:
        before = generations_by_worker(url, 2, None)
        assert len(set(before.values())) == 1
        (docs / "mine.txt").write_text(
            "La mine de Zorglubie\n\nLe lithium de Zorglubie sera exploité dès 2031.", "utf-8"
        )
        rebuilt = Index.build([docs], embedder=native_embedder, out=out)
        after = generations_by_worker(url, 2, rebuilt.generation)
        assert set(after) == set(before)  # the same two workers, both on the new index
        hits = httpx.post(url + "/search", json={"question": "lithium Zorglubie", "k": 1})
        assert hits.json()["passages"][0]["doc_id"] == "mine"


def test_a_request_during_a_reload_gets_the_new_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ragchips.server.state as state
    from ragchips.reader import read_documents

    folder = tmp_path / "c"
    folder.mkdir()
    (folder / "a.txt").write_text("Le projet Quxal sera construit à Grenoble.\n", "utf-8")
    (folder / "b.txt").write_text("Les pommes sont récoltées en automne.\n", "utf-8")
    Index.sync(read_documents([folder]), tmp_path / "ix", embedder=HashEmbedder(16))
    holder = state.IndexHolder(tmp_path / "ix")
    assert sorted(holder.get().doc_ids()) == ["a", "b"]
    real = state.open_index

    def slow(path: Any) -> Any:  # a big index's reload
        time.sleep(0.3)
        return real(path)

    monkeypatch.setattr(state, "open_index", slow)
    (folder / "a.txt").unlink()
    Index.sync(read_documents([folder]), tmp_path / "ix", embedder=HashEmbedder(16))
    first: list[Index] = []
    reloading = threading.Thread(target=lambda: first.append(holder.get()))
    reloading.start()
    time.sleep(0.05)
    second = holder.get()  # arrives while the first request reloads
    reloading.join(60)
    assert first[0].doc_ids() == ["b"] and second.doc_ids() == ["b"]


def test_an_idle_server_lets_a_compaction_s_old_copy_go(
    index_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An idle worker kept the generation of its last request, and with it a compaction's
    # whole old copy on disk, until a request came.
    import ragchips.server.state as state
    from ragchips.storage import _leased

    monkeypatch.setattr(state, "IDLE_REFRESH_S", 0.2)
    app = create_app(settings(index=index_copy))
    with TestClient(app) as c:
        assert c.post("/search", json={"question": QUESTION}).status_code == 200
        before = {p.name for p in index_copy.glob("seg-*")}
        writer = Index.load(index_copy)
        writer.compact()
        assert before <= {p.name for p in index_copy.glob("seg-*")}  # the server holds them
        deadline = time.monotonic() + 30
        while any(_leased(index_copy / name) for name in before):
            assert time.monotonic() < deadline, "the idle server still holds the old segments"
            time.sleep(0.1)
        writer.compact()  # the next write removes what nobody holds
        writer.close()
        assert not before & {p.name for p in index_copy.glob("seg-*")}


def test_the_idle_refresh_starts_again_with_the_app_and_never_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ragchips.server.state as state

    monkeypatch.setattr(state, "IDLE_REFRESH_S", 0.05)
    folder = tmp_path / "c"
    folder.mkdir()
    (folder / "a.txt").write_text("Le projet Quxal sera construit à Grenoble.\n", "utf-8")
    index = tmp_path / "ix"
    Index.sync([folder], index, embedder=HashEmbedder(16))
    app = create_app(settings(index=index))
    calls: list[int] = []
    service = app.state.service
    real = service.refresh
    monkeypatch.setattr(service, "refresh", lambda: (calls.append(1), real()))
    for _ in range(2):  # a second lifespan of the same app refreshes too
        calls.clear()
        with TestClient(app):
            time.sleep(0.5)
        assert calls
    shutil.rmtree(index)
    service.refresh()  # the index removed meanwhile: nothing is created again
    assert not index.exists()
