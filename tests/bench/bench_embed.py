"""Indexing speed: `ragchips index` (model load included) beside the raw fp32 model.

Why interleaved: this machine is shared and its load swings; each round runs the raw
sentence-transformers fp32 model on the passage texts, then `ragchips index` on the same
paragraphs, each in a fresh process, and the ratio is taken per round (then the median).

* raw: ``SentenceTransformer(<the rebuilt e5 folder>).encode(texts, batch_size=16)`` on the
  exact texts the index embeds (title, "passage: " prefix), model load *excluded*;
* pipeline: ``ragchips index CORPUS --out DIR --full`` with the embedding cache off, wall
  time of the whole command (start, model load, reading, chunking, writing included);
* quality: cosine between the index's vectors and the raw fp32 vectors of the same texts.

Usage: ``python tests/bench/bench_embed.py [--paragraphs 500] [--rounds 3] [--engine E]``
(PIAF from ``../shared/eval/piaf``; the first N paragraphs, in file order).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
PIAF = ROOT.parent / "shared" / "eval" / "piaf" / "corpus.jsonl"

RAW = """
import json, sys, time
import numpy as np
texts = json.load(open(sys.argv[1], encoding="utf-8"))
from ragchips.e5_rebuild import rebuild_sentence_transformer
from sentence_transformers import SentenceTransformer
model = SentenceTransformer(str(rebuild_sentence_transformer()), device="cpu")
model.encode(texts[:16], batch_size=16)  # warm-up
t = time.perf_counter()
v = model.encode(texts, batch_size=16, normalize_embeddings=True, convert_to_numpy=True)
dt = time.perf_counter() - t
np.save(sys.argv[2], v.astype(np.float32))
print(json.dumps({"seconds": dt}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paragraphs", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--engine", default=None, help="RAGCHIPS_E5_ENGINE for the index runs")
    ap.add_argument("--corpus", type=Path, default=PIAF)
    args = ap.parse_args()
    if not args.corpus.is_file():
        print(f"skipped: {args.corpus} not found (the PIAF corpus is shared, not shipped)")
        return

    from ragchips.chunking import ChunkerSettings
    from ragchips.reader import read_documents
    from ragchips.writer import prepare

    work = Path(tempfile.mkdtemp(prefix="ragchips-bench-embed-"))
    lines = args.corpus.read_text("utf-8").splitlines()[: args.paragraphs]
    corpus = work / "corpus.jsonl"
    corpus.write_text("\n".join(lines) + "\n", "utf-8")
    texts = [
        "passage: " + t
        for d in read_documents([corpus])
        for t in prepare(d, ChunkerSettings()).texts
    ]
    (work / "texts.json").write_text(json.dumps(texts), "utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAGCHIPS_EMBED_CACHE": "off"}
    if args.engine:
        env["RAGCHIPS_E5_ENGINE"] = args.engine
    # Built before timing (once per machine; a first `ragchips index` would do it).
    subprocess.run(
        [sys.executable, "-m", "ragchips.cli", "index", str(corpus), "--out", str(work / "w")],
        env=env,
        check=True,
        capture_output=True,
    )
    raw_rate, pipe_rate, ratios = [], [], []
    for r in range(args.rounds):
        out = subprocess.run(
            [sys.executable, "-c", RAW, str(work / "texts.json"), str(work / "raw.npy")],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        raw = len(texts) / json.loads(out.stdout.splitlines()[-1])["seconds"]
        t = time.perf_counter()
        cmd = [sys.executable, "-m", "ragchips.cli", "index", str(corpus)]
        subprocess.run(
            [*cmd, "--out", str(work / "idx"), "--full"], env=env, check=True, capture_output=True
        )
        pipe = len(texts) / (time.perf_counter() - t)
        raw_rate.append(raw)
        pipe_rate.append(pipe)
        ratios.append(pipe / raw)
        load = os.getloadavg()[0]
        print(
            f"round {r + 1}: raw fp32 {raw:.1f}/s, ragchips index {pipe:.1f}/s, "
            f"ratio {pipe / raw:.2f} (load {load:.1f})",
            flush=True,
        )

    manifest = json.loads((work / "idx" / "manifest.json").read_text("utf-8"))
    from ragchips import Index

    idx = Index.load(work / "idx")
    vectors = np.concatenate([np.asarray(s.dense.vectors) for s in idx.segments])
    ref = np.load(work / "raw.npy")
    cos = np.sum(vectors * ref, axis=1)
    print(
        f"{len(texts)} passages from {args.paragraphs} PIAF paragraphs, engine "
        f"{manifest['embedder'].get('engine', '?')}, {os.cpu_count()} cores"
    )
    print(
        "raw fp32 sentence-transformers (load excluded): "
        f"median {statistics.median(raw_rate):.1f} passages/s"
    )
    print(f"ragchips index (load included): median {statistics.median(pipe_rate):.1f} passages/s")
    print(f"ratio (median of per-round ratios): {statistics.median(ratios):.2f}")
    print(f"cosine with fp32: min {cos.min():.4f}, mean {cos.mean():.5f}")


if __name__ == "__main__":
    main()
