"""The one-time auth_code of an install redirect never reaches an access log: neither werkzeug's
(`suite-server serve`) nor gunicorn's (`gunicorn wsgi:app --access-logfile -`), run for real."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests
from werkzeug.serving import make_server

from suite_server.ops.access_log import mask

ROOT = Path(__file__).resolve().parent.parent
CODE = "queryauthcode@@OneTime42"
DONE = f"/install/wwnoapp/done?state=s1&auth_code={CODE}&expires_in=600"


def test_mask_keeps_the_rest_of_the_line():
    line = f'"GET {DONE} HTTP/1.1" 400 -'
    masked = "/install/wwnoapp/done?state=s1&auth_code=***&expires_in=600"
    assert mask(line) == f'"GET {masked} HTTP/1.1" 400 -'
    assert mask("/x?auth%5Fcode=abc") == "/x?auth%5Fcode=***"
    assert mask("/x?code=abc&pre_auth_code=def") == "/x?code=abc&pre_auth_code=***"


def test_the_development_server_log_masks_the_auth_code(app, caplog):
    caplog.set_level(logging.INFO, logger="werkzeug")
    server = make_server("127.0.0.1", 0, app, threaded=True)  # werkzeug's own request log
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        requests.get(base + DONE, timeout=5)
        requests.get(base + "/healthz", headers={"Referer": base + DONE}, timeout=5)
    finally:
        server.shutdown()
        thread.join()
    lines = [r.getMessage() for r in caplog.records if r.name == "werkzeug"]
    assert any("/install/wwnoapp/done?state=s1&auth_code=***&expires_in=600" in x for x in lines)
    assert CODE not in caplog.text


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_gunicorn_access_log_masks_the_auth_code(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUITE_SERVER_")}
    env["SUITE_SERVER_INSTANCE_PATH"] = str(tmp_path)
    # The request line, the query string and the Referer, as an operator might log them.
    log_format = '%(h)s "%(r)s" %(s)s q=%(q)s "%(f)s" %({referer}i)s'
    gunicorn = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "wsgi:app",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--access-logfile",
            str(tmp_path / "access.log"),
            "--access-logformat",
            log_format,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(base + "/healthz", timeout=10)  # the worker may still be booting
                break
            except (requests.ConnectionError, requests.Timeout):
                assert gunicorn.poll() is None, gunicorn.stderr.read().decode()
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
        requests.get(base + DONE, timeout=5)
        requests.get(base + "/healthz", headers={"Referer": base + DONE}, timeout=5)
    finally:
        gunicorn.terminate()
        gunicorn.wait(timeout=30)
    written = (tmp_path / "access.log").read_text()
    assert CODE not in written
    done = [line for line in written.splitlines() if "/install/wwnoapp/done" in line]
    assert len(done) == 2  # the request, then the one that had it as its Referer
    assert "GET /install/wwnoapp/done?state=s1&auth_code=***&expires_in=600 HTTP/1.1" in done[0]
    assert "q=state=s1&auth_code=***&expires_in=600" in done[0]
    assert done[1].count("/install/wwnoapp/done?state=s1&auth_code=***&expires_in=600") == 2
