"""GET /metrics: the series move as pushes arrive, tenants install and tokens refresh."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from sqlalchemy import update

from suite_server import db
from suite_server.db import utcnow
from suite_server.models import TenantToken
from suite_server.tokens import service
from tests.authorization.conftest import drain, push, tenant_of
from tests.conftest import TEST_KEY


def value(text: str, series: str) -> float:
    """The value of one series line (name and labels exactly as printed), 0 when absent."""
    match = re.search(rf"^{re.escape(series)} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def scrape(client) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    return response.get_data(as_text=True)


def test_series_move_during_a_run(app, client, platform, suite):
    before = scrape(client)
    series = 'suite_server_callbacks_total{{app_id="{}",kind="{}",result="{}"}}'
    stored = series.format(suite.app_id, "create_auth", "stored")
    refreshes = (
        f'suite_server_token_refreshes_total{{app_id="{suite.app_id}",errcode="",result="ok",'
        'token="tenant"}'
    )
    latency = f'suite_server_token_refresh_seconds_count{{app_id="{suite.app_id}",token="tenant"}}'
    push(platform, suite, "create_auth", tenant_id="wwmetrics")
    drain(app)
    tenant = tenant_of(suite, "wwmetrics")
    db.session().execute(
        update(TenantToken.__table__)
        .where(TenantToken.tenant_pk == tenant.id)
        .values(expires_at=utcnow() - timedelta(seconds=1))
    )
    db.session().commit()
    after_expiry = scrape(client)
    assert value(after_expiry, "suite_server_tokens_expiring") == 1
    service.serve_tenant_token(db.session(), tenant)
    client.post(f"/callback/wecom/{suite.app_id}/command", data=b"<xml/>")  # refused: 400
    after = scrape(client)

    assert value(after, stored) == value(before, stored) + 1
    assert value(after, refreshes) == value(before, refreshes) + 1
    assert value(after, latency) == value(before, latency) + 1
    assert value(after, 'suite_server_tenants{status="active"}') == 1
    assert value(after, "suite_server_tokens_expiring") == 0
    assert 0 <= value(after, f'suite_server_ticket_age_seconds{{app_id="{suite.app_id}"}}') < 60
    refused = series.format(suite.app_id, "unknown", "refused_400")
    assert value(after, refused) == value(before, refused) + 1
    assert value(after, 'suite_server_callback_seconds_count{channel="command"}') > value(
        before, 'suite_server_callback_seconds_count{channel="command"}'
    )
    assert 'suite_server_job_queue_depth{queue="default"}' in after
    assert 'suite_server_jobs{queue="low",state="waiting"}' in after


def test_an_unknown_app_does_not_mint_series(client):
    client.post("/callback/wecom/made-up-123/command", data=b"<xml/>")
    assert "made-up-123" not in scrape(client)


def test_multiprocess_mode_adds_up_processes(app, tmp_path):
    """Under gunicorn: PROMETHEUS_MULTIPROC_DIR set, each process writes its own file."""
    (tmp_path / "prometheus").mkdir()
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
        "SUITE_SERVER_DATABASE_URL": app.config["DATABASE_URL"],
        "SUITE_SERVER_INSTANCE_PATH": str(tmp_path / "instance"),
        "SUITE_SERVER_ENCRYPTION_KEYS": TEST_KEY,
    }
    script = (
        "from suite_server import create_app\n"
        "app = create_app()\n"
        "client = app.test_client()\n"
        "client.post('/callback/wecom/nope/command', data=b'<xml/>')\n"
        "answer = client.get('/metrics')\n"
        "assert answer.status_code == 200, answer.status_code\n"
        "print(answer.get_data(as_text=True))\n"
    )
    outputs = [
        subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
        ).stdout
        for _ in range(2)
    ]
    series = 'suite_server_callbacks_total{app_id="unknown",kind="unknown",result="refused_404"}'
    assert value(outputs[0], series) == 1
    assert value(outputs[1], series) == 2  # the first process's count is still there


def test_refusals_before_the_app_is_known_mint_no_series(app, client):
    """Whatever id a request makes up, a refusal is counted under "unknown": 413 and 400 come
    before the app is looked up no more."""
    from tests import factories

    factories.open_app(db.session(), app_id="wxreal")
    series = 'suite_server_callbacks_total{app_id="wxreal",kind="unknown",result="refused_400"}'
    before = value(scrape(client), series)
    too_big = b"<xml>" + b"a" * (1024 * 1024 + 1) + b"</xml>"
    client.post("/callback/wecom/made-up-413/command", data=too_big)
    client.post(f"/callback/open/made-up-400/msg/{'x' * 65}", data=b"<xml/>")
    client.post("/callback/open/made-up-nul%00/auth", data=b"<xml/>")
    client.post(f"/callback/open/wxreal/msg/{'x' * 65}", data=b"<xml/>")  # a known app: counted
    text = scrape(client)
    assert "made-up" not in text
    assert value(text, series) == before + 1


def test_metrics_can_require_a_bearer_token(database, tmp_path):
    from tests.conftest import make_app

    app = make_app(tmp_path, database.for_test(tmp_path), METRICS_TOKEN="scrape-me-7f3a")
    with app.app_context():
        client = app.test_client()
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "scrape-me-7f3a"}):
            answer = client.get("/metrics", headers=headers)
            assert answer.status_code == 401
            assert answer.headers["WWW-Authenticate"].startswith("Bearer")
            assert b"suite_server" not in answer.data
        answer = client.get("/metrics", headers={"Authorization": "Bearer scrape-me-7f3a"})
        assert answer.status_code == 200 and b"suite_server_tenants" in answer.data
    db.dispose(app)
    database.clean()


def test_metrics_token_from_the_environment_stays_a_string(database, tmp_path, monkeypatch):
    from tests.conftest import make_app

    monkeypatch.setenv("SUITE_SERVER_METRICS_TOKEN", "12345")  # JSON-decodes to a number
    app = make_app(tmp_path, database.for_test(tmp_path))
    with app.app_context():
        answer = app.test_client().get("/metrics", headers={"Authorization": "Bearer 12345"})
        assert answer.status_code == 200
    db.dispose(app)
    database.clean()


def test_docs_list_every_series(client):
    """docs/metrics.md has a row for each suite_server_* family /metrics shows, and no other."""
    page = (Path(__file__).resolve().parents[2] / "docs" / "metrics.md").read_text("utf-8")
    documented = set(re.findall(r"^\| `(suite_server_[a-z_]+)` \|", page, re.MULTILINE))
    shown = set(re.findall(r"^# TYPE (suite_server_[a-z_]+) ", scrape(client), re.MULTILINE))
    shown = {name for name in shown if not name.endswith("_created")}  # prometheus-client's own
    assert documented == shown
