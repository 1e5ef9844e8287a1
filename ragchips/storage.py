"""Index files on disk that never corrupt, never execute code, and are checked on load.

Layout of ``indexes/NAME/``::

    manifest.json        what the index is, and the sha256 and size of every data file
    g-<hash>/            one generation of data files (documents.jsonl, passages.npy,
                         dense.faiss, lexical/...)

A save writes a whole new generation folder, flushes it, then replaces ``manifest.json``
with one atomic rename: a crash at any point leaves the previous manifest and its
generation intact. Readers that raced a save (manifest read, old generation deleted) just
read the new manifest again. Only JSON, ``.npy`` without pickle and FAISS's own format
are used: loading an index can never run code.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from .errors import CorruptIndexError, IndexNotFoundError

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "read_manifest",
    "sha256_file",
    "update_manifest",
    "verify_files",
    "write_generation",
]

FORMAT = "ragchips-index"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"

T = TypeVar("T")


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _file_table(folder: Path) -> dict[str, dict[str, Any]]:
    table = {}
    for f in sorted(p for p in folder.rglob("*") if p.is_file()):
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())
        table[f.relative_to(folder).as_posix()] = {
            "sha256": sha256_file(f),
            "size": f.stat().st_size,
        }
    return table


def write_generation(
    directory: Path, write_files: Callable[[Path], None], manifest: dict[str, Any]
) -> dict[str, Any]:
    """Write a new generation with ``write_files(folder)`` and switch the manifest to it."""
    directory.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=directory))
    mask = _umask()
    os.chmod(tmp, 0o777 & ~mask)
    try:
        write_files(tmp)
        files = _file_table(tmp)
        digest = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()
        generation = f"g-{digest[:16]}"
        final = directory / generation
        if final.exists():
            shutil.rmtree(tmp)  # identical content already there
        else:
            os.replace(tmp, final)
        _fsync_dir(directory)
        full = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            **manifest,
            "generation": generation,
            "files": files,
        }
        _replace_manifest(directory, full)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    _collect_garbage(directory, keep=generation)
    return full


def update_manifest(directory: Path, updates: dict[str, Any]) -> dict[str, Any]:
    """Change manifest fields (not the data files) with one atomic rename."""
    manifest = read_manifest(directory)
    generation = manifest["generation"]
    manifest.update(updates)

    def still_current() -> None:
        if read_manifest(directory)["generation"] != generation:
            # A rebuild landed meanwhile: its manifest wins, say so.
            raise CorruptIndexError(f"{directory}: the index was rebuilt meanwhile; run again")

    _replace_manifest(directory, manifest, before_replace=still_current)
    return manifest


def _replace_manifest(
    directory: Path,
    manifest: dict[str, Any],
    before_replace: Callable[[], None] | None = None,
) -> None:
    """Write ``manifest.json`` through a flushed temporary file and one atomic rename."""
    fd, tmp = tempfile.mkstemp(prefix=".manifest-", dir=directory)
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(manifest, f, ensure_ascii=False, indent=1)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        if before_replace is not None:
            before_replace()
        os.replace(tmp, directory / MANIFEST)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(directory)


def _collect_garbage(directory: Path, keep: str) -> None:
    now = time.time()
    for child in directory.iterdir():
        if child.name.startswith("g-") and child.name != keep and child.is_dir():
            shutil.rmtree(child, ignore_errors=True)
        elif child.name.startswith((".tmp-", ".manifest-")) and now - child.stat().st_mtime > 3600:
            # Left by a crashed writer long ago; a running writer's files are recent.
            if child.is_dir():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)


def read_manifest(directory: Path) -> dict[str, Any]:
    """The manifest of the index at ``directory``, checked for format and version."""
    if not directory.exists():
        raise IndexNotFoundError(
            f"no index at {directory}: build one with 'ragchips index PATH... --out {directory}'"
        )
    path = directory / MANIFEST
    if not path.is_file():
        raise IndexNotFoundError(f"{directory} is not a ragchips index (no {MANIFEST})")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptIndexError(f"{path}: unreadable manifest ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CorruptIndexError(f"{path}: not a ragchips index manifest")
    if manifest.get("version") != FORMAT_VERSION:
        raise CorruptIndexError(
            f"{path}: index format version {manifest.get('version')!r}, this ragchips reads "
            f"version {FORMAT_VERSION}; rebuild the index"
        )
    for key in ("generation", "files", "embedder"):
        if key not in manifest:
            raise CorruptIndexError(f"{path}: manifest has no {key!r}")
    return manifest


def verify_files(directory: Path, manifest: dict[str, Any], check_hashes: bool = True) -> Path:
    """Check every data file against the manifest; return the generation folder."""
    generation = str(manifest["generation"])
    if "/" in generation or "\\" in generation or generation.startswith("."):
        raise CorruptIndexError(f"{directory}: invalid generation name {generation!r}")
    folder = directory / generation
    files = manifest["files"]
    if not isinstance(files, dict) or not files:
        raise CorruptIndexError(f"{directory}: manifest lists no data files")
    for rel, meta in files.items():
        path = folder / rel
        if ".." in Path(rel).parts:
            raise CorruptIndexError(f"{directory}: invalid file name {rel!r} in manifest")
        if not path.is_file():
            raise FileNotFoundError(str(path))
        size = path.stat().st_size
        if size != meta.get("size"):
            raise CorruptIndexError(
                f"{path}: size {size} bytes, manifest says {meta.get('size')} "
                "(truncated or modified); rebuild the index"
            )
        if check_hashes and sha256_file(path) != meta.get("sha256"):
            raise CorruptIndexError(
                f"{path}: content does not match its sha256 in the manifest "
                "(modified or corrupted); rebuild the index"
            )
    return folder


def load_consistent(directory: Path, load: Callable[[dict[str, Any]], T]) -> T:
    """Run ``load(manifest)``, reading the manifest again if a save replaced it meanwhile."""
    for _ in range(5):
        manifest = read_manifest(directory)
        try:
            return load(manifest)
        except FileNotFoundError as exc:
            try:
                again = read_manifest(directory)
            except IndexNotFoundError:
                again = manifest
            if again.get("generation") == manifest.get("generation"):
                raise CorruptIndexError(
                    f"{directory}: data file missing ({Path(str(exc)).name}); rebuild the index"
                ) from exc
    raise CorruptIndexError(f"{directory}: the index keeps changing while being read")
