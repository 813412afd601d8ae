"""What `suite-server worker` counts shows on the web's /metrics when both use one
PROMETHEUS_MULTIPROC_DIR: a real worker process on real Redis refreshes tokens against the
sandbox, one of them refused with an errcode, and the web app reads the worker's files."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from suite_server.jobs import runner as job_runner
from tests.ops.test_metrics import scrape, value
from tests.tokens.conftest import child_env, expire, install, token_row

REFUSED = 60020  # WeCom: caller IP not in the whitelist, a "config" refusal: no retry
OK_TENANT, REFUSED_TENANT = "t-metrics-ok", "t-metrics-refused"


def refresh_in_a_worker(app, platform, suite, redis_url, env: dict[str, str], started=None):
    """Install two tenants, expire their tokens, refuse the second one's refresh, and have one
    `suite-server worker --burst` refresh both (`started(pid)` is called once it runs).
    Returns (tenants, the worker's stderr)."""
    tenants = [install(platform, suite, tenant_id) for tenant_id in (OK_TENANT, REFUSED_TENANT)]
    app.config["REDIS_URL"] = redis_url
    app.extensions[job_runner.EXTENSION] = job_runner.RQRunner(redis_url)
    platform.control("faults", endpoint="get_corp_token", tenant_id=REFUSED_TENANT, errcode=REFUSED)
    for tenant in tenants:
        expire(tenant)
        job_runner.enqueue("tokens.refresh_tenant", tenant.id)
    worker = subprocess.Popen(
        [sys.executable, "-m", "suite_server.cli", "worker", "--burst"],
        env={**child_env(app), **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    if started is not None:
        started(worker.pid)
    _, stderr = worker.communicate(timeout=120)
    assert worker.returncode == 0, stderr
    return tenants, stderr


def test_a_worker_s_refreshes_show_on_the_web_s_metrics(
    app, client, platform, suite, redis_url, tmp_path, monkeypatch
):
    directory = tmp_path / "prometheus"
    directory.mkdir()
    variable = {"PROMETHEUS_MULTIPROC_DIR": str(directory)}
    live = []

    def a_live_gauge(pid: int) -> None:
        # What prometheus-client would write for a gauge in a "live" mode: the worker must
        # remove it when it exits (mark_process_dead). Written while the worker starts up.
        live.append(directory / f"gauge_liveall_{pid}.db")
        live[0].write_bytes(b"")

    (ok, refused), stderr = refresh_in_a_worker(
        app, platform, suite, redis_url, variable, a_live_gauge
    )
    assert "PROMETHEUS_MULTIPROC_DIR" not in stderr
    assert not live[0].exists()
    assert token_row(ok).last_error is None
    assert str(REFUSED) in token_row(refused).last_error

    # The worker has exited; what it counted is in its files, and the web app adds them up.
    assert any(name.endswith(".db") for name in os.listdir(directory))
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
    text = scrape(client)
    tenant = f'app_id="{suite.app_id}",token="tenant"'
    assert value(text, f"suite_server_token_refresh_seconds_count{{{tenant}}}") == 1
    assert 0 < value(text, f"suite_server_token_refresh_seconds_sum{{{tenant}}}") < 10
    refreshes = 'suite_server_token_refreshes_total{{app_id="{}",errcode="{}",result="{}",{}}}'
    ok_series = refreshes.format(suite.app_id, "", "ok", 'token="tenant"')
    refused_series = refreshes.format(suite.app_id, REFUSED, "upstream_config", 'token="tenant"')
    assert value(text, ok_series) == 1
    assert value(text, refused_series) == 1
    # The gauges are read at scrape time, as before.
    assert 'suite_server_jobs{queue="default",state="failed"} 0.0' in text


def test_without_the_variable_a_worker_writes_no_files(
    app, client, platform, suite, redis_url, tmp_path
):
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ
    before = scrape(client)
    (ok, refused), stderr = refresh_in_a_worker(app, platform, suite, redis_url, {})
    assert "PROMETHEUS_MULTIPROC_DIR" not in stderr
    assert token_row(ok).last_error is None
    assert str(REFUSED) in token_row(refused).last_error
    # This process's /metrics shows its own counters only, as before: not the worker's.
    ok_series = (
        f'suite_server_token_refreshes_total{{app_id="{suite.app_id}",errcode="",'
        'result="ok",token="tenant"}'
    )
    assert value(scrape(client), ok_series) == value(before, ok_series)


@pytest.mark.parametrize("problem", ["missing", "a file", "read-only"])
def test_an_unusable_directory_is_one_warning_and_counting_goes_on(app, tmp_path, problem):
    directory = tmp_path / "prometheus"
    if problem == "a file":
        directory.write_text("")
    if problem == "read-only":
        if os.geteuid() == 0:
            pytest.skip("root writes to a read-only directory")
        directory.mkdir()
        directory.chmod(0o500)
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(directory),
        "SUITE_SERVER_DATABASE_URL": app.config["DATABASE_URL"],
        "SUITE_SERVER_INSTANCE_PATH": str(tmp_path / "instance"),
        "SUITE_SERVER_ENCRYPTION_KEYS": child_env(app)["SUITE_SERVER_ENCRYPTION_KEYS"],
    }
    script = (
        "from suite_server import create_app\n"
        "client = create_app().test_client()\n"
        "client.post('/callback/wecom/nope/command', data=b'<xml/>')\n"
        "print(client.get('/metrics').get_data(as_text=True))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if "PROMETHEUS_MULTIPROC_DIR" in line]
    assert len(warnings) == 1, done.stderr
    assert str(directory) in warnings[0]
    # Counted in this process's memory instead, as without the variable.
    series = 'suite_server_callbacks_total{app_id="unknown",kind="unknown",result="refused_404"}'
    assert value(done.stdout, series) == 1
