"""The first question of a fresh process: how long embedding it takes, the embedder check
included (a weights sha256 comparison, or the probe vector embedded again). Prints numbers;
asserts nothing.

.venv/bin/python tests/bench/bench_first_query.py            # 5 fresh processes
.venv/bin/python tests/bench/bench_first_query.py --runs 9
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

from _common import ROOT  # tests/bench is sys.path[0] for a script

CHILD = """
import sys, time
from ragchips import Index
idx = Index.load(sys.argv[1])
t = time.perf_counter()
idx.embed_query("Qui fabrique la puce ?")
print(time.perf_counter() - t)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--index", default=str(ROOT / "indexes" / "seeds"))
    args = parser.parse_args()
    times = []
    for _ in range(args.runs + 1):  # the first run may hash the weights once: dropped
        out = subprocess.run(
            [sys.executable, "-c", CHILD, args.index],
            check=True,
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=120,
        )
        times.append(float(out.stdout.split()[-1]) * 1000)
    kept = times[1:]
    print(
        f"first embed_query after Index.load: median {statistics.median(kept):.1f} ms "
        f"(runs: {', '.join(f'{t:.1f}' for t in kept)})"
    )


if __name__ == "__main__":
    main()
