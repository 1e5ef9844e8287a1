"""Every command of the README runs, as written.

Fenced blocks are run by their info string: ``bash`` lines one by one in a shell,
``bash server`` started in the background (and stopped at the end), ``python`` as a script.
The first ``bash`` block (set-up and tests) is what ``.ci/run`` runs; ``bash bench`` blocks
(benchmarks, minutes long) run in ``.ci/run`` too.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"^```([^\n]*)\n(.*?)^```$", README, flags=re.S | re.M)


def env() -> dict[str, str]:
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return {**os.environ, "PATH": path}


def test_first_block_is_setup_then_tests() -> None:
    info, body = BLOCKS[0]
    lines = body.strip().splitlines()
    assert info == "bash" and len(lines) == 2
    assert ".venv" in lines[0] and "pip install" in lines[0] and 'ask "' in lines[0]
    assert "pytest" in lines[1]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "README.md" in ci


def wait_for_health(port: int, proc: subprocess.Popen, deadline_s: float = 90) -> None:
    import httpx

    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError("server did not become healthy")


@pytest.mark.slow
def test_every_readme_command_runs(tmp_path: Path) -> None:
    servers: list[subprocess.Popen] = []
    ran = 0
    try:
        for info, body in BLOCKS[1:]:
            kind = info.strip()
            if kind == "python":
                out = subprocess.run(
                    [sys.executable, "-c", body],
                    cwd=ROOT,
                    env=env(),
                    capture_output=True,
                    text=True,
                    timeout=300,
                )
                assert out.returncode == 0, f"{body}\n{out.stderr}"
                ran += 1
            elif kind == "bash server":
                command = body.strip()
                port = int(re.search(r"--port (\d+)", command).group(1))  # type: ignore[union-attr]
                proc = subprocess.Popen(
                    shlex.split(command),
                    cwd=ROOT,
                    env=env(),
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                servers.append(proc)
                wait_for_health(port, proc)
                ran += 1
            elif kind == "bash":
                for line in body.strip().splitlines():
                    out = subprocess.run(
                        ["bash", "-c", line],
                        cwd=ROOT,
                        env=env(),
                        capture_output=True,
                        text=True,
                        timeout=600,
                    )
                    assert out.returncode == 0, f"{line}\n{out.stderr}"
                    assert out.stdout.strip(), f"{line} printed nothing"
                    ran += 1
    finally:
        for proc in servers:
            proc.terminate()
            proc.wait(timeout=30)
    assert ran >= 10
