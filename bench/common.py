"""Helpers shared by the benchmarks: free ports, servers in subprocesses, timed HTTP load."""

from __future__ import annotations

import http.client
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gunicorn(
    target: str,
    env: dict[str, str],
    workers: int = 2,
    output: IO | None = None,
    port: int | None = None,
    reuse_port: bool = False,
) -> tuple[subprocess.Popen, str]:
    """Start `gunicorn target` on `port` (a free loopback port if None); returns the process and
    its base URL. Its output goes to `output` (a file) when given, else to ours. With
    `reuse_port`, several gunicorns share the port (SO_REUSEPORT: the kernel spreads the
    connections among them, as a load balancer would); each runs in its own process group, so
    `os.killpg(process.pid, ...)` reaches its master and workers at once."""
    port = port or free_port()
    command = [
        os.path.join(os.path.dirname(sys.executable), "gunicorn"),
        "--workers",
        str(workers),
        "--bind",
        f"127.0.0.1:{port}",
        "--worker-class",
        "gthread",
        "--threads",
        "4",
        "--log-level",
        "warning",
        *(["--reuse-port"] if reuse_port else []),
        target,
    ]
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=output,
        stderr=output,
        start_new_session=reuse_port,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            requests.get(base + "/healthz", timeout=5)
            return process, base
        except requests.RequestException:  # bound before the workers have booted
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"gunicorn {target} did not start")


@dataclass
class Result:
    count: int
    seconds: float
    latencies: list[float]
    failures: int

    @classmethod
    def combined(cls, results: Sequence[Result]) -> Result:
        """Several runs of the same server as one."""
        return cls(
            sum(r.count for r in results),
            sum(r.seconds for r in results),
            [latency for r in results for latency in r.latencies],
            sum(r.failures for r in results),
        )

    @property
    def rate(self) -> float:
        return self.count / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000

    def line(self, name: str) -> str:
        return (
            f"{name:<10} {self.count} requests in {self.seconds:.2f}s: {self.rate:8.1f}/s  "
            f"p50 {self.percentile(0.50):6.2f} ms  p99 {self.percentile(0.99):6.2f} ms  "
            f"mean {statistics.mean(self.latencies) * 1000:6.2f} ms  failures {self.failures}"
        )


def load(
    base: str, calls: Sequence[tuple[str, str, bytes | None, dict]], concurrency: int
) -> Result:
    """Send each (method, path, body, headers) once over `concurrency` threads, each with one
    keep-alive connection. http.client rather than requests: the client shares the machine's
    two cores with the servers, so it must cost as little as possible. A 2xx is a success."""
    host, port = base.removeprefix("http://").split(":")
    latencies: list[float] = []
    failures = 0
    chunks = [calls[i::concurrency] for i in range(concurrency)]

    def worker(chunk):
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        mine, bad = [], 0
        for method, path, body, headers in chunk:
            started = time.perf_counter()
            try:
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                bad += not 200 <= response.status < 300
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = http.client.HTTPConnection(host, int(port), timeout=30)
                bad += 1
            mine.append(time.perf_counter() - started)
        connection.close()
        return mine, bad

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        for mine, bad in pool.map(worker, chunks):
            latencies += mine
            failures += bad
    return Result(len(calls), time.perf_counter() - started, latencies, failures)
