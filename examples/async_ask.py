"""The async API: several questions at once, the event loop never blocked by the model.

python examples/async_ask.py [INDEX_DIR]
"""

from __future__ import annotations

import asyncio
import sys

from ragchips import Index
from ragchips.aio import aask, asearch
from ragchips.errors import RagchipsError

try:  # a missing or damaged index: its one-line message, not a traceback
    index = Index.load(sys.argv[1] if len(sys.argv) > 1 else None)
except RagchipsError as exc:
    sys.exit(f"error: {exc}")
QUESTIONS = ["Qui fabriquera la puce d'OpenAI ?", "Quel est le projet Tigris ?"]


async def main() -> None:
    answers = await asyncio.gather(*(aask(q, k=2, index=index) for q in QUESTIONS))
    for answer in answers:
        print(answer)
    passages = await asearch("supercalculateur", k=1, index=index)
    p = passages[0]
    print(f"asearch: {p.source} [{p.start}:{p.end}]")


asyncio.run(main())
