"""Index folders that never corrupt, never execute code, and change in one atomic step.

Layout of ``indexes/NAME/``::

    manifest.json     what the index is; its segments and state, with every file's size
                      and sha256; swapped by one atomic rename
    seg-NNNNNN/       immutable segments (see :mod:`ragchips.segments`)
    state-NNNNNN/     the generation's deletions and live moments (small files)
    writer.lock       held (flock) by the one process that writes

A write puts new segments and a new state folder next to the old ones, flushes them, then
replaces ``manifest.json`` with one rename: a crash at any moment (SIGKILL included) leaves
the previous manifest, which names only complete folders. Folders no manifest names are
removed after the swap; a reader that raced it reads the new manifest again. The lock is an
``flock``: the kernel releases it when its holder dies, so a killed writer never leaves
the index locked. Loading checks the manifest and every file's size; the full sha256 of
every file is checked by ``ragchips verify`` and for each file right after it is written.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from .errors import ConfigurationError, CorruptIndexError, IndexLockedError, IndexNotFoundError

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "check_out_folder",
    "check_sizes",
    "file_table",
    "foreign_manifest",
    "load_consistent",
    "named_folders",
    "read_manifest",
    "replace_manifest",
    "sha256_file",
    "update_manifest",
    "writer_lock",
    "written_by_an_index",
]

FORMAT = "ragchips-index"
FORMAT_VERSION = 2
MANIFEST = "manifest.json"
LOCK = "writer.lock"
SMALL_FILE = 16 * 1024

T = TypeVar("T")


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fsync_dir(path: Path) -> None:
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


def file_table(folder: Path) -> dict[str, dict[str, Any]]:
    """Size and sha256 of every file under ``folder``, each flushed to disk first."""
    table = {}
    for f in sorted(p for p in folder.rglob("*") if p.is_file()):
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())
        table[f.relative_to(folder).as_posix()] = {
            "sha256": sha256_file(f),
            "size": f.stat().st_size,
        }
    for d in sorted({p.parent for p in folder.rglob("*")} | {folder}):
        fsync_dir(d)
    return table


def new_folder(directory: Path) -> Path:
    """A private temporary folder inside the index, renamed into place when complete."""
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=directory))
    os.chmod(tmp, 0o777 & ~_umask())
    return tmp


@contextmanager
def writer_lock(directory: Path, wait: float = 0.0) -> Iterator[None]:
    """Hold the index's writer lock; wait up to ``wait`` seconds for another writer."""
    directory.mkdir(parents=True, exist_ok=True)
    # Never through a link: the lock file is truncated and written, and an index folder
    # received from elsewhere could point it at ~/.bashrc.
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(directory / LOCK, flags, 0o666 & ~_umask())
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        raise CorruptIndexError(
            f"{directory / LOCK} is a symbolic link, not the index's lock file: remove it"
        ) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise CorruptIndexError(f"{directory / LOCK} is not a regular file: remove it")
    try:
        deadline = time.monotonic() + max(0.0, wait)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "?"
                    # 'ragchips index' has --wait; compact and calibrate have waited wait s.
                    advice = "or pass --wait SECONDS" if wait <= 0 else f"waited {wait:g} s"
                    raise IndexLockedError(
                        f"{directory}: another writer ({holder}) is updating this index; "
                        f"try again when it has finished ({advice})"
                    ) from None
                time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} since {time.strftime('%H:%M:%S')}".encode(), 0)
        yield
    finally:
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def replace_manifest(
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
    fsync_dir(directory)


def collect_garbage(directory: Path, manifest: dict[str, Any]) -> None:
    """Remove folders the manifest does not name (old segments and states, crashed tmps)."""
    keep = named_folders(manifest)
    now = time.time()
    for child in directory.iterdir():
        name = child.name
        try:
            if (
                written_by_an_index(name)
                and name.startswith(("seg-", "state-", "g-"))
                and (name not in keep and child.is_dir())
            ):
                if name.startswith("seg-") and _leased(child):
                    continue  # a reader still answers from it: removed at a later write
                shutil.rmtree(child, ignore_errors=True)
            elif name.startswith((".tmp-", ".manifest-")) and now - child.stat().st_mtime > 3600:
                # Left by a crashed writer; a running writer holds the lock, so under the
                # lock any temporary folder is a dead writer's, but age keeps this cautious.
                if child.is_dir():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
        except OSError:
            continue


def _leased(folder: Path) -> bool:
    """Whether some open reader holds a shared lease on this segment."""
    try:
        fd = os.open(folder / "meta.json", os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def remove_stale_temporaries(directory: Path) -> None:
    """Under the writer lock, every temporary folder belongs to a dead writer."""
    for child in directory.iterdir():
        if child.name.startswith(".tmp-") and child.is_dir():
            shutil.rmtree(child, ignore_errors=True)
        elif child.name.startswith(".manifest-"):
            child.unlink(missing_ok=True)


def written_by_an_index(name: str) -> bool:
    """A name an index (or its interrupted first write) puts in its folder."""
    if name in (MANIFEST, LOCK) or name.startswith((".tmp-", ".manifest-")):
        return True
    prefix, _, number = name.partition("-")
    if prefix == "g":  # a format-1 generation (g-<16 hex digits>)
        return len(number) == 16 and all(c in "0123456789abcdef" for c in number)
    # Six digits or more: the counter passes 999,999 after about half a million commits.
    return prefix in ("seg", "state") and len(number) >= 6 and number.isdigit()


def _left_alone(name: str) -> bool:
    """A name a writer neither writes nor removes, harmless in an empty folder: hidden
    files (".DS_Store", ".gitkeep") and a mount point's "lost+found"."""
    return name == "lost+found" or (name.startswith(".") and not written_by_an_index(name))


def check_out_folder(directory: Path) -> None:
    """Refuse to write an index over a file or into another program's folder.

    Writing removes the ``seg-``/``state-`` folders no manifest names and replaces
    ``manifest.json``: in a folder that is not an index's, that would delete or overwrite
    someone's files. A folder is an index's when its manifest says so, or (a first write
    that was interrupted, a manifest damaged) when it holds only names an index writes."""
    if not directory.exists():
        if directory.is_symlink():
            raise ConfigurationError(f"{directory} is a link to nothing: give the index a folder")
        return
    if not directory.is_dir():
        raise ConfigurationError(f"{directory} is a file: give the index a folder")
    try:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        manifest = None  # none, or damaged: the names in the folder decide
    if isinstance(manifest, dict) and manifest.get("format") == FORMAT:
        return
    if manifest is not None:
        raise ConfigurationError(
            f"{directory} is not a ragchips index ({MANIFEST} is another program's): "
            "give the index a new or empty folder"
        )
    foreign = sorted(
        c.name
        for c in directory.iterdir()
        if not written_by_an_index(c.name) and not _left_alone(c.name)
    )
    if foreign:
        shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
        raise ConfigurationError(
            f"{directory} is not a ragchips index and holds other files ({shown}): "
            "give the index a new or empty folder"
        )


def update_manifest(directory: Path, updates: dict[str, Any]) -> dict[str, Any]:
    """Change manifest fields (not the data files) under the writer lock."""
    with writer_lock(directory, wait=10.0):
        manifest = read_manifest(directory)
        manifest.update(updates)
        replace_manifest(directory, manifest)
    return manifest


def foreign_manifest(directory: Path) -> IndexNotFoundError:
    """The error for a folder holding another program's manifest.json (a web app's): not a
    damaged index, none at all."""
    return IndexNotFoundError(
        f"{directory} is not a ragchips index ({MANIFEST} is another program's)"
    )


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
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        # RecursionError: a manifest of 100,000 nested "[" (json has no depth limit).
        raise CorruptIndexError(f"{path}: unreadable manifest ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise foreign_manifest(directory)
    version = manifest.get("version")
    if version == 1:
        raise CorruptIndexError(
            f"{directory}: index format 1 (ragchips 0.1); upgrade it in place, without "
            f"embedding anything again, with 'ragchips upgrade {directory}'"
        )
    if version != FORMAT_VERSION:
        raise CorruptIndexError(
            f"{path}: index format version {version!r}, this ragchips reads version "
            f"{FORMAT_VERSION}; rebuild the index"
        )
    for key in ("segments", "embedder", "generation"):
        if key not in manifest:
            raise CorruptIndexError(f"{path}: manifest has no {key!r}")
    if not isinstance(manifest["segments"], list):
        raise CorruptIndexError(f"{path}: manifest's segments are malformed")
    for i, seg in enumerate(manifest["segments"]):
        if not (
            _names_files(seg)
            and all(type(seg[k]) is int and seg[k] >= 0 for k in ("docs", "rows") if k in seg)
        ):
            raise CorruptIndexError(
                f"{path}: manifest's segment {i} is malformed; rebuild the index"
            )
    if manifest.get("state") is not None and not _names_files(manifest["state"]):
        raise CorruptIndexError(f"{path}: manifest's state is malformed; rebuild the index")
    return manifest


def _names_files(entry: Any) -> bool:
    """Whether a manifest entry has a folder ``name`` and its ``files``."""
    return (
        isinstance(entry, dict)
        and isinstance(entry.get("name"), str)
        and isinstance(entry.get("files"), dict)
    )


def named_folders(manifest: dict[str, Any]) -> set[str]:
    """The segment and state folders a manifest names: what the index is made of now."""
    keep = {s["name"] for s in manifest.get("segments", [])}
    if manifest.get("state"):
        keep.add(manifest["state"]["name"])
    return keep


def _folders(manifest: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for seg in manifest["segments"]:
        yield seg["name"], seg["files"]
    if manifest.get("state"):
        yield manifest["state"]["name"], manifest["state"]["files"]


def check_sizes(directory: Path, manifest: dict[str, Any], hashes: bool = False) -> None:
    """Every listed file exists with its size (and, with ``hashes``, its sha256)."""
    for name, files in _folders(manifest):
        if not isinstance(name, str) or "/" in name or name.startswith(".") or not name:
            raise CorruptIndexError(f"{directory}: invalid folder name {name!r} in manifest")
        if not isinstance(files, dict) or not files:
            raise CorruptIndexError(f"{directory}: manifest lists no files for {name}")
        for rel, meta in files.items():
            if ".." in Path(rel).parts or Path(rel).is_absolute():
                raise CorruptIndexError(f"{directory}: invalid file name {rel!r} in manifest")
            path = directory / name / rel
            if not path.is_file():
                raise FileNotFoundError(str(path))
            size = path.stat().st_size
            if size != meta.get("size"):
                raise CorruptIndexError(
                    f"{path}: size {size} bytes, manifest says {meta.get('size')} "
                    "(truncated or modified); rebuild the index"
                )
            # Small files (manifests of segments, vocabularies of small ones) are cheap
            # to hash on every load; large ones only when asked (ragchips verify).
            if (hashes or size <= SMALL_FILE) and sha256_file(path) != meta.get("sha256"):
                raise CorruptIndexError(
                    f"{path}: content does not match its sha256 in the manifest "
                    "(modified or corrupted); rebuild the index"
                )


def load_consistent(directory: Path, load: Callable[[dict[str, Any]], T]) -> T:
    """Run ``load(manifest)``, reading the manifest again if a write replaced it meanwhile."""
    # A writer that commits very often can replace the files a reader is about to open,
    # several times in a row; the reader keeps up by reading the manifest again.
    deadline = time.monotonic() + 30
    while True:
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
            if time.monotonic() > deadline:
                raise CorruptIndexError(
                    f"{directory}: the index keeps changing while being read"
                ) from exc
