"""`suite-server demo` as a newcomer runs it: a real process, its printed links followed over HTTP,
an install approved on the sandbox's page, Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

from suite_server.sandbox.install_pages import NEW


def start_demo(instance: Path) -> tuple[subprocess.Popen, list[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUITE_SERVER_")}
    env["SUITE_SERVER_INSTANCE_PATH"] = str(instance)
    process = subprocess.Popen(
        [sys.executable, "-m", "suite_server.cli", "demo", "--port", "0", "--sandbox-port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("Admin user:"):
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    assert ready.wait(60), "\n".join(lines)
    return process, lines


def link(lines: list[str], label: str) -> str:
    [line] = [line for line in lines if label in line]
    return re.search(r"https?://\S+", line).group(0)


def install(link_url: str, tenant_id: str) -> requests.Response:
    page = requests.get(link_url, allow_redirects=False, timeout=10)
    assert page.status_code == 302, page.text
    approved = requests.post(
        page.headers["Location"], data={"tenant": NEW, "new_id": tenant_id, "new_name": "Acme"},
        allow_redirects=False, timeout=10,
    )  # fmt: skip
    assert approved.status_code == 302, approved.text
    return requests.get(approved.headers["Location"], timeout=10)


def test_demo_runs_installs_and_stops(tmp_path):
    process, lines = start_demo(tmp_path)
    try:
        output = "\n".join(lines)
        # Tickets pushed by the sandbox and app tokens obtained with them, within seconds.
        assert output.count("ticket received, app token obtained") == 2, output
        assert output.count("/callback/wecom/wwdemosuite/") == output.count(": verified") == 2
        password = re.search(r"one-time password: (\S+)", output).group(1)
        assert len(password) >= 12

        done = install(link(lines, "Install the demo suite"), "wwacme")
        assert done.status_code == 200 and "wwacme" in done.text
        done = install(link(lines, "Authorize the demo component"), "wxacme")
        assert done.status_code == 200 and "wxacme" in done.text
        sandbox = link(lines, "The sandbox")
        assert requests.get(sandbox, timeout=10).status_code == 200
        time.sleep(0.5)  # the Open `authorized` push and its job, after the redirect
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(30)
    assert code == 0
    assert "Stopping the demo." in lines
    assert "Traceback" not in "\n".join(lines)

    env = {k: v for k, v in os.environ.items() if not k.startswith("SUITE_SERVER_")}
    env["SUITE_SERVER_INSTANCE_PATH"] = str(tmp_path)
    env["SUITE_SERVER_DATABASE_URL"] = f"sqlite:///{tmp_path / 'demo.db'}"
    listed = subprocess.run(
        [sys.executable, "-m", "suite_server.cli", "tenants", "list", "--json"],
        capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    tenants = {row["tenant_id"]: row for row in json.loads(listed.stdout)}
    assert tenants["wwacme"]["status"] == tenants["wxacme"]["status"] == "active"
    assert tenants["wwacme"]["app_id"] == "wwdemosuite"
    assert tenants["wxacme"]["app_id"] == "wxdemocomponent"


def test_demo_port_taken_is_one_line(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("SUITE_SERVER_")}
        env["SUITE_SERVER_INSTANCE_PATH"] = str(tmp_path)
        result = subprocess.run(
            [sys.executable, "-m", "suite_server.cli", "demo", "--sandbox-port", str(port)],
            capture_output=True, text=True, env=env, timeout=30,
        )  # fmt: skip
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith(f"Error: sandbox: cannot listen on 127.0.0.1:{port}")
    )
    assert "Traceback" not in result.stderr
