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
