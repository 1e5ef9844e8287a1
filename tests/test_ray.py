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
from test_writer import same_up_to_ties

from ragchips import Index
from ragchips.cluster import RayConfig, ray_config
from ragchips.errors import ConfigurationError, NoDocumentsError, RagchipsError

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

    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    for _ in range(2):
        c.add_node(num_cpus=1)
    c.wait_for_nodes()
    yield c
    c.shutdown()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three articles, a JSONL file and a file that is skipped: every path of the readers,
    and the doc_ids that depend on earlier files (a stem seen twice is ``stem~1``; a JSONL
    line with an id an earlier file took is skipped)."""
    folder = tmp_path_factory.mktemp("corpus")
    names = sorted(p.name for p in SEEDS.iterdir())[:3]
    for name in names:
        shutil.copy(SEEDS / name, folder / name)
    (folder / "sub").mkdir()
    shutil.copy(SEEDS / names[0], folder / "sub" / names[0])
    taken = Path(names[0]).stem
    (folder / "more.jsonl").write_text(
        '{"doc_id": "j1", "text": "La puce sera gravée par TSMC en 3 nanomètres.", "year": 2026}\n'
        "not json\n"
        f'{{"doc_id": "{taken}", "text": "Un identifiant déjà pris."}}\n'
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


@pytest.fixture(scope="module")
def built(cluster: Any, corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The corpus built locally and on the cluster, in shards of 20 passages."""
    out = tmp_path_factory.mktemp("built")
    local_skips, on_skip = _skips()
    local = Index.build([corpus], embedder=HASH, out=out / "local", on_skip=on_skip)
    ray_skips, on_skip = _skips()
    config = RayConfig(address=cluster.address, batch_passages=8, shard_passages=20)
    done: list[int] = []
    index = Index.build(
        [corpus], embedder=HASH, out=out / "ray", on_skip=on_skip, ray=config,
        progress=lambda n, total: done.append(n),
    )  # fmt: skip
    return {"local": local, "ray": index, "skips": (local_skips, ray_skips), "done": done}


def test_ray_build_equals_local_build(built: dict[str, Any]) -> None:
    """Same documents, passages, spans, vectors and skipped files; the shards were written
    as they arrived (several segments), the search results are the same."""
    local, index = built["local"], built["ray"]
    local_skips, ray_skips = built["skips"]
    assert sorted(ray_skips) == sorted(local_skips) and len(local_skips) == 3
    counts = index.manifest["counts"]
    assert counts == {**local.manifest["counts"], "segments": counts["segments"]}
    assert counts["segments"] >= 2 and local.manifest["counts"]["segments"] == 1
    assert built["done"][-1] == len(local)
    assert _passages(index) == _passages(local)
    a, b = _vectors(local), _vectors(index)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    for q in ("qui grave la puce ?", "Broadcom"):
        # Equal up to ties: two copies of one text in different segments may differ by a
        # rounding unit of a cosine (BLAS sums a product in an order that depends on shape).
        ranked = [
            [(p.doc_id, p.start, p.end, round(p.score, 5)) for p in i.search(q, k=5)]
            for i in (index, local)
        ]
        assert same_up_to_ties([ranked[0]], [ranked[1]]), ranked


def test_incremental_update_through_the_cli(
    cluster: Any, corpus: Path, built: dict[str, Any], tmp_path: Path
) -> None:
    """``ragchips index ... --ray auto`` over an index: only the new and the changed
    documents are embedded (they alone get new passage ids). One new file holds the text of
    an indexed one under a new doc_id (``stem~1``): embedded too, in a second small job."""
    docs, out = tmp_path / "docs", tmp_path / "index"
    shutil.copytree(corpus, docs)
    shutil.copytree(built["ray"].path, out)
    articles = sorted(docs.glob("*.txt"))
    changed, gone, same = articles[0], articles[1], articles[2]
    changed.write_text(changed.read_text("utf-8") + "\n\nUn paragraphe ajouté.\n", "utf-8")
    gone.unlink()
    (docs / "new.md").write_text("# Nouveau\n\nOpenAI teste sa puce en 2026.\n", "utf-8")
    (docs / "sub2").mkdir()
    shutil.copy(same, docs / "sub2" / same.name)
    cmd = [sys.executable, "-m", "ragchips.cli", "index", str(docs), "--out", str(out)]
    # --prune: the copy dropped a file the original corpus still holds.
    cmd += ["--embedder", HASH, "--ray", "auto", "--no-progress", "--prune"]
    # "auto" is the cluster this machine belongs to; Ray finds it in RAY_ADDRESS first.
    env = {**os.environ, "RAY_ADDRESS": cluster.address}
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode == 0, run.stderr
    assert "(added 2, updated 1, removed 1, kept 4)" in run.stdout
    index = Index.load(out)
    first_new = built["ray"].manifest["next_passage_id"]
    embedded = {p.doc_id for p in index.passages if p.passage_id >= first_new}
    assert embedded == {changed.stem, "new", f"{same.stem}~1"}
    local = Index.build([docs], embedder=HASH, out=tmp_path / "local")
    assert _passages(index) == _passages(local)
    a, b = _vectors(local), _vectors(index)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_an_update_naming_one_new_file_is_refused_on_ray_too(
    cluster: Any, corpus: Path, built: dict[str, Any], tmp_path: Path
) -> None:
    """Without --prune, the documents whose files still exist elsewhere are not removed:
    the Ray path refuses before the manifest is replaced, as the local one does."""
    out = tmp_path / "index"
    shutil.copytree(built["ray"].path, out)
    manifest = (out / "manifest.json").read_bytes()
    (tmp_path / "new.md").write_text("# Nouveau\n\nOpenAI teste sa puce en 2026.\n", "utf-8")
    cmd = [sys.executable, "-m", "ragchips.cli", "index", str(tmp_path / "new.md")]
    cmd += ["--out", str(out), "--embedder", HASH, "--ray", "auto", "--no-progress"]
    env = {**os.environ, "RAY_ADDRESS": cluster.address}
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode != 0 and "Traceback" not in run.stderr
    assert "--prune" in run.stderr.strip().splitlines()[-1]
    assert (out / "manifest.json").read_bytes() == manifest
    assert len(Index.load(out)._doc_hashes()) == len(built["ray"]._doc_hashes())


def test_documents_no_reader_reads_now_are_kept_on_ray_too(cluster: Any, tmp_path: Path) -> None:
    """A format read once by a reader this environment no longer has: its documents are
    kept by a Ray update, as by a local one (tests/test_reader_plugins.py)."""
    from ragchips.readers.base import Extracted, register, unregister

    class Csv:
        name, suffixes = "csv-test", (".csv",)

        def read(self, path: Path, data: bytes) -> Extracted:
            return Extracted("Lyon est une ville de France.")

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "villes.csv").write_text("ville,pays\nLyon,France\n", "utf-8")
    (docs / "ok.txt").write_text("Le chat dort sur le tapis du salon.", "utf-8")
    register(Csv())
    try:
        Index.sync([docs], tmp_path / "i", embedder=HASH)
    finally:
        unregister(".csv")
    (docs / "new.txt").write_text("Le chien garde la maison.", "utf-8")
    (docs / "sub").mkdir()  # a file of the same name may not take the unread one's doc_id
    (docs / "sub" / "villes.txt").write_text("Paris est la capitale.", "utf-8")
    config = RayConfig(address=cluster.address)
    index, report = Index.sync([docs], tmp_path / "i", embedder=HASH, ray=config)
    assert report.removed == [] and report.unread == ["villes"] and report.updated == []
    assert sorted(report.added) == ["new", "villes~1"]
    assert report.kept == 2 and index.document("villes").text.startswith("Lyon")


def test_a_moved_collection_records_its_new_paths_on_ray_too(cluster: Any, tmp_path: Path) -> None:
    coll, out = tmp_path / "coll", tmp_path / "i"
    coll.mkdir()
    for name in ("velo", "train"):
        (coll / f"{name}.txt").write_text(f"Le {name} est un moyen de transport.", "utf-8")
    Index.sync([coll], out, embedder=HASH)
    moved = coll.rename(tmp_path / "coll2")
    config = RayConfig(address=cluster.address)
    index, report = Index.sync([moved], out, embedder=HASH, ray=config, prune=False)
    assert sorted(report.updated) == ["train", "velo"] and report.removed == []
    assert {p.source for p in index.passages} == {str(moved / "train.txt"), str(moved / "velo.txt")}


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


def test_unreachable_cluster_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ragchips.cli import main

    code = main(["index", str(SEEDS), "--out", str(tmp_path / "x"), "--ray", "127.0.0.1:9"])
    err = capsys.readouterr().err.strip()
    assert code != 0 and len(err.splitlines()) == 1
    assert "cannot reach the Ray cluster at 127.0.0.1:9" in err
    assert not (tmp_path / "x" / "manifest.json").exists()


def test_worker_without_ragchips_is_one_line(
    cluster: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker whose Python finds no ragchips (here a package of that name that cannot be
    imported shadows it) is named before anything is read or embedded."""
    monkeypatch.chdir(tmp_path)  # Ray puts the driver's folder on the workers' path
    stub = tmp_path / "stub" / "ragchips"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'ragchips'\", name='ragchips')\n"
    )
    env = {"env_vars": {"PYTHONPATH": str(stub.parent)}}
    config = RayConfig(address=cluster.address, runtime_env=env)
    with pytest.raises(RagchipsError, match=r"cannot import ragchips .*install 'ragchips\[ray\]'"):
        Index.build([SEEDS], embedder=HASH, out=tmp_path / "x", ray=config)
    assert not (tmp_path / "x" / "manifest.json").exists()


def test_bad_ray_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from ragchips.cli import main

    with pytest.raises(ConfigurationError):
        RayConfig(workers=0)
    with pytest.raises(ConfigurationError):
        ray_config(3)  # type: ignore[arg-type]
    assert ray_config(None) is None and ray_config("auto") == RayConfig(address="auto")
    code = main(["index", str(SEEDS), "--out", str(tmp_path / "x"), "--ray-workers", "2"])
    assert code != 0 and "--ray-workers needs --ray" in capsys.readouterr().err
    code = main(["index", str(SEEDS), "--out", str(tmp_path / "x"), "--ray", "nowhere"])
    assert code != 0 and "bad Ray address 'nowhere'" in capsys.readouterr().err
    (tmp_path / "none").mkdir()  # nothing to read: said before any cluster is contacted
    with pytest.raises(NoDocumentsError, match="no readable text to index"):
        Index.build([tmp_path / "none"], embedder=HASH, ray="127.0.0.1:9")


def test_ray_is_not_imported_without_ray(tmp_path: Path) -> None:
    code = (
        "import sys; from ragchips import Index; from ragchips.cli import main; "
        f"main(['index', {str(SEEDS)!r}, '--out', {str(tmp_path / 'x')!r}, "
        "'--embedder', 'hash-8']); "
        "assert 'ray' not in sys.modules, 'ray imported'"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
