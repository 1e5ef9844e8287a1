"""Indexing on Ray: passages/s with 1 and 2 worker nodes, and what Ray itself costs.

The corpus: the first ``--docs`` paragraphs of the PIAF dev corpus (../shared/eval/piaf),
embedded by the real e5-small through sentence-transformers in fp32 (forced, embedding cache
off: see main()). Each Ray cluster
is real and on this machine (``ray.cluster_utils.Cluster``): a head node without CPUs and 1
or 2 worker nodes of one CPU each, so one embedder replica per node, one torch thread each.
The local reference is an ordinary build in this process with one torch thread (what one
replica has), the model already loaded.

Two numbers per build. Wall: the whole build (for Ray: connecting, checking the workers,
starting the replicas, loading the model in each, reading, embedding, writing). Streaming:
the passages that reached the driver after its first batch, over the time from that batch to
the last one: the steady rate a large collection sees. What Ray costs is the difference of
the wall times (mostly the replicas' start) and the ratio of the streaming rates. The
machine is shared and noisy: compare rows of one run, not runs.
Run: ``python tests/bench/bench_ray.py [--docs 150] [--repeat 1]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PIAF = ROOT.parent / "shared" / "eval" / "piaf" / "corpus.jsonl"


def _build(corpus: Path, out: Path, ray: Any = None) -> tuple[float, float, int]:
    """(wall seconds, streaming passages/s, passages) of one full build."""
    from ragchips import Index

    stamps: list[tuple[float, int]] = []
    t0 = time.perf_counter()
    index = Index.build(
        [corpus],
        out=out,
        ray=ray,
        progress=lambda n, total: stamps.append((time.perf_counter(), n)),
    )
    wall = time.perf_counter() - t0
    n = len(index)
    index.close()
    shutil.rmtree(out, ignore_errors=True)
    # A batch reports its passages at once (a Ray batch: one call per document): the first
    # batch is every report within 0.2 s of the first one.
    first_t, first_n = [s for s in stamps if s[0] - stamps[0][0] < 0.2][-1]
    last_t, last_n = stamps[-1]
    rate = (last_n - first_n) / (last_t - first_t) if last_t > first_t else float("nan")
    return wall, rate, n


def _cluster(nodes: int) -> Any:
    from ray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    for _ in range(nodes):
        c.add_node(num_cpus=1)
    c.wait_for_nodes()
    return c


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=150, help="PIAF paragraphs (default 150)")
    ap.add_argument("--repeat", type=int, default=1, help="rounds (default 1)")
    ap.add_argument("--nodes", type=int, nargs="+", default=[1, 2], help="worker nodes to try")
    args = ap.parse_args()
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    # Every passage embedded for real, by torch on one thread per replica as the docstring
    # says (the worker nodes inherit both): no embedding cache, not the ONNX engine, whose
    # threads follow the machine's cores rather than a node's CPUs.
    os.environ["RAGCHIPS_EMBED_CACHE"] = "off"
    os.environ["RAGCHIPS_E5_ENGINE"] = "sentence-transformers"
    # The worker nodes inherit this: they import this checkout of ragchips.
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p
    )
    import torch

    from ragchips.cluster import RayConfig

    tmp = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    corpus = tmp / "piaf.jsonl"
    lines = PIAF.read_text("utf-8").splitlines()[: args.docs]
    corpus.write_text("\n".join(lines) + "\n", "utf-8")
    print(f"load average {os.getloadavg()[0]:.1f}", flush=True)
    torch.set_num_threads(1)
    _build(corpus, tmp / "warm")  # loads the model in this process (not measured)

    results: dict[str, list[tuple[float, float, int]]] = {}
    clusters = {n: _cluster(n) for n in args.nodes}
    try:
        for r in range(args.repeat):
            results.setdefault("local, 1 thread", []).append(_build(corpus, tmp / "l"))
            for n, c in clusters.items():
                config = RayConfig(address=c.address, batch_passages=32)
                name = f"Ray, {n} worker node{'s' if n > 1 else ''} of 1 CPU"
                results.setdefault(name, []).append(_build(corpus, tmp / f"r{n}", config))
            print(f"round {r + 1}/{args.repeat} done", file=sys.stderr, flush=True)
    finally:
        for c in clusters.values():
            c.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)

    ref = results["local, 1 thread"]
    ref_wall = statistics.median(x[0] for x in ref)
    ref_rate = statistics.median(x[1] for x in ref)
    n = ref[0][2]
    print(f"\n{n} passages ({args.docs} PIAF paragraphs); median of {args.repeat} round(s)")
    print("| build | wall time | passages/s, wall | passages/s, streaming | vs local |")
    print("|---|---|---|---|---|")
    for name, runs in results.items():
        wall = statistics.median(x[0] for x in runs)
        rate = statistics.median(x[1] for x in runs)
        extra = f" ({wall - ref_wall:+.1f} s)" if runs is not ref else ""
        print(
            f"| {name} | {wall:.1f} s{extra} | {n / wall:.1f} | {rate:.1f} "
            f"| {rate / ref_rate:.2f} |"
        )


if __name__ == "__main__":
    main()
