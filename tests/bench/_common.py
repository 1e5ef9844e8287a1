"""What the benchmark scripts share: the questions they ask and a percentile."""

from __future__ import annotations

import json
from pathlib import Path

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
