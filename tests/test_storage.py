"""Atomic, verified index files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragchips.errors import CorruptIndexError, IndexNotFoundError
from ragchips.storage import (
    MANIFEST,
    load_consistent,
    read_manifest,
    verify_files,
    write_generation,
)


def writer(payload: str):
    def write(folder: Path) -> None:
        (folder / "data.txt").write_text(payload, encoding="utf-8")
        (folder / "sub").mkdir()
        (folder / "sub" / "more.txt").write_text(payload * 2, encoding="utf-8")

    return write


def test_write_then_verify(tmp_path: Path) -> None:
    m = write_generation(tmp_path / "idx", writer("one"), {"embedder": {"name": "x"}})
    manifest = read_manifest(tmp_path / "idx")
    assert manifest == m
    folder = verify_files(tmp_path / "idx", manifest)
    assert (folder / "data.txt").read_text() == "one"
    assert set(manifest["files"]) == {"data.txt", "sub/more.txt"}


def test_crash_mid_write_leaves_old_index_intact(tmp_path: Path) -> None:
    target = tmp_path / "idx"
    write_generation(target, writer("old"), {"embedder": {}})
    before = read_manifest(target)

    def crash(folder: Path) -> None:
        (folder / "data.txt").write_text("half", encoding="utf-8")
        raise KeyboardInterrupt  # the process dies in the middle

    with pytest.raises(KeyboardInterrupt):
        write_generation(target, crash, {"embedder": {}})
    assert read_manifest(target) == before
    folder = verify_files(target, before)
    assert (folder / "data.txt").read_text() == "old"
    assert not [p for p in target.iterdir() if p.name.startswith(".tmp-")]


def test_old_generation_is_replaced(tmp_path: Path) -> None:
    target = tmp_path / "idx"
    first = write_generation(target, writer("a"), {"embedder": {}})
    second = write_generation(target, writer("b"), {"embedder": {}})
    assert first["generation"] != second["generation"]
    gens = sorted(p.name for p in target.iterdir() if p.name.startswith("g-"))
    assert gens == [second["generation"]]


def test_same_content_gives_same_generation(tmp_path: Path) -> None:
    a = write_generation(tmp_path / "a", writer("same"), {"embedder": {}})
    b = write_generation(tmp_path / "b", writer("same"), {"embedder": {}})
    assert a["generation"] == b["generation"]


def test_truncated_and_edited_files_are_detected(tmp_path: Path) -> None:
    target = tmp_path / "idx"
    m = write_generation(target, writer("payload"), {"embedder": {}})
    data = target / m["generation"] / "data.txt"
    data.write_text("payl", encoding="utf-8")
    with pytest.raises(CorruptIndexError, match="truncated"):
        verify_files(target, m)
    data.write_text("PAYLOAD", encoding="utf-8")  # same size, other content
    with pytest.raises(CorruptIndexError, match="sha256"):
        verify_files(target, m)


def test_missing_and_foreign_manifests(tmp_path: Path) -> None:
    with pytest.raises(IndexNotFoundError, match="no index"):
        read_manifest(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(IndexNotFoundError, match="not a ragchips index"):
        read_manifest(tmp_path / "empty")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / MANIFEST).write_text("{truncated", encoding="utf-8")
    with pytest.raises(CorruptIndexError, match="unreadable manifest"):
        read_manifest(bad)
    (bad / MANIFEST).write_text(json.dumps({"format": "other"}), encoding="utf-8")
    with pytest.raises(CorruptIndexError, match="not a ragchips index"):
        read_manifest(bad)
    (bad / MANIFEST).write_text(json.dumps({"format": "ragchips-index", "version": 99}))
    with pytest.raises(CorruptIndexError, match="version 99"):
        read_manifest(bad)


def test_manifest_cannot_point_outside_the_index(tmp_path: Path) -> None:
    target = tmp_path / "idx"
    m = write_generation(target, writer("x"), {"embedder": {}})
    evil = dict(m, generation="../../etc")
    with pytest.raises(CorruptIndexError, match="invalid generation"):
        verify_files(target, evil)
    evil = dict(m, files={"../../outside.txt": {"size": 1, "sha256": "0"}})
    with pytest.raises(CorruptIndexError, match="invalid file name"):
        verify_files(target, evil)


def test_reader_that_races_a_save_reads_the_new_generation(tmp_path: Path) -> None:
    target = tmp_path / "idx"
    write_generation(target, writer("old"), {"embedder": {}})
    calls = []

    def load(manifest: dict) -> str:
        calls.append(manifest["generation"])
        if len(calls) == 1:  # a save lands between reading the manifest and the files
            write_generation(target, writer("new"), {"embedder": {}})
        folder = verify_files(target, manifest)
        return (folder / "data.txt").read_text()

    assert load_consistent(target, load) == "new"
    assert len(calls) == 2 and calls[0] != calls[1]


def test_missing_data_file_without_a_new_generation_is_corruption(tmp_path: Path) -> None:
    target = tmp_path / "idx"
    m = write_generation(target, writer("x"), {"embedder": {}})
    (target / m["generation"] / "data.txt").unlink()
    with pytest.raises(CorruptIndexError, match="missing"):
        load_consistent(target, lambda man: verify_files(target, man))


def test_update_manifest_changes_fields_not_data(tmp_path: Path) -> None:
    from ragchips.storage import update_manifest

    target = tmp_path / "idx"
    m = write_generation(target, writer("x"), {"embedder": {}, "calibration": {"a": 1}})
    updated = update_manifest(target, {"calibration": {"a": 2}})
    assert read_manifest(target) == updated
    assert updated["calibration"] == {"a": 2} and updated["files"] == m["files"]
    verify_files(target, updated)
