"""CPU time of each part of a search on an existing index (what a loaded machine changes least).

CPU time is the whole process's (``time.process_time``): with ``RAGCHIPS_QUERY_PARALLEL=1``
the dense search runs in a second thread beside BM25 from 250,000 passages. The wall time of
a whole search is printed too.

For comparing two versions of the code on the same index in one run, e.g. the previous
commit checked out in a worktree: ``CODE=/path/to/worktree python
tests/bench/bench_search_parts.py INDEX`` then the same without ``CODE``, alternately.
Prints medians over 100 PIAF questions (embeddings computed beforehand, not timed) of the
dense search, each BM25 field, a whole search with and without ``where={"year": 2010}``
(an index from bench_scale.py has that field) and ``ask()``, then the process's memory.
Run: ``python tests/bench/bench_search_parts.py /tmp/ragchips-scale/scale-1000000``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, os.environ.get("CODE", str(ROOT)))

from ragchips import Index, ask  # noqa: E402
from ragchips.dense import query_threads  # noqa: E402
from ragchips.lexical import FIELDS, score_field  # noqa: E402

PIAF = ROOT.parent / "shared" / "eval" / "piaf" / "questions.jsonl"


def main() -> None:
    idx = Index.load(sys.argv[1])
    lines = PIAF.read_text("utf-8").splitlines()[:100]
    questions = [json.loads(line)["question"] for line in lines]
    vectors = idx.embedder.embed_queries(questions)
    cache = dict(zip(questions, vectors))
    idx.embedder.embed_queries = lambda texts: np.stack([cache[t] for t in texts])  # type: ignore[method-assign]
    idx._probe_checked = True
    for q in questions[:10]:
        idx.search_rows(q, 10)
    parts: dict[str, list[float]] = {k: [] for k in ("dense", *FIELDS)}
    with query_threads():
        for q, v in zip(questions, vectors):
            t = time.process_time()
            for seg in idx.segments:
                seg.dense.search(v, 200, None)
            parts["dense"].append(time.process_time() - t)
            for f in FIELDS:
                t = time.process_time()
                postings = [s.postings[f] for s in idx.segments]
                score_field(q, f, postings, idx._alive, idx._n_live, idx._lengths[f])
                parts[f].append(time.process_time() - t)
    whole: dict[str, list[float]] = {"search": [], "filtered": [], "ask": []}
    wall: list[float] = []
    for q in questions:
        t, w = time.process_time(), time.perf_counter()
        idx.search_rows(q, 10)
        whole["search"].append(time.process_time() - t)
        wall.append(time.perf_counter() - w)
        t = time.process_time()
        idx.search_rows(q, 10, where={"year": 2010})
        whole["filtered"].append(time.process_time() - t)
        t = time.process_time()
        ask(q, k=5, index=idx)
        whole["ask"].append(time.process_time() - t)
    cells = {**parts, **whole}
    print(" ".join(f"{k} {np.median(v) * 1e3:.2f}" for k, v in cells.items()), "ms CPU median")
    print(f"search wall p50 {np.median(wall) * 1e3:.2f} ms")
    status = Path("/proc/self/status").read_text()
    mem = {k: int(status.split(k + ":")[1].split()[0]) // 1024 for k in ("RssAnon", "RssFile")}
    print(f"memory: own {mem['RssAnon']} MB, mapped files {mem['RssFile']} MB")


if __name__ == "__main__":
    main()
