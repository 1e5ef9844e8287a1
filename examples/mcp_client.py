"""An MCP client (the official SDK) talking to ``ragchips mcp`` over stdio.

    python examples/mcp_client.py [INDEX_DIR] ["question"]

It starts the server as an agent host would, lists its tools, searches, and checks the
first citation against the document resource: ``text[start:end]`` is the passage.
"""

from __future__ import annotations

import asyncio
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from ragchips import Index
from ragchips.errors import RagchipsError

index = sys.argv[1] if len(sys.argv) > 1 else None
try:  # a missing or damaged index: its one-line message, not the client's traceback
    Index.load(index)
except RagchipsError as exc:
    sys.exit(f"error: {exc}")
question = sys.argv[2] if len(sys.argv) > 2 else "Qui fabriquera la puce d'OpenAI ?"


async def main() -> None:
    args = ["-m", "ragchips.cli", "mcp", *(["--index", index] if index else [])]
    server = StdioServerParameters(command=sys.executable, args=args)
    async with stdio_client(server) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        tools = await session.list_tools()
        print("tools:", ", ".join(t.name for t in tools.tools))
        result = await session.call_tool("search", {"question": question, "k": 3})
        passages = result.structured_content["result"]
        for p in passages:
            print(f"[{p['rank']}] {p['citation']}")
        first = passages[0]
        doc = await session.read_resource(first["resource"])  # the doc_id, percent-encoded
        text = doc.contents[0].text
        print("read", first["resource"])
        print("citation exact:", text[first["start"] : first["end"]] == first["text"])


asyncio.run(main())
