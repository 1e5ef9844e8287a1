"""Throughput and latency of the HTTP service, on this machine. Prints a table; a script.

Starts ``python -m ragchips.server`` on a free loopback port (or uses ``--url``), then
sends ``POST /ask`` with the seeds gold questions from 1, 8 and 32 concurrent clients
(threads, one httpx connection each, each from its own loopback address 127.0.1.n, so
the server's per-client limit sees 32 clients, not one), each level bounded by
``--requests`` and ``--seconds``. Every non-200 reply (a 429 included) or transport
error is counted; zero is expected.

.venv/bin/python tests/bench/bench_server.py
.venv/bin/python tests/bench/bench_server.py --workers 2
.venv/bin/python tests/bench/bench_server.py --clients 1,8,32 --requests 300 --slots 4
.venv/bin/python tests/bench/bench_server.py --url http://127.0.0.1:8000   # a running server
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from _common import QUESTIONS, ROOT, pct


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    index: str | None, slots: int | None, workers: int, log_path: Path
) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [sys.executable, "-m", "ragchips.server", "--port", str(port), "--no-access-log"]
    cmd += ["--workers", str(workers)]
    if index:
        cmd += ["--index", index]
    env = dict(os.environ)
    if slots:
        env["RAGCHIPS_SERVER_CONCURRENCY"] = str(slots)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"server exited with {proc.returncode}:\n{log_path.read_text()}")
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    proc.kill()
    sys.exit(f"server not up after 60 s:\n{log_path.read_text()}")


def run_level(url: str, clients: int, max_requests: int, max_seconds: float) -> dict[str, float]:
    """``clients`` threads asking in a loop until ``max_requests`` or ``max_seconds``."""
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[str] = []
    issued = 0
    deadline = time.monotonic() + max_seconds

    def worker(n: int) -> None:
        nonlocal issued
        transport = httpx.HTTPTransport(local_address=f"127.0.1.{n + 1}")
        with httpx.Client(base_url=url, timeout=60, transport=transport) as client:
            while time.monotonic() < deadline:
                with lock:
                    if issued >= max_requests:
                        return
                    n = issued
                    issued += 1
                question = QUESTIONS[n % len(QUESTIONS)]
                t = time.perf_counter()
                try:
                    r = client.post("/ask", json={"question": question})
                    ok = r.status_code == 200 and "passages" in r.json()
                    problem = "" if ok else f"HTTP {r.status_code}"
                except httpx.HTTPError as exc:
                    problem = f"{type(exc).__name__}: {exc}"
                elapsed = time.perf_counter() - t
                with lock:
                    if problem:
                        errors.append(problem)
                    else:
                        latencies.append(elapsed)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    for e in sorted(set(errors))[:5]:
        print(f"  error ({errors.count(e)}x): {e}", file=sys.stderr)
    return {
        "clients": clients,
        "requests": len(latencies) + len(errors),
        "errors": len(errors),
        "rps": len(latencies) / wall if wall else 0.0,
        "p50": pct(latencies, 0.50) * 1000 if latencies else float("nan"),
        "p99": pct(latencies, 0.99) * 1000 if latencies else float("nan"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description="Benchmark POST /ask of the ragchips service.")
    parser.add_argument("--url", help="benchmark this running server instead of starting one")
    parser.add_argument("--index", help="index to serve (default: the bundled seeds)")
    parser.add_argument("--clients", default="1,8,32", help="concurrency levels (default 1,8,32)")
    parser.add_argument("--requests", type=int, default=200, help="requests per level (max)")
    parser.add_argument("--seconds", type=float, default=30.0, help="seconds per level (max)")
    parser.add_argument(
        "--slots", type=int, help="server retrieval slots ($RAGCHIPS_SERVER_CONCURRENCY)"
    )
    parser.add_argument("--workers", type=int, default=1, help="server processes (default 1)")
    args = parser.parse_args()
    levels = [int(x) for x in args.clients.split(",") if x.strip()]

    proc = None
    url = args.url
    with tempfile.TemporaryDirectory() as tmp:
        if url is None:
            proc, url = start_server(args.index, args.slots, args.workers, Path(tmp) / "server.log")
        try:
            with httpx.Client(base_url=url, timeout=60) as c:
                for q in QUESTIONS[:5]:  # warm-up
                    c.post("/ask", json={"question": q}).raise_for_status()
                health = c.get("/health").json()
            rows = [run_level(url, n, args.requests, args.seconds) for n in levels]
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=20)

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"POST /ask on {health['index']} ({health['passages']} passages); {os.cpu_count()} CPUs, "
        f"load average {load:.1f}; server slots: {args.slots or 'default'}; "
        f"workers: {args.workers if args.url is None else '?'}"
    )
    print()
    print("| clients | requests | errors | requests/s | p50 (ms) | p99 (ms) |")
    print("|--------:|---------:|-------:|-----------:|---------:|---------:|")
    for r in rows:
        print(
            f"| {r['clients']} | {r['requests']} | {r['errors']} | {r['rps']:.1f} "
            f"| {r['p50']:.0f} | {r['p99']:.0f} |"
        )
    total_errors = sum(int(r["errors"]) for r in rows)
    print(f"\nerrors: {total_errors}")
    return 1 if total_errors else 0


if __name__ == "__main__":
    sys.exit(main())
