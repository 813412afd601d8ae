"""`gunicorn wsgi:app` as an operator starts it: a process that cannot serve says why in one line
and stops, instead of a traceback and a worker booted again and again."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]


def gunicorn(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SUITE_SERVER_")}
    environment.update({"SUITE_SERVER_INSTANCE_PATH": str(tmp_path), **env})
    script = os.path.join(os.path.dirname(sys.executable), "gunicorn")
    return subprocess.run(
        [script, "--chdir", str(ROOT), "--bind", "127.0.0.1:0", "--workers", "1", "wsgi:app"],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
    )


def test_missing_production_settings_are_one_line(tmp_path):
    result = gunicorn(tmp_path, {"SUITE_SERVER_ENV": "production"})
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Traceback" not in output
    reasons = [line for line in output.splitlines() if "refuses to start" in line]
    assert reasons == [
        "suite-server: production refuses to start without SUITE_SERVER_SECRET_KEY, "
        "SUITE_SERVER_ENCRYPTION_KEYS, SUITE_SERVER_DATABASE_URL"
    ]


def test_an_unreachable_database_is_one_line(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        "SUITE_SERVER_ENV": "production",
        "SUITE_SERVER_SECRET_KEY": "x" * 32,
        "SUITE_SERVER_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "SUITE_SERVER_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{port}/none",
    }
    result = gunicorn(tmp_path, env)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Traceback" not in output
    [reason] = [line for line in output.splitlines() if line.startswith("suite-server: ")]
    assert reason.startswith("suite-server: database: ") and "refused" in reason


def test_an_old_schema_stops_gunicorn_instead_of_booting_workers_forever(postgres, tmp_path):
    env = {
        "SUITE_SERVER_ENV": "production",
        "SUITE_SERVER_SECRET_KEY": "x" * 32,
        "SUITE_SERVER_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "SUITE_SERVER_DATABASE_URL": postgres.empty_url(tmp_path),
    }
    result = gunicorn(tmp_path, env)  # used to run until killed, booting worker after worker
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Traceback" not in output
    reasons = [line for line in output.splitlines() if "not up to date" in line]
    assert reasons == ["suite-server: database is not up to date: run `suite-server db upgrade`"]
