"""ragchips as the retriever of a LangChain (LCEL) chain; every passage keeps its citation.

    python examples/langchain_chain.py [INDEX_DIR] ["question"]

The chain builds the prompt a chat model would get: put any LangChain chat model after
``prompt`` (``| ChatOpenAI(...) | StrOutputParser()``) to have the answer written.
"""

from __future__ import annotations

import sys

from langchain_core.documents import Document
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnablePassthrough

from ragchips import Index
from ragchips.errors import RagchipsError
from ragchips.integrations.langchain import RagchipsRetriever

try:  # a missing or damaged index: its one-line message, not a traceback
    index = Index.load(sys.argv[1] if len(sys.argv) > 1 else None)
except RagchipsError as exc:
    sys.exit(f"error: {exc}")
question = sys.argv[2] if len(sys.argv) > 2 else "Qui fabriquera la puce d'OpenAI ?"
retriever = RagchipsRetriever(index=index, k=3)


def numbered(docs: list[Document]) -> str:
    """Passages as [n], with where they come from, for the model to cite."""
    return "\n\n".join(
        f"[{d.metadata['rank']}] {d.metadata['title']} ({d.metadata['source']} "
        f"[{d.metadata['start']}:{d.metadata['end']}])\n{d.page_content}"
        for d in docs
    )


prompt = ChatPromptTemplate.from_messages(
    [
        (
            "system",
            "Réponds en français, seulement d'après ces passages, en citant [n].\n\n{context}",
        ),
        ("human", "{question}"),
    ]
)
chain = {"context": retriever | numbered, "question": RunnablePassthrough()} | prompt

messages = chain.invoke(question).to_messages()
print(messages[0].content)
print("---")
for doc in retriever.invoke(question):
    m = doc.metadata
    page = f", p. {m['page']}" if m["page"] is not None else ""
    print(f"[{m['rank']}] {m['source']}{page} [{m['start']}:{m['end']}] score {m['score']:.2f}")
