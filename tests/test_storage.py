"""Manifests swapped atomically, files checked on load, one writer at a time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ragchips.errors import CorruptIndexError, IndexLockedError, IndexNotFoundError
from ragchips.storage import (
    FORMAT,
    MANIFEST,
    check_sizes,
    file_table,
    load_consistent,
    read_manifest,
    replace_manifest,
    update_manifest,
    writer_lock,
)


def _index(tmp_path: Path, payload: str = "one") -> Path:
    """A minimal index folder: one segment folder with two files, and its manifest."""
    directory = tmp_path / "idx"
    seg = directory / "seg-000000"
    (seg / "sub").mkdir(parents=True)
    (seg / "data.txt").write_text(payload, encoding="utf-8")
    (seg / "sub" / "more.txt").write_text(payload * 2, encoding="utf-8")
    manifest = {
        "format": FORMAT,
        "version": 2,
        "embedder": {"name": "x"},
        "generation": 1,
        "segments": [{"name": "seg-000000", "files": file_table(seg)}],
        "state": None,
    }
    replace_manifest(directory, manifest)
    return directory


def test_manifest_round_trip_and_sizes(tmp_path: Path) -> None:
    directory = _index(tmp_path)
    manifest = read_manifest(directory)
    assert set(manifest["segments"][0]["files"]) == {"data.txt", "sub/more.txt"}
    check_sizes(directory, manifest, hashes=True)
    assert not [p for p in directory.iterdir() if p.name.startswith(".manifest-")]


def test_truncated_and_edited_files_are_detected(tmp_path: Path) -> None:
    directory = _index(tmp_path)
    manifest = read_manifest(directory)
    data = directory / "seg-000000" / "data.txt"
    data.write_text("on", encoding="utf-8")
    with pytest.raises(CorruptIndexError, match=r"data\.txt: size 2 bytes.*truncated"):
        check_sizes(directory, manifest)
    data.write_text("ONE", encoding="utf-8")  # same size, other bytes: a small file is hashed
    with pytest.raises(CorruptIndexError, match="sha256"):
        check_sizes(directory, manifest)


def test_missing_foreign_and_old_manifests(tmp_path: Path) -> None:
    with pytest.raises(IndexNotFoundError, match="no index at"):
        read_manifest(tmp_path / "none")
    (tmp_path / "empty").mkdir()
    with pytest.raises(IndexNotFoundError, match="not a ragchips index"):
        read_manifest(tmp_path / "empty")
    directory = _index(tmp_path)
    (directory / MANIFEST).write_text("{not json", encoding="utf-8")
    with pytest.raises(CorruptIndexError, match="unreadable manifest"):
        read_manifest(directory)
    (directory / MANIFEST).write_text(json.dumps({"format": "other"}), encoding="utf-8")
    with pytest.raises(IndexNotFoundError, match="another program's"):
        read_manifest(directory)
    (directory / MANIFEST).write_text(json.dumps({"format": FORMAT, "version": 1}), "utf-8")
    with pytest.raises(CorruptIndexError, match="ragchips upgrade"):
        read_manifest(directory)


@pytest.mark.parametrize("name", ["../outside", ".hidden", "a/b"])
def test_manifest_cannot_point_outside_the_index(tmp_path: Path, name: str) -> None:
    directory = _index(tmp_path)
    manifest = read_manifest(directory)
    manifest["segments"][0]["name"] = name
    with pytest.raises(CorruptIndexError, match="invalid folder name"):
        check_sizes(directory, manifest)
    manifest = read_manifest(directory)
    manifest["segments"][0]["files"] = {"../../etc/passwd": {"size": 1, "sha256": "x"}}
    with pytest.raises(CorruptIndexError, match="invalid file name"):
        check_sizes(directory, manifest)


def test_reader_that_races_a_write_reads_the_new_manifest(tmp_path: Path) -> None:
    directory = _index(tmp_path)
    calls = []

    def load(manifest: dict) -> int:
        calls.append(manifest["generation"])
        if len(calls) == 1:  # a writer swapped the manifest and removed our files
            replace_manifest(directory, {**manifest, "generation": 2})
            raise FileNotFoundError("seg-000000/data.txt")
        return int(manifest["generation"])

    assert load_consistent(directory, load) == 2 and calls == [1, 2]


def test_missing_file_without_a_new_manifest_is_corruption(tmp_path: Path) -> None:
    directory = _index(tmp_path)

    def load(manifest: dict) -> None:
        check_sizes(directory, manifest)

    (directory / "seg-000000" / "data.txt").unlink()
    with pytest.raises(CorruptIndexError, match=r"data file missing \(data.txt\)"):
        load_consistent(directory, load)


def test_second_writer_fails_clearly_or_waits(tmp_path: Path) -> None:
    directory = _index(tmp_path)
    with (
        writer_lock(directory),
        pytest.raises(IndexLockedError, match=r"another writer \(pid \d+"),
        writer_lock(directory),
    ):
        pass
    with writer_lock(directory, wait=1.0):  # free again
        pass


def test_a_killed_writer_does_not_leave_the_index_locked(tmp_path: Path) -> None:
    directory = _index(tmp_path)
    code = (
        "import sys, time; from pathlib import Path; from ragchips.storage import writer_lock\n"
        "with writer_lock(Path(sys.argv[1])):\n"
        "    print('locked', flush=True); time.sleep(600)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(directory)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        with pytest.raises(IndexLockedError), writer_lock(directory):
            pass
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        t0 = time.monotonic()
        with writer_lock(directory, wait=10):
            assert (directory / "writer.lock").exists()  # the file stays; the lock is gone
        assert time.monotonic() - t0 < 10
    finally:
        proc.kill()
        proc.wait(timeout=30)


def test_update_manifest_changes_fields_not_data(tmp_path: Path) -> None:
    directory = _index(tmp_path)
    before = read_manifest(directory)
    after = update_manifest(directory, {"calibration": {"threshold": 0.5}})
    assert after["segments"] == before["segments"]
    assert read_manifest(directory)["calibration"] == {"threshold": 0.5}


def test_out_folder_with_index_like_names_or_harmless_leftovers(tmp_path: Path) -> None:
    # An index writes seg-/state- folders of six digits: a user's "seg-2024" is not one and
    # must survive; hidden files and a mount point's lost+found do not make an empty folder
    # someone else's; a link to nothing is named as such.
    from ragchips import Index
    from ragchips.embedding import HashEmbedder
    from ragchips.errors import ConfigurationError

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "puce.txt").write_text("La puce est fabriquée par TSMC.", encoding="utf-8")
    mine = tmp_path / "mine"
    (mine / "seg-2024").mkdir(parents=True)
    (mine / "seg-2024" / "notes.txt").write_text("mes notes", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="seg-2024"):
        Index.build([docs], embedder=HashEmbedder(16), out=mine)
    assert (mine / "seg-2024" / "notes.txt").read_text(encoding="utf-8") == "mes notes"

    fresh = tmp_path / "mount"
    (fresh / "lost+found").mkdir(parents=True)
    (fresh / ".DS_Store").write_bytes(b"\0")
    (fresh / ".gitkeep").write_text("", encoding="utf-8")
    built = Index.build([docs], embedder=HashEmbedder(16), out=fresh)
    assert len(built) == 1
    assert {".DS_Store", ".gitkeep", "lost+found"} <= {c.name for c in fresh.iterdir()}

    broken = tmp_path / "broken"
    broken.symlink_to(tmp_path / "nowhere")
    with pytest.raises(ConfigurationError, match="link to nothing"):
        Index.build([docs], embedder=HashEmbedder(16), out=broken)


def test_a_lock_file_that_is_a_link_is_never_written_through(tmp_path: Path) -> None:
    directory = _index(tmp_path)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious data\n")
    (directory / "writer.lock").unlink(missing_ok=True)
    (directory / "writer.lock").symlink_to(victim)
    with pytest.raises(CorruptIndexError, match="is a symbolic link"), writer_lock(directory):
        pass
    assert victim.read_text() == "precious data\n"


def test_segments_past_a_million_commits_are_still_collected(tmp_path: Path) -> None:
    import hashlib

    from ragchips import Document, Index

    def doc(i: int, text: str) -> Document:
        return Document(f"d{i}", f"d{i}.txt", "t", text, hashlib.sha256(text.encode()).hexdigest())

    out = tmp_path / "i"
    index = Index.build([doc(i, f"texte numéro {i}") for i in range(3)], embedder="hash-16",
                        out=out)  # fmt: skip
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["next_segment"] = 999_998  # as after about half a million commits
    (out / "manifest.json").write_text(json.dumps(manifest))
    index = Index.load(out)
    for round_ in range(12):
        index.update([doc(round_ % 3, f"texte changé {round_}")])
    named = {s["name"] for s in json.loads((out / "manifest.json").read_text())["segments"]}
    on_disk = {p.name for p in out.iterdir() if p.name.startswith("seg-")}
    assert any(len(n) > 10 for n in named)  # seg-1000000 and after
    assert on_disk == named
