"""OS errors become one line a user can act on."""

from __future__ import annotations

import errno

import pytest

from ragchips.errors import describe_os_error


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (errno.EACCES, "permission denied: idx/writer.lock"),
        (errno.EROFS, "read-only file system: idx/writer.lock"),
        (errno.ENOSPC, "no space left on the device while writing idx/writer.lock"),
        (errno.ENOTDIR, "not a folder: idx/writer.lock"),
    ],
)
def test_known_errors_name_the_path_without_errno(code: int, words: str) -> None:
    message = describe_os_error(OSError(code, "raw", "idx/writer.lock"))
    assert message.startswith(words)
    assert "Errno" not in message and "\n" not in message


def test_unknown_errors_keep_the_system_wording() -> None:
    assert describe_os_error(OSError(errno.EIO, "Input/output error", "d")) == (
        "Input/output error: d"
    )
    assert describe_os_error(OSError("something odd")) == "something odd"
