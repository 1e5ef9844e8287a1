"""ragchips against the pipelines people build by hand, on the PIAF dev split, in one run.

    .venv/bin/python tests/bench/bench_peers.py --piaf-index /tmp/ragchips-piaf

Every row asks the same 500 questions for 10 passages, with the same model (multilingual
e5-small, through ragchips's embedder: same weights, same prefixes), and is scored the same
way, at two levels, as ``ragchips eval`` prints them: the passage-level rank (of the first
passage of the gold paragraph among all returned, none merged) and the document-level rank
(a paragraph's passages merged at its first). A pipeline that returns whole paragraphs
(BM25 on paragraphs, their fusion) has one rank for both.

- **LangChain, stock**: ``RecursiveCharacterTextSplitter(chunk_size=400, chunk_overlap=80)``
  with its default separators, the chunks' vectors in a flat FAISS inner-product index (what
  LangChain's FAISS store does with normalised vectors), the top 10 chunks.
- **BM25 on whole paragraphs**: ragchips's French BM25 (stems and word forms), one passage
  per paragraph (no cutting), lexical mode.
- **RRF of the two**: reciprocal rank fusion (k=60) of the two lists, by paragraph.
- **ragchips, reciprocal rank fusion**: the index given, hybrid, RRF instead of the default
  z-score blend (``HybridSearch.search_rows(fusion="rrf")``).
- **ragchips, default**: the index given, ``Index.search`` as shipped.

Prints a Markdown table; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
PIAF = ROOT.parent / "shared" / "eval" / "piaf"
RRF_K = 60


def _ranks(gold: str, doc_ids: Sequence[str]) -> int | None:
    return next((i for i, d in enumerate(doc_ids, 1) if d == gold), None)


def _scores(ranks: list[int | None]) -> str:
    n = len(ranks)
    r5 = sum(1 for r in ranks if r is not None and r <= 5) / n
    mrr = sum(1 / r for r in ranks if r is not None and r <= 10) / n
    return f"{r5:.3f} | {mrr:.3f}"


def _row(label: str, golds: Sequence[str], lists: Sequence[Sequence[str]]) -> str:
    """Passage-level ranks (every passage returned counts), then document-level (a
    paragraph's passages merged at its first)."""
    passage = [_ranks(g, ids) for g, ids in zip(golds, lists)]
    document = [_ranks(g, list(dict.fromkeys(ids))) for g, ids in zip(golds, lists)]
    return f"| {label} | {_scores(passage)} | {_scores(document)} |"


def _rrf(lists: Sequence[Sequence[str]]) -> list[str]:
    """Paragraphs by reciprocal rank fusion: each list counts a paragraph at its first rank."""
    score: dict[str, float] = {}
    for ids in lists:
        for r, d in enumerate(dict.fromkeys(ids), 1):
            score[d] = score.get(d, 0.0) + 1 / (RRF_K + r)
    return sorted(score, key=lambda d: -score[d])


def main() -> int:
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from ragchips import Index
    from ragchips.chunking import ChunkerSettings
    from ragchips.embedding import get_embedder
    from ragchips.reader import Document

    parser = argparse.ArgumentParser()
    parser.add_argument("--piaf-index", required=True, help="the PIAF index (ragchips index)")
    parser.add_argument("--piaf", default=str(PIAF), help="folder of corpus/questions.jsonl")
    args = parser.parse_args()
    folder = Path(args.piaf)
    if not (folder / "corpus.jsonl").is_file():
        print(f"{folder}: no PIAF corpus here", file=sys.stderr)
        return 2
    corpus = [json.loads(x) for x in (folder / "corpus.jsonl").read_text("utf-8").splitlines()]
    questions = [
        json.loads(x) for x in (folder / "questions.jsonl").read_text("utf-8").splitlines() if x
    ]
    golds = [q["doc_id"] for q in questions]
    texts = [q["question"] for q in questions]
    emb = get_embedder("e5-small")

    # LangChain, stock: cut, embed, flat inner product.
    import faiss

    splitter = RecursiveCharacterTextSplitter(chunk_size=400, chunk_overlap=80)
    chunks = [(p["doc_id"], c) for p in corpus for c in splitter.split_text(p["text"])]
    t = time.perf_counter()
    vectors = np.asarray(emb.embed_passages([c for _, c in chunks]), dtype=np.float32)
    embed_s = time.perf_counter() - t
    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(vectors)
    qv = np.asarray(emb.embed_queries(texts), dtype=np.float32)
    _, found = flat.search(qv, 10)
    langchain = [[chunks[i][0] for i in row if i >= 0] for row in found]

    # French BM25 on whole paragraphs: one passage per paragraph.
    docs = [
        Document(p["doc_id"], p["doc_id"], p.get("title") or "", p["text"], str(i))
        for i, p in enumerate(corpus)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        whole = Index.build(
            docs,
            embedder="hash-16",
            chunker=ChunkerSettings(chunk_size=100_000, chunk_overlap=0),
            out=Path(tmp) / "whole",
        )
        bm25 = [[p.doc_id for p in whole.search(q, k=10, mode="lexical")] for q in texts]
        whole.close()
    fused = [_rrf([a, b])[:10] for a, b in zip(langchain, bm25)]

    index = Index.load(args.piaf_index)
    shipped = [[p.doc_id for p in index.search(q, k=10)] for q in texts]
    rrf_rows = [
        [index.passage(h.row).doc_id for h in index.search_rows(q, k=10, fusion="rrf")]
        for q in texts
    ]

    print(
        f"{len(questions)} PIAF questions, {len(corpus)} paragraphs; LangChain cut them into "
        f"{len(chunks)} chunks (embedded in {embed_s:.0f} s), ragchips into {len(index)} passages"
    )
    print(
        "| pipeline | passage-level recall@5 | MRR@10 | document-level recall@5 | MRR@10 |"
    )
    print("|---|---|---|---|---|")
    rows = (
        ("LangChain, stock (RecursiveCharacterTextSplitter + FAISS)", langchain),
        ("French BM25 on whole paragraphs", bm25),
        ("reciprocal rank fusion of the two", fused),
        ("ragchips, hybrid with reciprocal rank fusion", rrf_rows),
        ("ragchips, hybrid (default)", shipped),
    )
    for label, lists in rows:
        print(_row(label, golds, lists))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
