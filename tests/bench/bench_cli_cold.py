"""Cold ``ask`` of two checkouts, interleaved run by run so machine load hits both alike.

    python tests/bench/bench_cli_cold.py BASE_CHECKOUT [--runs 9]

Runs ``ask "question"`` in fresh processes with PYTHONPATH set to BASE_CHECKOUT, then to
this checkout, alternately; prints median and min wall and CPU time of each. Asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def once(checkout: Path, question: str) -> tuple[float, float]:
    """(wall, CPU) seconds of one fresh ``ask``; CPU time suffers less from a busy machine."""
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    t, c = time.perf_counter(), _cpu()
    subprocess.run([str(BIN / "ask"), question], check=True, capture_output=True, env=env)
    return time.perf_counter() - t, _cpu() - c


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("base", type=Path)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--question", default="qui fabrique la puce ?")
    args = parser.parse_args()
    times: dict[str, list[tuple[float, float]]] = {"base": [], "this": []}
    once(HERE, args.question)  # warm the OS file cache for both
    once(args.base, args.question)
    for _ in range(args.runs):
        times["base"].append(once(args.base, args.question))
        times["this"].append(once(HERE, args.question))
    for name, ts in times.items():
        wall = [w for w, _ in ts]
        cpu = [c for _, c in ts]
        print(
            f"{name}: wall median {statistics.median(wall):.3f} s (min {min(wall):.3f}), "
            f"CPU median {statistics.median(cpu):.3f} s (min {min(cpu):.3f}), "
            f"{len(ts)} fresh processes"
        )


if __name__ == "__main__":
    main()
