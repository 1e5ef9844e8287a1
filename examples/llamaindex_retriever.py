"""ragchips as a LlamaIndex retriever: NodeWithScore results that keep their citations.

    python examples/llamaindex_retriever.py [INDEX_DIR] ["question"]

``RagchipsLlamaRetriever`` plugs into any LlamaIndex pipeline, e.g.
``RetrieverQueryEngine.from_args(retriever, llm=...)``.
"""

from __future__ import annotations

import sys

from ragchips import Index
from ragchips.errors import RagchipsError
from ragchips.integrations.llamaindex import RagchipsLlamaRetriever

try:  # a missing or damaged index: its one-line message, not a traceback
    index = Index.load(sys.argv[1] if len(sys.argv) > 1 else None)
except RagchipsError as exc:
    sys.exit(f"error: {exc}")
question = sys.argv[2] if len(sys.argv) > 2 else "Qui fabriquera la puce d'OpenAI ?"
retriever = RagchipsLlamaRetriever(index=index, k=3)

for hit in retriever.retrieve(question):
    m = hit.node.metadata
    page = f", p. {m['page']}" if m["page"] is not None else ""
    print(f"[{m['rank']}] {m['source']}{page} [{m['start']}:{m['end']}] score {hit.score:.2f}")
    print(f"    {' '.join(hit.node.get_content().split())[:160]}")
