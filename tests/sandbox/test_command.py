"""`suite-server sandbox --server-url`: the sandbox reads the server's apps from its database."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import requests

from tests import factories


def run_cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "suite_server.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_sandbox_registers_the_server_apps(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUITE_SERVER_")}
    env["SUITE_SERVER_INSTANCE_PATH"] = str(tmp_path)
    empty = run_cli(env, "sandbox", "--port", "0", "--server-url", "http://127.0.0.1:9")
    assert empty.returncode == 1
    assert empty.stderr.strip() == (
        "Error: the server's database has no apps: add one with `apps add`"
    )
    added = run_cli(
        env,
        "apps",
        "add",
        "wecom",
        "--suite-id",
        "wwfromdb",
        "--secret",
        "s3cret",
        "--token",
        "tok",
        "--aes-key",
        factories.AES_KEY,
        "--provider-corpid",
        "wwprov",
    )
    assert added.returncode == 0, added.stderr

    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "suite_server.cli",
            "sandbox",
            "--port",
            "0",
            "--server-url",
            "http://127.0.0.1:9",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        lines = []
        for line in process.stdout:
            lines.append(line)
            if line.startswith("Sandbox running at"):
                break
        assert "Registered wecom app wwfromdb, pushing to http://127.0.0.1:9\n" in lines
        base = re.search(r"(http://\S+)/sandbox/", lines[-1]).group(1)
        [app] = requests.get(f"{base}/sandbox/apps", timeout=10).json()["apps"]
        assert (app["app_id"], app["provider_corpid"]) == ("wwfromdb", "wwprov")
        assert app["server_url"] == "http://127.0.0.1:9"
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0
