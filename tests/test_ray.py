"""Builds on a real Ray cluster on this machine: a head node without CPUs and two worker
nodes of one CPU each (``ray.cluster_utils.Cluster``, separate processes), started once
for this module. Each build connects to it by address, like ``--ray ADDRESS``."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ragchips import Index
from ragchips.cluster import RayConfig, ray_config
from ragchips.errors import ConfigurationError, RagchipsError

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
HASH = "hash-64"

pytest.importorskip("ray")


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """The worker nodes inherit this environment: they find this checkout of ragchips."""
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    path = os.environ.get("PYTHONPATH", "")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), path) if p)
    from ray.cluster_utils import Cluster

    c = Cluster(
        initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False}
    )
    for _ in range(2):
        c.add_node(num_cpus=1)
    c.wait_for_nodes()
    yield c
    c.shutdown()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three articles, a JSONL file and a file that is skipped: every path of the readers."""
    folder = tmp_path_factory.mktemp("corpus")
    for name in sorted(p.name for p in SEEDS.iterdir())[:3]:
        shutil.copy(SEEDS / name, folder / name)
    (folder / "more.jsonl").write_text(
        '{"doc_id": "j1", "text": "La puce sera gravée par TSMC en 3 nanomètres.", "year": 2026}\n'
        "not json\n"
        '{"doc_id": "j2", "text": "Broadcom aide OpenAI à concevoir son accélérateur."}\n',
        "utf-8",
    )
    (folder / "empty.txt").write_text("  \n", "utf-8")
    return folder


def _skips() -> tuple[list[tuple[str, str]], Any]:
    seen: list[tuple[str, str]] = []
    return seen, lambda path, reason: seen.append((path, str(reason)))


def _passages(index: Index) -> list[tuple[str, int, int, str]]:
    return sorted((p.doc_id, p.start, p.end, p.text) for p in index.passages)


def _vectors(index: Index) -> dict[tuple[str, int, int], np.ndarray]:
    """Every live passage's vector, by (doc_id, start, end)."""
    out = {}
    for seg, mask in zip(index.segments, index._alive):
        for r in range(seg.n_rows) if mask is None else np.flatnonzero(mask):
            d, a, b = (int(x) for x in seg.rows[r])
            out[(seg.doc(d)["doc_id"], a, b)] = np.asarray(seg.dense.vectors[r])
    return out


def test_ray_build_equals_local_build(cluster: Any, corpus: Path, tmp_path: Path) -> None:
    """Same documents, passages, spans and skipped files; shards of 20 passages written as
    they arrive (several segments), the same search results."""
    local_skips, on_skip = _skips()
    local = Index.build([corpus], embedder=HASH, out=tmp_path / "local", on_skip=on_skip)
    ray_skips, on_skip = _skips()
    config = RayConfig(address=cluster.address, batch_passages=8, shard_passages=20)
    built = Index.build([corpus], embedder=HASH, out=tmp_path / "ray", on_skip=on_skip, ray=config)
    assert sorted(ray_skips) == sorted(local_skips) and len(local_skips) == 2
    counts = built.manifest["counts"]
    assert counts == {**local.manifest["counts"], "segments": counts["segments"]}
    assert counts["segments"] >= 2 and local.manifest["counts"]["segments"] == 1
    assert _passages(built) == _passages(local)
    a, b = _vectors(local), _vectors(built)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    for q in ("qui grave la puce ?", "Broadcom"):
        assert [p.doc_id for p in built.search(q, k=5)] == [p.doc_id for p in local.search(q, k=5)]


def _replicas() -> list[int]:
    """Process ids of the embedder replicas (Ray names its worker processes by their actor)."""
    import psutil

    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if "MapWorker(MapBatches(EmbedReplica))" in cmd:
            found.append(proc.pid)
    return found


@pytest.mark.slow
def test_real_model_and_a_killed_worker(cluster: Any, tmp_path: Path) -> None:
    """The real e5 model: one replica process is killed (SIGKILL) as soon as the first
    batch arrives; Ray retries its batches on a restarted replica, and the index is the local
    build's: the same passages and spans, no passage lost or twice, cosine >= 0.9999."""
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(min(SEEDS.iterdir(), key=lambda p: p.stat().st_size), docs)
    local = Index.build([docs], out=tmp_path / "local")
    killed: list[int] = []

    def progress(done: int, total: int) -> None:
        if not killed:
            pids = _replicas()
            assert pids
            os.kill(pids[0], signal.SIGKILL)
            killed.append(pids[0])

    config = RayConfig(address=cluster.address, batch_passages=2)
    built = Index.build([docs], out=tmp_path / "ray", ray=config, progress=progress)
    assert killed and killed[0] not in _replicas()
    assert _passages(built) == _passages(local)
    assert len(built) == len(local) == len({p.passage_id for p in built.passages})
    a, b = _vectors(local), _vectors(built)
    assert a.keys() == b.keys()
    cosines = [float(np.dot(a[k], b[k])) for k in a]
    assert min(cosines) >= 0.9999, min(cosines)
