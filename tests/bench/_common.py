"""What the benchmark scripts share: the questions they ask, a percentile, and indexing a
folder with the real CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
QUESTIONS = [
    json.loads(line)["question"]
    for line in (ROOT / "tests" / "data" / "seeds_gold.jsonl").read_text("utf-8").splitlines()
    if line.strip()
]


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile (0-1) of ``values``, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def index_with_cli(corpus: Path, index_dir: Path) -> Any:
    """``ragchips index CORPUS --out INDEX_DIR`` as a user runs it (automatic ``found``
    calibration included), then the index opened."""
    from ragchips import open_index

    cli = Path(sys.executable).parent / "ragchips"
    subprocess.run([str(cli), "index", str(corpus), "--out", str(index_dir)], check=True)
    return open_index(index_dir)
