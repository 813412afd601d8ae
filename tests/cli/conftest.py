"""The CLI's own tests: the sandbox-backed apps of the authorization tests, the webhook receivers
of the dispatch tests, and the real program run as a subprocess, on a terminal or not."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from flask import Flask

from tests.authorization.conftest import component, platform, suite  # noqa: F401
from tests.conftest import TEST_KEY
from tests.dispatch.conftest import receivers  # noqa: F401


def environment(app: Flask, instance: Path) -> dict[str, str]:
    """The settings that point the real program at this test's database and sandbox."""
    return {
        **os.environ,
        "SUITE_SERVER_DATABASE_URL": app.config["DATABASE_URL"],
        "SUITE_SERVER_ENCRYPTION_KEYS": TEST_KEY,
        "SUITE_SERVER_SECRET_KEY": "test-secret-key",
        "SUITE_SERVER_INSTANCE_PATH": str(instance),
        "SUITE_SERVER_WECOM_API_BASE": app.config["WECOM_API_BASE"],
        "SUITE_SERVER_WECHAT_API_BASE": app.config["WECHAT_API_BASE"],
    }


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


def command(env: dict[str, str], *args: str, terminal: bool, timeout: float = 60) -> Ran:
    """`suite-server ARGS` with its stderr on a pseudo-terminal (terminal=True) or a pipe; its
    stdout is always a pipe. A pty's line discipline turns "\\n" into "\\r\\n": compare lines."""
    argv = [sys.executable, "-m", "suite_server.cli", *args]
    if not terminal:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)
        return Ran(done.returncode, done.stdout, done.stderr)
    master, slave = os.openpty()
    process = subprocess.Popen(
        argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave
    )
    os.close(slave)  # the child holds the only copy: reading ends in EIO once it exits
    seen, deadline = bytearray(), time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if not ready:
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the terminal's other side is closed
                break
            if not chunk:
                break
            seen += chunk
        stdout = process.communicate(timeout=max(deadline - time.monotonic(), 1))[0]
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()
            process.wait()
    return Ran(process.returncode, stdout.decode(), seen.decode())
