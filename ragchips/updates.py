"""Changing an index from Python: build, sync, add, update, delete, compact, reload.

Why a separate module: :mod:`ragchips.index` opens and searches; this is everything that
writes, always through :func:`ragchips.writer.apply_changes` under the writer lock, so an
open :class:`~ragchips.index.Index` only ever switches between complete states.
"""

from __future__ import annotations

import itertools
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from .calibration import DEFAULT as DEFAULT_CALIBRATION
from .calibration import Calibration
from .chunking import ChunkerSettings
from .dense import DenseConfig
from .embedding import Embedder, get_embedder, probe_vector
from .errors import ConfigurationError, NoDocumentsError, RagchipsError
from .lexical import SETTINGS as LEXICAL_SETTINGS
from .maintenance import is_format_1, upgrade
from .reader import (
    NOT_A_SOURCE,
    SOURCE,
    Document,
    absolute_path,
    iter_documents,
    nothing_readable,
    split_sources,
)
from .storage import (
    check_out_folder,
    check_sizes,
    collect_garbage,
    load_consistent,
    read_manifest,
    writer_lock,
)
from .writer import ChangeReport, Prepared, apply_changes, embed_passages_of

if TYPE_CHECKING:
    from .cluster import RayConfig
    from .segments import Segment

__all__ = ["IndexUpdates"]

T = TypeVar("T", bound="IndexUpdates")


class IndexUpdates:
    """The writing half of :class:`~ragchips.index.Index` (a mixin)."""

    if TYPE_CHECKING:
        path: Path | None
        manifest: dict[str, Any]
        embedder: Embedder
        _segments: list[Segment]
        _probe_checked: bool
        _tmp: tempfile.TemporaryDirectory[str] | None

        def _open(
            self, directory: Path, manifest: dict[str, Any], reuse: dict[str, Segment] | None = None
        ) -> None: ...
        def _locate(self, doc_id: str) -> tuple[int, int] | None: ...
        def _doc_hashes(self) -> dict[str, str]: ...
        def _doc_files(self) -> dict[str, tuple[str, str]]: ...
        @classmethod
        def load(
            cls: type[T],
            path: str | os.PathLike[str] | None = None,
            *,
            embedder: str | Embedder | None = None,
            verify: bool = False,
        ) -> T: ...

    @classmethod
    def build(
        cls: type[T],
        sources: Iterable[str | os.PathLike[str] | Document],
        *,
        embedder: str | Embedder | None = None,
        chunker: ChunkerSettings | None = None,
        out: str | os.PathLike[str] | None = None,
        on_skip: Callable[[str, str], None] | None = None,
        progress: Callable[[int, int], None] | None = None,
        calibration: Calibration | None = None,
        dense: DenseConfig | str | None = None,
        wait: float = 0.0,
        ray: str | bool | RayConfig | None = None,
    ) -> T:
        """Index files, folders or :class:`Document` objects from scratch; save to ``out``
        (replacing any index there in one atomic step), else to a temporary folder.
        ``ray``: read, chunk and embed on a Ray cluster (an address, ``"auto"``, ``True``
        for a local instance, or a :class:`~ragchips.cluster.RayConfig`)."""
        emb = get_embedder(embedder)
        chunker = chunker or ChunkerSettings()
        sources = _source_list(sources)
        docs = None if _uses(ray) else _iter_sources(sources, on_skip)
        tmp = None if out is not None else tempfile.TemporaryDirectory(prefix="ragchips-")
        directory = _out_folder(out) if out is not None else Path(tmp.name) / "index"  # type: ignore[union-attr]
        check_out_folder(directory)
        with writer_lock(directory, wait):
            if docs is None:
                settings = _settings(emb, chunker, dense, calibration)
                _on_ray(
                    ray, directory, None, settings, emb, sources, {}, on_skip, progress, check=None
                )
            else:
                # Files are read on a second thread while the first passages are embedded.
                embedded = _embed_new(docs, chunker, emb, progress)
                settings = _settings(emb, chunker, dense, calibration)
                apply_changes(directory, None, settings, emb, embedded=embedded)
        index = cls.load(directory, embedder=emb, verify=False)
        index._probe_checked = True
        index._tmp = tmp
        return index

    @classmethod
    def sync(
        cls: type[T],
        sources: Iterable[str | os.PathLike[str] | Document],
        out: str | os.PathLike[str],
        *,
        embedder: str | Embedder | None = None,
        chunker: ChunkerSettings | None = None,
        on_skip: Callable[[str, str], None] | None = None,
        progress: Callable[[int, int], None] | None = None,
        dense: DenseConfig | str | None = None,
        full: bool = False,
        wait: float = 0.0,
        ray: str | bool | RayConfig | None = None,
        prune: bool = True,
    ) -> tuple[T, ChangeReport]:
        """Make the index at ``out`` hold exactly these sources, embedding only new or
        changed documents (by content hash); unchanged ones are left untouched. Without
        ``chunker`` the index keeps its own (:func:`kept_chunker`). ``ray``: read and embed
        them on a Ray cluster, as in :meth:`build`. ``prune=False`` (what ``ragchips
        index`` does without ``--prune``) refuses, before anything is written, to remove
        documents whose files still exist but lie under none of the paths given: a user
        who names one new file means to add it, not to drop the rest."""
        directory = _out_folder(out)
        check_out_folder(directory)
        emb = _embedder_for(directory, embedder, full)
        sources = _source_list(sources)
        if not prune:
            sources = list(sources)  # read twice: the documents, then the paths they lie under
        unread = _Unread(on_skip)
        # doc_ids kept for files not read: filled once the index is open, before the first read
        held: set[str] = set()
        docs = None if _uses(ray) else _iter_sources(sources, unread, held)
        report = ChangeReport()
        with writer_lock(directory, wait):
            if not full and is_format_1(directory):
                # An index of ragchips 0.1: upgraded in place (its vectors are reused),
                # then brought up to date like any other.
                upgrade(directory, locked=True)
            if chunker is None:
                chunker = kept_chunker(directory, full)
            current = None if full else _current_manifest(directory)
            reusable = current is not None and _compatible(current, emb, chunker)
            known: dict[str, str] = {}
            files: dict[str, tuple[str, str]] = {}
            moved: frozenset[str] = frozenset()
            check: Callable[[Read], None] | None = None
            carried: list[Document] = []  # a rebuild's documents no reader here reads
            old = None
            if reusable:
                old = cls.load(directory, embedder=emb, verify=False)
            elif (not prune or unread.paths) and _current_manifest(directory) is not None:
                # Rebuilt (--full, another chunker or embedder): the check still reads what
                # the index holds now, with the embedder it was built with, and so does
                # the copy of the documents no reader here reads any more.
                try:
                    old = cls.load(directory, verify=False)
                except (RagchipsError, OSError, ValueError):
                    old = None  # unreadable: rebuilt from the paths given, as always
            if old is not None:
                files = old._doc_files()  # one read of every document's record
                # (on Ray the files are listed later, and it asks unread.kept itself)
                held.update(unread.kept(files))
                if not reusable:
                    stored: Any = old  # an Index: it reads its stored documents
                    carried = [stored.document(i) for i in sorted(held)]
                old.close()
                if reusable:
                    known = {doc_id: sha for doc_id, (_, sha) in files.items()}
                    moved = _moved(files)
                if not prune:
                    check = _unlisted_check(directory, files, sources)
            if docs is None:
                settings = _sync_settings(emb, chunker, dense, current if reusable else None)
                base = current if reusable else None
                args = (directory, base, settings, emb, sources, known, unread, progress)
                report = _on_ray(
                    ray,
                    *args,
                    check=check,
                    kept=lambda: unread.kept(files),
                    moved=moved,
                )
                index = cls.load(directory, embedder=emb, verify=False)
                index._probe_checked = True
                return index, report
            read_docs: Read = {}  # every document read (doc_ids are unique: _unique)

            def new_or_changed(read: Iterable[Document]) -> Iterable[Document]:
                """Record every document read; pass on those to embed."""
                for d in read:
                    read_docs[d.doc_id] = (d.sha256, d.source)
                    if d.doc_id not in known:
                        report.added.append(d.doc_id)
                        yield d
                    elif known[d.doc_id] != d.sha256 or d.doc_id in moved:
                        report.updated.append(d.doc_id)  # moved: records its new path
                        yield d

            def and_carried(read: Iterable[Document]) -> Iterator[Document]:
                yield from read
                # Cut and embedded again from the text the index stored.
                yield from (d for d in carried if d.doc_id not in read_docs)

            # Files are read on a second thread while the first passages are embedded.
            todo = new_or_changed(and_carried(docs))
            embedded = _embed_new(todo, chunker, emb, progress, allow_empty=reusable)
            if carried:
                again = {d.doc_id for d in carried}
                report.added = [i for i in report.added if i not in again]
                report.unread = sorted(again & set(read_docs))
            unread_kept = held if reusable else set()
            report.removed = [i for i in known if i not in read_docs and i not in unread_kept]
            if reusable:
                report.unread = sorted(i for i in unread_kept if i not in read_docs)
            if check is not None:
                check(read_docs)
            # (a rebuild's carried documents were read from the index: in read_docs already)
            report.kept = len(read_docs) - len(report.added) - len(report.updated)
            report.kept += len(report.unread) if reusable else 0
            settings = _sync_settings(emb, chunker, dense, current if reusable else None)
            if not reusable:
                apply_changes(directory, None, settings, emb, embedded=embedded)
            elif report.added or report.updated or report.removed:
                apply_changes(
                    directory,
                    current,
                    settings,
                    emb,
                    delete=report.updated + report.removed,
                    embedded=embedded,
                )
            elif current is not None:
                # Nothing changed, but what a killed run or a reader left behind can go.
                collect_garbage(directory, current)
        index = cls.load(directory, embedder=emb, verify=False)
        index._probe_checked = True
        return index, report

    def add(self, docs: Sequence[Document]) -> ChangeReport:
        """Add new documents (a doc_id already in the index is an error: use update)."""
        docs = list(docs)
        return self._change(add=docs, check_new=True)

    def update(self, docs: Sequence[Document]) -> ChangeReport:
        """Replace documents by doc_id with new content, in one atomic step."""
        docs = list(docs)
        return self._change(add=docs, delete=[d.doc_id for d in docs])

    def delete(self, doc_ids: Iterable[str]) -> ChangeReport:
        """Remove documents by doc_id (one id may be given as a string)."""
        return self._change(delete=[doc_ids] if isinstance(doc_ids, str) else list(doc_ids))

    def compact(self, dense: DenseConfig | None = None) -> None:
        """Merge every segment into one, dropping deleted passages; with ``dense``, also
        rebuild the dense search structures that way (no passage is embedded again)."""
        self._change(compact=True, dense=dense)

    def _change(
        self,
        add: list[Document] | None = None,
        delete: list[str] | None = None,
        check_new: bool = False,
        compact: bool = False,
        wait: float = 10.0,
        dense: DenseConfig | None = None,
    ) -> ChangeReport:
        if self.path is None:
            raise RagchipsError("this index has no folder")
        add, delete = add or [], delete or []
        blank = [d.doc_id for d in add if not d.text.strip()]
        if blank:
            raise RagchipsError(
                f"document {blank[0]!r} has no text to index; delete() removes a document"
            )
        for name, ids in (("added", [d.doc_id for d in add]), ("deleted", delete)):
            dup = sorted({i for i in ids if ids.count(i) > 1})
            if dup:
                raise RagchipsError(f"doc_id given twice among the documents {name}: {dup[0]!r}")
        with writer_lock(self.path, wait):
            current = read_manifest(self.path)
            self.reload(current)
            if check_new:
                taken = [d.doc_id for d in add if self._locate(d.doc_id) is not None]
                if taken:
                    raise RagchipsError(
                        f"doc_id {taken[0]!r} is already in the index: use update() to replace it"
                    )
            settings = {k: v for k, v in current.items() if k in _SETTING_KEYS}
            if dense is not None:
                settings["dense"] = dense.to_dict()
            manifest = apply_changes(
                self.path,
                current,
                settings,
                self.embedder,
                add=add,
                delete=delete,
                compact=compact,
                opened={seg.name: seg for seg in self._segments},
            )
            old = self._segments
            self.reload(manifest)
            for seg in old:
                if seg not in self._segments:
                    seg.close()  # merged away: its folder can go
            collect_garbage(self.path, manifest)
        report = ChangeReport(removed=[i for i in delete if i not in {d.doc_id for d in add}])
        report.added = [d.doc_id for d in add if d.doc_id not in set(delete)]
        report.updated = [d.doc_id for d in add if d.doc_id in set(delete)]
        return report

    def close(self) -> None:
        """Release the index's files; a replaced segment can then be removed from disk."""
        for seg in self._segments:
            seg.close()

    def reload(self, manifest: dict[str, Any] | None = None) -> None:
        """Switch to the index's current state on disk."""
        if self.path is None:
            return
        path = self.path

        def switch(manifest: dict[str, Any]) -> None:
            if manifest == self.manifest:
                return
            check_sizes(path, manifest)
            self._open(path, manifest, reuse={seg.name: seg for seg in self._segments})
            self.manifest = manifest

        if manifest is not None:  # the caller's own write: its files are there
            switch(manifest)
        else:
            # Another process may commit meanwhile and remove what this manifest names: read
            # it again, as Index.load does (a bare FileNotFoundError 1 time in 1,000).
            load_consistent(path, switch)

    # -- loading --------------------------------------------------------------------------


_SETTING_KEYS = ("embedder", "chunker", "dense", "calibration", "lexical")


def _settings(
    emb: Embedder,
    chunker: ChunkerSettings,
    dense: DenseConfig | str | None,
    calibration: Calibration | None,
) -> dict[str, Any]:
    if isinstance(dense, str):
        dense = DenseConfig(kind=dense)
    identity = emb.identity()
    identity["probe"] = [round(float(x), 6) for x in probe_vector(emb)]
    return {
        "embedder": identity,
        "chunker": chunker.to_dict(),
        "dense": (dense or DenseConfig()).to_dict(),
        "calibration": (calibration or DEFAULT_CALIBRATION).to_dict(),
        "lexical": dict(LEXICAL_SETTINGS),
    }


def _sync_settings(
    emb: Embedder,
    chunker: ChunkerSettings,
    dense: DenseConfig | str | None,
    current: dict[str, Any] | None,
) -> dict[str, Any]:
    """Settings of a sync: an index brought up to date keeps its dense settings (unless
    new ones are given) and its calibration."""
    calibration = None
    if current is not None:
        if dense is None:
            dense = DenseConfig.from_dict(current.get("dense"))
        calibration = Calibration.from_dict(current.get("calibration"))
    return _settings(emb, chunker, dense, calibration)


def _uses(ray: str | bool | RayConfig | None) -> bool:
    return ray is not None and ray is not False


def _on_ray(
    ray: str | bool | RayConfig | None,
    *args: Any,
    check: Callable[[Read], None] | None,
    kept: Callable[[], set[str]] = set,
    moved: frozenset[str] = frozenset(),
) -> ChangeReport:
    """Read, chunk and embed on a Ray cluster (ray is imported only here)."""
    from .cluster import ray_config, sync_on_ray

    report = ChangeReport()
    sync_on_ray(
        *args,
        config=ray_config(ray),
        report=report,
        check=check,
        kept=kept,
        moved=moved,
    )
    return report


def _out_folder(out: str | os.PathLike[str]) -> Path:
    if not str(out).strip():  # Path("") is the working folder
        raise ConfigurationError("the index folder is an empty path (an unset variable?)")
    return Path(out)


def _moved(files: dict[str, tuple[str, str]]) -> frozenset[str]:
    """The doc_ids whose recorded file is gone: read again from another path (a folder
    moved or renamed), they are updated, so that their source is where they are now, and
    a later update naming other paths still sees them as the collection's."""
    return frozenset(i for i, (path, _) in files.items() if path and not os.path.isfile(path))


class _Unread:
    """Passes skipped files on to ``on_skip`` and remembers those no reader here reads (a
    reader plugin or an extra not installed, or broken): the documents once read from
    them are kept as they are, never removed because this environment cannot read them."""

    KINDS = frozenset({"unsupported", "missing-extra"})

    def __init__(self, on_skip: Callable[[str, str], None] | None) -> None:
        self.on_skip = on_skip
        self.paths: set[str] = set()

    def __call__(self, path: str, reason: str) -> None:
        if getattr(reason, "kind", None) in self.KINDS:
            self.paths.add(absolute_path(path))
        if self.on_skip is not None:
            self.on_skip(path, reason)

    def kept(self, files: dict[str, tuple[str, str]]) -> set[str]:
        """The doc_ids (of ``files``: doc_id to (read path, hash)) read from such files."""
        if not self.paths:
            return set()
        return {i for i, (path, _) in files.items() if path and absolute_path(path) in self.paths}


Read = dict[str, tuple[str, str]]  # doc_id -> (content hash, source), of every document read


def _unlisted_check(
    directory: Path, files: dict[str, tuple[str, str]], sources: Iterable[Any]
) -> Callable[[Read], None]:
    """What ``sync(prune=False)`` runs on the documents it read: a one-line error, before
    anything is written, if the update would drop or replace a document whose file still
    exists under none of the paths given (replaced: another file of the same name, from
    elsewhere, with other content), or drop one added in Python. ``files``: doc_id to
    (the file each indexed document was read from, its content hash), "" for none."""
    _, paths = split_sources(sources)
    roots = [absolute_path(p) for p in paths]

    def check(read: Read) -> None:
        lost = []
        for doc_id, (path, sha) in files.items():
            got = read.get(doc_id)
            if not path:  # added in Python: no path given can hold it
                if got is None:
                    lost.append(f"{doc_id!r}, added from Python")
                continue
            if not os.path.isfile(path) or _under(absolute_path(path), roots):
                continue
            if got is None or (got[0] != sha and absolute_path(got[1]) != absolute_path(path)):
                lost.append(path)
        if lost:
            n = len(lost)
            raise RagchipsError(
                f"{n} document{'s' if n > 1 else ''} of {directory} come{'' if n > 1 else 's'} "
                f"from no file under the paths given ({lost[0]}"
                f"{', ...' if n > 1 else ''}), and the update would remove or replace "
                f"{'them' if n > 1 else 'it'}: give every file or folder of the collection, or "
                "ask for it (--prune; prune=True in Python)"
            )

    return check


def _under(path: str, roots: list[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


def _current_manifest(directory: Path) -> dict[str, Any] | None:
    if not (directory / "manifest.json").exists():
        return None
    return read_manifest(directory)


def kept_chunker(directory: str | os.PathLike[str], full: bool = False) -> ChunkerSettings:
    """The chunker an index keeps when none is asked for: its own, so documents added years
    later are cut as the first ones were and nothing is cut again after an upgrade; with
    ``full`` (a rebuild) its sizes with today's splitter; the defaults for a new index."""
    try:
        current = _current_manifest(Path(directory))
    except RagchipsError:
        current = None  # unreadable (or ragchips 0.1's): a rebuild starts from the defaults
    if current is None or not current.get("chunker"):
        return ChunkerSettings()
    recorded = current["chunker"]
    if full:  # its sizes, today's splitter; the defaults if even those are unusable
        try:
            return ChunkerSettings.from_dict({**recorded, "splitter": ChunkerSettings().splitter})
        except (RagchipsError, TypeError, ValueError):
            return ChunkerSettings()
    try:
        return ChunkerSettings.from_dict(recorded)
    except RagchipsError as exc:  # a splitter of a newer ragchips
        raise ConfigurationError(f"{exc}; --full rebuilds the index with this version's") from exc


def _embedder_for(directory: Path, asked: str | Embedder | None, full: bool) -> Embedder:
    """The embedder asked for, else the index's own; a rebuild (``full``) of an index whose
    recorded embedder is damaged or not installed uses the default, as verify's advice to
    rebuild with --full means."""
    if asked is not None:
        return get_embedder(asked)
    kept = kept_embedder(directory)
    if not full or kept is None:
        return get_embedder(kept)
    try:
        return get_embedder(kept if isinstance(kept, dict) else None)
    except (RagchipsError, TypeError, ValueError):
        return get_embedder(None)


def kept_embedder(directory: str | os.PathLike[str]) -> Any:
    """The embedder an index keeps when none is asked for: the one it was built with (an
    update without --embedder re-embedded a whole hash-64 or st: index with the default
    model), a rebuild (``full``) too, which only --embedder changes (the advice for a
    damaged index is --full: it switched an st: index to e5 without a word); the default
    for a new index."""
    try:
        current = _current_manifest(Path(directory))
    except RagchipsError:
        return None
    return None if current is None else current.get("embedder")


def _compatible(manifest: dict[str, Any], emb: Embedder, chunker: ChunkerSettings) -> bool:
    return (
        manifest["embedder"].get("name") == emb.name
        and ChunkerSettings.from_dict(manifest.get("chunker")) == chunker
    )


def _source_list(
    sources: Iterable[str | os.PathLike[str] | Document],
) -> Iterable[str | os.PathLike[str] | Document]:
    """One path or document given alone is a list of one (a string is iterable: "docs"
    would otherwise be the folders "d", "o", "c" and "s"); anything else is left as given,
    so a generator of documents is still read one at a time."""
    if isinstance(sources, SOURCE):
        return [sources]
    if not isinstance(sources, Iterable):
        raise TypeError(NOT_A_SOURCE.format(type(sources).__name__, sources))
    return sources


def _iter_sources(
    sources: Iterable[str | os.PathLike[str] | Document],
    on_skip: Callable[[str, str], None] | None,
    held: set[str] | None = None,
) -> Iterator[Document]:
    """The documents given, then those read from the paths given, one at a time: files
    are listed now (before the index folder gets its lock file) and read as they are
    asked for; a doc_id seen twice is an error."""
    given, paths = split_sources(sources)
    docs: Iterable[Document] = given
    if paths:
        docs = itertools.chain(docs, iter_documents(paths, on_skip=on_skip, held=held))
    return _unique(docs)


def _unique(docs: Iterable[Document]) -> Iterator[Document]:
    seen: set[str] = set()
    for doc in docs:
        if doc.doc_id in seen:
            raise RagchipsError(f"doc_id given twice: {doc.doc_id}")
        seen.add(doc.doc_id)
        yield doc
    if not seen:
        raise NoDocumentsError(nothing_readable())


def _embed_new(
    docs: Iterable[Document],
    chunker: ChunkerSettings,
    emb: Embedder,
    progress: Callable[[int, int], None] | None,
    allow_empty: bool = False,
) -> tuple[list[Prepared], np.ndarray]:
    prepared, vectors = embed_passages_of(docs, chunker, emb, progress)
    if not prepared and not allow_empty:
        raise NoDocumentsError("the documents contain no body text to index")
    return prepared, vectors
