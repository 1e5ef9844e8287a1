"""LangChain, LlamaIndex, MCP and the async API, each against the real library; the examples run."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ragchips import Index, ask

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "Qui fabriquera la puce d'OpenAI ?"
KEYS = {"source", "title", "page", "start", "end", "score", "doc_id", "passage_id", "rank"}


def check_citation(index: Index, meta: dict, text: str) -> None:
    assert set(meta) >= KEYS
    assert index.document(meta["doc_id"]).text[meta["start"] : meta["end"]] == text


def test_langchain_retriever_sync_async_and_in_an_lcel_chain(seeds_index_path: Path) -> None:
    from langchain_core.language_models.fake_chat_models import FakeListChatModel
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate
    from langchain_core.retrievers import BaseRetriever
    from langchain_core.runnables import RunnableLambda, RunnablePassthrough

    from ragchips.integrations.langchain import RagchipsRetriever

    index = Index.load(seeds_index_path)
    retriever = RagchipsRetriever(index=seeds_index_path, k=3)
    assert isinstance(retriever, BaseRetriever)
    docs = retriever.invoke(QUESTION)
    expected = ask(QUESTION, k=3, index=seeds_index_path).passages
    assert [d.page_content for d in docs] == [p.text for p in expected]
    for d, p in zip(docs, expected):
        check_citation(index, d.metadata, d.page_content)
        assert d.metadata["score"] == pytest.approx(p.score) and d.metadata["page"] is None
    adocs = asyncio.run(retriever.ainvoke(QUESTION))
    assert [d.metadata for d in adocs] == [d.metadata for d in docs]

    seen: list[str] = []

    def numbered(found: list) -> str:
        return "\n".join(f"[{d.metadata['rank']}] {d.page_content}" for d in found)

    def capture(prompt_value):  # what the model would read
        seen.append(prompt_value.to_string())
        return prompt_value

    prompt = ChatPromptTemplate.from_messages(
        [("system", "Cite [n].\n{context}"), ("human", "{question}")]
    )
    model = FakeListChatModel(responses=["réponse du modèle"])
    chain = (
        {"context": retriever | numbered, "question": RunnablePassthrough()}
        | prompt
        | RunnableLambda(capture)
        | model
        | StrOutputParser()
    )
    assert chain.invoke(QUESTION) == "réponse du modèle"
    assert f"[1] {docs[0].page_content}" in seen[0] and QUESTION in seen[0]
    batch = RagchipsRetriever(index=seeds_index_path, k=1).batch([QUESTION, "Tigris"])
    assert len(batch) == 2 and all(len(b) == 1 for b in batch)


@pytest.mark.parametrize("k", [True, "3", 0, 2.5])
def test_langchain_retriever_refuses_the_k_that_ask_refuses(k: object) -> None:
    """pydantic would turn True into 1 and "3" into 3; ask() says k must be a whole number."""
    pytest.importorskip("langchain_core")
    from ragchips.errors import InvalidQuestionError
    from ragchips.integrations.langchain import RagchipsRetriever

    with pytest.raises(InvalidQuestionError, match=r"^k must be"):
        RagchipsRetriever(k=k)


def test_integration_metadata_carries_confidence_and_the_documents_fields(
    tmp_path: Path,
) -> None:
    pytest.importorskip("langchain_core")
    from ragchips.integrations.langchain import to_document

    (tmp_path / "c.jsonl").write_text(
        '{"doc_id": "a1", "text": "Le port de Brest accueille des frégates.", "year": 2024}\n',
        encoding="utf-8",
    )
    index = Index.build([tmp_path / "c.jsonl"], embedder="hash-64", out=tmp_path / "i")
    answer = ask("Que accueille le port de Brest ?", index=index)
    meta = to_document(answer.passages[0]).metadata
    assert meta["metadata"] == {"year": 2024, "line": 1} and meta["doc_id"] == "a1"
    assert meta["confidence"] == answer.passages[0].confidence is not None
    text = index.document("a1").text
    assert text[meta["start"] : meta["end"]] == answer.passages[0].text


def test_llamaindex_retriever_and_query_engine(seeds_index_path: Path) -> None:
    from llama_index.core.llms import MockLLM
    from llama_index.core.query_engine import RetrieverQueryEngine
    from llama_index.core.schema import NodeWithScore

    from ragchips.integrations.llamaindex import RagchipsLlamaRetriever

    index = Index.load(seeds_index_path)
    retriever = RagchipsLlamaRetriever(index=seeds_index_path, k=3)
    nodes = retriever.retrieve(QUESTION)
    expected = ask(QUESTION, k=3, index=seeds_index_path).passages
    assert all(isinstance(n, NodeWithScore) for n in nodes)
    assert [n.node.get_content() for n in nodes] == [p.text for p in expected]
    for n, p in zip(nodes, expected):
        check_citation(index, n.node.metadata, n.node.get_content())
        assert n.score == pytest.approx(p.score)
        assert (n.node.start_char_idx, n.node.end_char_idx) == (p.start, p.end)
    anodes = asyncio.run(retriever.aretrieve(QUESTION))
    assert [n.node.node_id for n in anodes] == [n.node.node_id for n in nodes]
    response = RetrieverQueryEngine.from_args(retriever, llm=MockLLM()).query(QUESTION)
    assert [n.node.metadata["start"] for n in response.source_nodes] == [p.start for p in expected]


def test_async_api_does_not_block_the_event_loop(seeds_index_path: Path, tmp_path: Path) -> None:
    """While a fresh index loads and a question is answered, a 10 ms ticker keeps ticking."""
    import shutil

    from ragchips.aio import aask, asearch, astream

    fresh = tmp_path / "fresh"
    shutil.copytree(seeds_index_path, fresh)  # not in the per-process cache yet

    async def main() -> tuple[int, float, object, object, list[str], object]:
        ticks = 0
        stop = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not stop.is_set():
                await asyncio.sleep(0.01)
                ticks += 1

        task = asyncio.create_task(ticker())
        t0 = time.perf_counter()
        # Enough work to be measured (a question takes a few ms on a quiet machine).
        answers = await asyncio.gather(
            *(aask(q, k=2, index=fresh) for q in [QUESTION, "Tigris"] * 8)
        )
        elapsed = time.perf_counter() - t0
        passages = await asearch(QUESTION, k=2, index=fresh)
        stream = await astream(QUESTION, k=2, index=fresh)
        chunks = [c async for c in stream]
        final = await stream.final()
        stop.set()
        await task
        return ticks, elapsed, answers, passages, chunks, final

    ticks, elapsed, answers, passages, chunks, final = asyncio.run(main())
    sync = ask(QUESTION, k=2, index=fresh)

    def spans(found: list) -> list[tuple[str, int, int]]:
        return [(p.doc_id, p.start, p.end) for p in found]

    # the same passages and scores (ask() may add fields that search() does not fill,
    # such as a confidence on main, so whole Passage objects are not compared)
    assert answers[0].answer == sync.answer
    assert spans(answers[0].passages) == spans(passages) == spans(sync.passages)
    assert [p.score for p in passages] == pytest.approx([p.score for p in sync.passages], 1e-3)
    assert "".join(chunks) == final.answer == sync.answer
    # a blocked loop would tick ~0 times during the load; allow for a loaded machine
    assert elapsed > 0.05 and ticks >= max(3, int(elapsed / 0.01 * 0.2)), (ticks, elapsed)


def test_mcp_server_with_the_sdk_client(seeds_index_path: Path) -> None:
    """The SDK's own client starts the real ``ragchips mcp`` process over stdio."""
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    index = Index.load(seeds_index_path)
    expected = ask(QUESTION, k=2, index=seeds_index_path)

    async def main() -> dict:
        server = StdioServerParameters(
            command=str(Path(sys.executable).parent / "ragchips"),
            args=["mcp", "--index", str(seeds_index_path)],
            # the SDK passes only a default environment: keep this checkout first on the path
            env={k: os.environ[k] for k in ("PYTHONPATH",) if k in os.environ},
        )
        async with stdio_client(server) as (r, w), ClientSession(r, w) as session:
            await session.initialize()
            tools = sorted(t.name for t in (await session.list_tools()).tools)
            search = await session.call_tool("search", {"question": QUESTION, "k": 2})
            answer = await session.call_tool("ask", {"question": QUESTION, "k": 2})
            bad = await session.call_tool("search", {"question": "   "})
            resources = (await session.list_resources()).resources
            first = search.structured_content["result"][0]
            doc = await session.read_resource(first["resource"])
            return {
                "tools": tools,
                "search": search.structured_content["result"],
                "answer": answer.structured_content,
                "bad": (bad.is_error, bad.content[0].text),
                "uris": sorted(str(x.uri) for x in resources),
                "doc_text": doc.contents[0].text,
            }

    out = asyncio.run(main())
    assert out["tools"] == ["ask", "search"]
    assert [p["text"] for p in out["search"]] == [p.text for p in expected.passages]
    for p in out["search"]:
        check_citation(index, p, p["text"])
        assert p["citation"].endswith(f"[{p['start']}:{p['end']}]")
    assert out["answer"]["answer"] == expected.answer and out["answer"]["found"] is True
    assert out["answer"]["confidence"] == pytest.approx(expected.confidence)
    assert out["answer"]["claims"] == [
        {**c.to_dict(), "resource": f"ragchips://documents/{c.doc_id}"} for c in expected.claims
    ]
    assert out["answer"]["claims"] and out["answer"]["warnings"] == expected.warnings
    assert out["bad"][0] is True and "the question is empty" in out["bad"][1]
    assert out["uris"] == sorted(f"ragchips://documents/{d}" for d in index.doc_ids())
    first = out["search"][0]
    assert out["doc_text"][first["start"] : first["end"]] == first["text"]


def test_mcp_resources_of_doc_ids_with_spaces_accents_and_slashes(tmp_path: Path) -> None:
    """Such a doc_id is percent-encoded in its resource's address; each passage gives that
    address, and the README's example follows it (it once built the address by hand)."""
    docs = tmp_path / "docs"
    (docs / "sous dossier").mkdir(parents=True)
    (docs / "château été.txt").write_text(
        "Le château de Chambord fut construit par François Ier à partir de 1519.", "utf-8"
    )
    (docs / "sous dossier" / "bail 2024.md").write_text(
        "Le loyer du bail est de 800 euros par mois.", "utf-8"
    )
    Index.build([docs], embedder="hash-64", out=tmp_path / "i")
    for question in ("Qui a construit Chambord ?", "Quel est le loyer du bail ?"):
        example = str(ROOT / "examples" / "mcp_client.py")
        out = subprocess.run(
            [sys.executable, example, str(tmp_path / "i"), question],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=ROOT,
        )
        assert out.returncode == 0, out.stderr
        assert "citation exact: True" in out.stdout
        assert "%C3%A2" in out.stdout or "%2F" in out.stdout or "%20" in out.stdout, out.stdout


def test_mcp_on_a_missing_index_is_one_line(tmp_path: Path) -> None:
    out = subprocess.run(
        [str(Path(sys.executable).parent / "ragchips"), "mcp", "--index", str(tmp_path / "x")],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert out.returncode == 1 and "no index" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("example", "expect"),
    [
        ("langchain_chain.py", "seeds/00"),
        ("llamaindex_retriever.py", "seeds/00"),
        ("mcp_client.py", "citation exact: True"),
        ("async_ask.py", "asearch: "),
    ],
)
def test_examples_run(seeds_index_path: Path, example: str, expect: str) -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / example), str(seeds_index_path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    assert expect in out.stdout


@pytest.mark.parametrize(
    "example", ["langchain_chain.py", "llamaindex_retriever.py", "mcp_client.py", "async_ask.py"]
)
def test_examples_on_a_missing_index_say_so_in_one_line(tmp_path: Path, example: str) -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / example), str(tmp_path / "none")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert out.returncode == 1 and out.stderr.startswith("error: no index at ")
    assert len(out.stderr.strip().splitlines()) == 1


def test_mcp_without_the_extra_names_it() -> None:
    code = (
        "import sys; sys.modules['mcp'] = None\n"
        "from ragchips.cli import main\n"
        "sys.exit(main(['mcp']))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 1 and "pip install 'ragchips[mcp]'" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
