"""Indexing on Ray: passages/s with 1 and 2 worker nodes, and what Ray itself costs.

The corpus: the first paragraphs of the PIAF dev corpus (../shared/eval/piaf), embedded by
the real e5-small bulk embedder (sentence-transformers, fp32). Each Ray cluster is real and
on this machine (``ray.cluster_utils.Cluster``): a head node without CPUs and 1 or 2 worker
nodes of one CPU each, so one embedder replica per node, one torch thread each. The local
reference is an ordinary build in this process with one torch thread (what one replica
has), the model already loaded.

Every configuration builds two corpora, ``--docs`` paragraphs and three times as many.
The difference gives the rate at which passages are embedded once everything runs (what a
large collection sees: passages/s), and what is left of the small build's time is the fixed
cost of a build (for Ray: connecting, the workers' check, starting the replicas, loading the
model in each, and draining the pipeline). ``--repeat`` rounds, medians printed. The machine
is shared and noisy: compare rows of one run (the last column), not runs.
Run: ``python tests/bench/bench_ray.py [--docs 30] [--repeat 1]``.
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


def _build(corpus: Path, out: Path, ray: Any = None) -> tuple[float, int]:
    """(wall seconds, passages) of one full build."""
    from ragchips import Index

    t0 = time.perf_counter()
    index = Index.build([corpus], out=out, ray=ray)
    wall = time.perf_counter() - t0
    n = len(index)
    index.close()
    shutil.rmtree(out, ignore_errors=True)
    return wall, n


def _cluster(nodes: int) -> Any:
    from ray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    for _ in range(nodes):
        c.add_node(num_cpus=1)
    c.wait_for_nodes()
    return c


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=30, help="PIAF paragraphs (default 30)")
    ap.add_argument("--repeat", type=int, default=1, help="rounds (default 1)")
    ap.add_argument("--nodes", type=int, nargs="+", default=[1, 2], help="worker nodes to try")
    args = ap.parse_args()
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    # The worker nodes inherit this: they import this checkout of ragchips.
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p
    )
    import torch

    from ragchips.cluster import RayConfig

    tmp = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    lines = PIAF.read_text("utf-8").splitlines()
    corpora = []
    for n in (args.docs, 3 * args.docs):
        corpora.append(tmp / f"piaf-{n}.jsonl")
        corpora[-1].write_text("\n".join(lines[:n]) + "\n", "utf-8")
    print(f"load average {os.getloadavg()[0]:.1f}", flush=True)
    torch.set_num_threads(1)
    _build(corpora[0], tmp / "warm")  # loads the model in this process (not measured)

    runs: dict[str, list[tuple[tuple[float, int], tuple[float, int]]]] = {}
    clusters = {n: _cluster(n) for n in args.nodes}
    try:
        for r in range(args.repeat):
            name = "local, 1 thread"
            runs.setdefault(name, []).append(tuple(_build(c, tmp / "l") for c in corpora))  # type: ignore[arg-type]
            for n, cl in clusters.items():
                config = RayConfig(address=cl.address, batch_passages=32)
                name = f"Ray, {n} worker node{'s' if n > 1 else ''} of 1 CPU"
                runs.setdefault(name, []).append(
                    tuple(_build(c, tmp / f"r{n}", config) for c in corpora)  # type: ignore[arg-type]
                )
            print(f"round {r + 1}/{args.repeat} done", file=sys.stderr, flush=True)
    finally:
        for cl in clusters.values():
            cl.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)

    def rate(run: tuple[tuple[float, int], tuple[float, int]]) -> float:
        (t1, n1), (t2, n2) = run
        return (n2 - n1) / (t2 - t1)

    def fixed(run: tuple[tuple[float, int], tuple[float, int]]) -> float:
        (t1, n1), _ = run
        return t1 - n1 / rate(run)

    ref = statistics.median(rate(x) for x in runs["local, 1 thread"])
    (_, n1), (_, n2) = next(iter(runs.values()))[0]
    print(f"\npassages: {n1} and {n2}; median of {args.repeat} round(s)")
    print(f"| build | time, {n1} / {n2} passages | passages/s | fixed cost | vs local |")
    print("|---|---|---|---|---|")
    for name, rs in runs.items():
        t1 = statistics.median(x[0][0] for x in rs)
        t2 = statistics.median(x[1][0] for x in rs)
        v = statistics.median(rate(x) for x in rs)
        f = statistics.median(fixed(x) for x in rs)
        print(f"| {name} | {t1:.1f} s / {t2:.1f} s | {v:.1f} | {f:.1f} s | {v / ref:.2f} |")


if __name__ == "__main__":
    main()
