"""``python -m ragchips.server`` as a real process on a free loopback port, for the tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
STARTUP_DEADLINE_S = 45.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without any ragchips or OpenAI setting, plus ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("RAGCHIPS_", "OPENAI_")) or k == "RAGCHIPS_E5_ENGINE"
    }
    env.update(extra or {})
    return env


@contextmanager
def running_server(
    index: Path,
    log: Path,
    env: dict[str, str] | None = None,
    args: list[str] | None = None,
    headers: dict[str, str] | None = None,
) -> Iterator[str]:
    """The service on a free port with ``args``; yields its base URL once /health is up."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "ragchips.server", "--index", str(index), "--port", str(port)]
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [*cmd, "--no-access-log", *(args or [])],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env=env if env is not None else server_env(),
        )
    try:
        deadline = time.monotonic() + STARTUP_DEADLINE_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"server exited with {proc.returncode}:\n{log.read_text()}")
            try:
                if httpx.get(url + "/health", timeout=2, headers=headers).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"server not up after {STARTUP_DEADLINE_S} s:\n{log.read_text()}")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
