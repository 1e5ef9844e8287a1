"""Reader plugins that fail: one line naming the file and the reader, the file skipped, the
other files and formats still read."""

from __future__ import annotations

import importlib.metadata
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from ragchips.errors import ConfigurationError, UnreadableFileError
from ragchips.reader import read_document, read_documents
from ragchips.readers import base
from ragchips.readers.base import Extracted, ReaderPluginWarning, register, unregister


class _Csv:
    name = "csv-test"
    suffixes: tuple[str, ...] = (".csv",)

    def __init__(self, result: Any) -> None:
        self.result = result

    def read(self, path: Path, data: bytes) -> Any:
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


@pytest.mark.parametrize(
    ("result", "message"),
    [
        (RuntimeError("field larger than field limit\nmore"), "reader 'csv-test' failed: "
         "RuntimeError: field larger than field limit$"),
        ("just a string", "reader 'csv-test' returned str, not an Extracted"),
        (Extracted(text=None, title=None), "returned Extracted, not an Extracted"),  # type: ignore[arg-type]
        (Extracted("   \n"), "no text in this file \\(reader 'csv-test'\\)"),
    ],
)  # fmt: skip
def test_a_failing_reader_skips_its_file_only(tmp_path: Path, result: Any, message: str) -> None:
    (tmp_path / "t.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    (tmp_path / "ok.txt").write_text("Le chat dort sur le tapis du salon.", encoding="utf-8")
    register(_Csv(result))
    try:
        with pytest.raises(UnreadableFileError, match=message) as info:
            read_document(tmp_path / "t.csv")
        assert "\n" not in str(info.value)
        skipped: list[tuple[str, str]] = []
        docs = read_documents([tmp_path], on_skip=lambda p, r: skipped.append((p, r)))
        assert [d.doc_id for d in docs] == ["ok"] and skipped[0][0].endswith("t.csv")
    finally:
        unregister(".csv")


@pytest.mark.parametrize("suffixes", [("csv",), ".csv", (".",)])
def test_register_refuses_suffixes_that_would_never_match(suffixes: Any) -> None:
    reader = _Csv(Extracted("x"))
    reader.suffixes = suffixes
    with pytest.raises(ConfigurationError, match="suffixes must be a tuple of strings"):
        register(reader)


def test_a_broken_reader_plugin_is_left_out_with_a_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broken = importlib.metadata.EntryPoint(
        "broken", "ragchips_no_such_module:Reader", base.ENTRY_POINT_GROUP
    )
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: [broken])
    with pytest.warns(ReaderPluginWarning, match="reader plugin 'broken' .* is left out: "
                      "ModuleNotFoundError"):  # fmt: skip
        assert base._plugins() == []


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_named_pipe_is_refused_not_waited_on(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.txt")
    done: list[BaseException] = []

    def read() -> None:
        try:
            read_document(tmp_path / "pipe.txt")
        except BaseException as exc:
            done.append(exc)

    t = threading.Thread(target=read, daemon=True)
    t.start()
    t.join(60)  # a hang guard only
    assert not t.is_alive() and isinstance(done[0], UnreadableFileError)
    assert "not a regular file" in str(done[0])


@pytest.mark.parametrize("suffixes", [None, (s for s in (".rst",))])
def test_register_refuses_suffixes_that_are_no_collection(suffixes: Any) -> None:
    reader = _Csv(Extracted("x"))
    reader.suffixes = suffixes
    with pytest.raises(ConfigurationError, match="suffixes must be a tuple of strings"):
        register(reader)


def test_documents_of_a_format_no_reader_reads_now_are_kept_not_removed(
    tmp_path: Path,
) -> None:
    """A reader plugin uninstalled (or broken) must not make the next update delete what it
    once read: those documents stay as they were, and the report names them."""
    from ragchips import Index
    from ragchips.embedding import HashEmbedder

    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "villes.csv").write_text("ville,pays\nLyon,France\n", encoding="utf-8")
    (folder / "ok.txt").write_text("Le chat dort sur le tapis du salon.", encoding="utf-8")
    register(_Csv(Extracted("Lyon est une ville de France.")))
    try:
        Index.sync([folder], tmp_path / "i", embedder=HashEmbedder(16))
    finally:
        unregister(".csv")
    (folder / "new.txt").write_text("Le chien garde la maison.", encoding="utf-8")
    skipped: list[tuple[str, str]] = []
    index, report = Index.sync(
        [folder], tmp_path / "i", embedder=HashEmbedder(16), on_skip=lambda *s: skipped.append(s)
    )
    assert report.removed == [] and report.unread == ["villes"] and report.added == ["new"]
    assert report.kept == 2  # ok and villes
    assert index.document("villes").text == "Lyon est une ville de France."
    assert [getattr(r, "kind", "") for _, r in skipped] == ["unsupported"]
    (folder / "villes.csv").unlink()  # the file gone: its document goes too
    _, report = Index.sync([folder], tmp_path / "i", embedder=HashEmbedder(16))
    assert report.removed == ["villes"] and report.unread == []


def test_the_cli_says_which_documents_it_kept_unread(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ragchips.cli import main

    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "villes.csv").write_text("ville,pays\nLyon,France\n", encoding="utf-8")
    (folder / "ok.txt").write_text("Le chat dort sur le tapis du salon.", encoding="utf-8")
    argv = ["index", str(folder), "--out", str(tmp_path / "i"), "--embedder", "hash-16"]
    register(_Csv(Extracted("Lyon est une ville de France.")))
    try:
        assert main([*argv, "--no-progress"]) == 0
    finally:
        unregister(".csv")
    capsys.readouterr()
    assert main([*argv, "--no-progress"]) == 0
    out, err = capsys.readouterr()
    assert "(added 0, updated 0, removed 0, kept 2)" in out
    assert "kept 1 document as it was (villes): no reader here reads its file's format" in err


def test_register_refuses_a_class_and_the_jsonl_suffixes() -> None:
    with pytest.raises(ConfigurationError, match=r"not the class _Csv: register\(_Csv\(\)\)"):
        register(_Csv)  # type: ignore[arg-type]
    reader = _Csv(Extracted("x"))
    reader.suffixes = (".csv", ".JSONL")
    with pytest.raises(ConfigurationError, match=r"\.jsonl files are read by ragchips itself"):
        register(reader)
    assert base.reader_for("t.csv") is None  # nothing registered by the refused calls


def test_an_unread_document_keeps_its_doc_id_and_survives_a_rebuild(tmp_path: Path) -> None:
    """A new notes.txt took the doc_id of an unread notes.csv (its document replaced without
    a word), and --full dropped unread documents."""
    from ragchips import Index
    from ragchips.embedding import HashEmbedder

    folder, out = tmp_path / "docs", tmp_path / "i"
    (folder / "a").mkdir(parents=True)
    (folder / "a" / "notes.csv").write_text("ville,pays\nLyon,France\n", encoding="utf-8")
    register(_Csv(Extracted("Lyon est une ville de France.")))
    try:
        Index.sync([folder], out, embedder=HashEmbedder(16))
    finally:
        unregister(".csv")
    (folder / "b").mkdir()
    (folder / "b" / "notes.txt").write_text("Le chien garde la maison.", encoding="utf-8")
    index, report = Index.sync([folder], out, embedder=HashEmbedder(16))
    assert report.unread == ["notes"] and report.added == ["notes~1"] and report.updated == []
    assert index.document("notes").text == "Lyon est une ville de France."
    index, report = Index.sync([folder], out, embedder=HashEmbedder(16), full=True)
    assert report.unread == ["notes"] and report.added == ["notes~1"] and report.kept == 1
    assert index.document("notes").text == "Lyon est une ville de France."
    assert index.search("Lyon ville France", k=1, mode="lexical")[0].doc_id == "notes"


def test_a_jsonl_line_cannot_take_the_doc_id_of_an_unread_document(tmp_path: Path) -> None:
    from ragchips import Index
    from ragchips.embedding import HashEmbedder

    folder, out = tmp_path / "docs", tmp_path / "i"
    folder.mkdir()
    (folder / "notes.csv").write_text("ville,pays\nLyon,France\n", encoding="utf-8")
    register(_Csv(Extracted("Lyon est une ville de France.")))
    try:
        Index.sync([folder], out, embedder=HashEmbedder(16))
    finally:
        unregister(".csv")
    line = '{"id": "notes", "text": "Le chien garde la maison."}\n'
    (folder / "z.jsonl").write_text(line, encoding="utf-8")
    (folder / "ok.txt").write_text("Le chat dort sur le tapis.", encoding="utf-8")
    skipped: list[tuple[str, str]] = []
    for full in (False, True):
        index, report = Index.sync(
            [folder],
            out,
            embedder=HashEmbedder(16),
            full=full,
            on_skip=lambda *s: skipped.append(s),
        )
        assert report.unread == ["notes"] and report.updated == []
        assert report.added == ["ok"]  # new, then rebuilt
        assert index.document("notes").text == "Lyon est une ville de France."
        assert any("doc_id 'notes' already used on another file" in r for _, r in skipped)
