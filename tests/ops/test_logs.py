"""Logs: request ids, JSON lines, and no secret in any line of a whole integration run."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from suite_server import db
from suite_server.db import utcnow
from suite_server.models import AppToken, InboundEvent, TenantToken
from suite_server.ops import logs
from suite_server.tokens import service
from tests.authorization.conftest import drain, push, tenant_of


def test_request_id_is_echoed_and_logged(app, client, caplog):
    caplog.set_level(logging.INFO)
    response = client.post("/callback/wecom/nope/command", headers={"X-Request-Id": "req-42"})
    assert response.headers["X-Request-Id"] == "req-42"
    record = next(r for r in caplog.records if "callback refused" in r.getMessage())
    assert record.request_id == "req-42" and record.app_id == "nope"
    made_up = client.get("/healthz", headers={"X-Request-Id": "bad id with spaces"})
    assert made_up.headers["X-Request-Id"] != "bad id with spaces"


def test_json_lines(app):
    token = logs.CONTEXT.set({"request_id": "r1", "app_id": "wwapp", "job": "events.process"})
    try:
        record = logging.getLogRecordFactory()(
            "suite_server.x", logging.WARNING, __file__, 1, "hello %s", ("w",), None
        )
    finally:
        logs.CONTEXT.reset(token)
    line = json.loads(logs.JsonFormatter().format(record))
    assert line["message"] == "hello w" and line["level"] == "WARNING"
    assert (line["request_id"], line["app_id"], line["job"]) == ("r1", "wwapp", "events.process")


def test_no_secret_in_any_log_line(app, platform, suite, component, caplog):
    """Installs on both platforms, tokens refreshed, messages dispatched: then every line our
    code logged is searched for every secret the run created."""
    caplog.set_level(logging.DEBUG)
    for owner, kind, tenant_id in (
        (suite, "create_auth", "wwsecret"),
        (component, "authorized", "wxsecret"),
    ):
        push(platform, owner, kind, tenant_id=tenant_id)
        drain(app)
        tenant = tenant_of(owner, tenant_id)
        db.session().execute(
            update(TenantToken.__table__)
            .where(TenantToken.tenant_pk == tenant.id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        db.session().commit()
        service.serve_tenant_token(db.session(), tenant)
        platform.control("push", app_id=owner.app_id, kind="text", tenant_id=tenant_id)
        drain(app)

    db.session().expire_all()
    secrets = {suite.secret, suite.aes_key, component.secret, component.aes_key}
    for owner, tenant_id in ((suite, "wwsecret"), (component, "wxsecret")):
        tenant = tenant_of(owner, tenant_id)
        secrets.add(tenant.credential)
        secrets.update(db.session().scalars(select(TenantToken.access_token)))
        secrets.update(db.session().scalars(select(AppToken.access_token)))
    for raw in db.session().scalars(select(InboundEvent.raw).where(InboundEvent.raw != "")):
        secrets.add(raw.split("<Encrypt><![CDATA[")[1].split("]]>")[0])  # the ciphertext
    secrets.discard(None)
    assert len(secrets) >= 10

    lines = [
        logging.Formatter().format(r) + json.dumps(r.__dict__, default=str)
        for r in caplog.records
        if not r.name.startswith("suite_server.sandbox")  # the platform's own logs
    ]
    assert lines
    for secret in secrets:
        leaks = [line for line in lines if secret in line]
        assert not leaks, f"a secret ({len(secret)} chars) is in: {leaks[0][:300]}"


RECORD_START = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ \S")


@pytest.fixture
def text_log(app) -> Iterator[io.StringIO]:
    """Our handler as `suite-server serve` installs it, writing into a string."""
    logs.configure(app)
    root = logging.getLogger()
    handler = next(h for h in root.handlers if getattr(h, logs._MARK, False))
    stream = io.StringIO()
    handler.setStream(stream)
    yield stream
    root.removeHandler(handler)


def test_a_newline_in_a_url_path_cannot_forge_a_log_line(app, client, text_log):
    forged = "2026-01-01 00:00:00,000 ERROR suite_server forged"
    path = "/callback/wecom/ww%0a" + forged.replace(" ", "%20") + "%1b[2J/command"
    assert client.post(path).status_code == 404
    lines = text_log.getvalue().splitlines()
    [refused] = [line for line in lines if "callback refused" in line]
    assert "app_id=ww\\n2026-01-01" in refused and "\\x1b[2J" in refused
    assert all(RECORD_START.match(line) for line in lines), lines
    assert "\x1b" not in text_log.getvalue()


def test_a_traceback_stays_under_its_record(app, text_log):
    try:
        raise ValueError("bad name\n2026-01-01 00:00:00,000 ERROR suite_server forged\x1b[2J")
    except ValueError:
        logging.getLogger("suite_server.test").exception("job failed for %s", "x\ry")
    first, *rest = text_log.getvalue().splitlines()
    assert RECORD_START.match(first) and first.endswith("job failed for x\\ry")
    assert rest and all(line.startswith("    ") for line in rest), rest
    assert "\x1b" not in text_log.getvalue()
    assert rest[-1] == "    2026-01-01 00:00:00,000 ERROR suite_server forged\\x1b[2J"
