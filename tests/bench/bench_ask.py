"""Speed of the query path and of indexing, on this machine. Prints numbers; asserts nothing.

.venv/bin/python tests/bench/bench_ask.py            # cold ask, warm ask(), seeds build
.venv/bin/python tests/bench/bench_ask.py --no-build # skip the index build
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import QUESTIONS, ROOT, pct  # tests/bench is sys.path[0] for a script

BIN = Path(sys.executable).parent


def cold_ask(runs: int) -> list[float]:
    exe = shutil.which("ask", path=str(BIN))
    times = []
    for i in range(runs):
        t = time.perf_counter()
        subprocess.run([exe, QUESTIONS[i % len(QUESTIONS)]], check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    return times


def warm_ask(rounds: int) -> list[float]:
    from ragchips import ask

    ask("préchauffage")
    times = []
    for _ in range(rounds):
        for q in QUESTIONS:
            t = time.perf_counter()
            ask(q)
            times.append(time.perf_counter() - t)
    return times


def build_seeds() -> float:
    from ragchips import Index

    os.environ["RAGCHIPS_EMBED_CACHE"] = "off"  # embed every passage, as a first build does
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        Index.build([ROOT / "seeds"], out=Path(tmp) / "seeds")
        return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cold-runs", type=int, default=10)
    parser.add_argument("--warm-rounds", type=int, default=4)
    parser.add_argument("--no-build", action="store_true")
    args = parser.parse_args()

    cold = cold_ask(args.cold_runs)
    print(
        f"cold `ask` (fresh process, {len(cold)} runs): median {statistics.median(cold):.3f} s, "
        f"min {min(cold):.3f} s, max {max(cold):.3f} s"
    )
    warm = [t * 1000 for t in warm_ask(args.warm_rounds)]
    print(
        f"warm ask() ({len(warm)} questions): median {statistics.median(warm):.1f} ms, "
        f"p95 {pct(warm, 0.95):.1f} ms"
    )
    if not args.no_build:
        print(
            f"index build of seeds/ (default embedder, model load included): {build_seeds():.1f} s"
        )


if __name__ == "__main__":
    main()
