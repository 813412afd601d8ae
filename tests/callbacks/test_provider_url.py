"""The provider's system event URL (/callback/wecom/provider/<corpid>): the console's URL check
and pushes encrypted with the provider's own key, stored once before `success`, and delivered to
the provider's webhook; refusals that leave nothing behind."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from sqlalchemy import func, select

from suite_server import apps, db
from suite_server.dispatch import webhooks
from suite_server.jobs import runner as job_runner
from suite_server.models import InboundEvent, WebhookDelivery
from tests import factories
from tests.callbacks import pushes as wire

CORPID = "wwsystemprovider"


def control(sandbox, path, **body):
    response = requests.post(f"{sandbox.base_url}/sandbox/{path}", json=body, timeout=30)
    assert response.status_code in (200, 201), response.text
    return response.json()


@pytest.fixture
def provider(app, live_server, platform_sandbox):
    row = factories.provider(db.session(), corpid=CORPID)
    control(
        platform_sandbox,
        "providers",
        corpid=row.app_id,
        secret=row.secret,
        token=row.token,
        aes_key=row.aes_key,
        server_url=live_server,
    )
    return row


@pytest.fixture
def receiver():
    """A webhook receiver on a free loopback port that keeps the bodies it is sent."""
    bodies: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hook", bodies
    server.shutdown()
    server.server_close()


def events(provider) -> list[InboundEvent]:
    db.session().expire_all()
    return list(
        db.session().scalars(select(InboundEvent).where(InboundEvent.app_pk == provider.id))
    )


def test_the_console_url_check_is_answered(provider, platform_sandbox):
    checked = control(platform_sandbox, "verify_url", app_id=CORPID)
    assert all(check["verified"] for check in checked["checks"]), checked


def test_a_system_event_is_stored_once_and_reaches_the_webhook(
    app, provider, platform_sandbox, receiver, live_server
):
    url, bodies = receiver
    with db.transaction() as session:
        webhooks.configure_app(session, session.merge(provider), url=url)
    pushed = control(
        platform_sandbox,
        f"providers/{CORPID}/push",
        # A system event handed on as it came (license pushes are processed: billing/).
        kind="advanced_api_trial_expired",
        auth_corpid="wwbuyercorp",
        fields={"OrderId": "OI000001", "BuyerUserId": "zhangsan"},
    )
    assert (pushed["delivered"], pushed["body"]) == (True, "success"), pushed
    assert job_runner.get_runner(app).drain(timeout=30)

    [event] = events(provider)
    assert (event.channel, event.kind, event.tenant_id) == (
        "system",
        "advanced_api_trial_expired",
        "wwbuyercorp",
    )
    assert event.receive_id == CORPID and event.status == "done"
    [body] = bodies
    sent = json.loads(body)
    assert (sent["app_id"], sent["tenant_id"], sent["kind"]) == (
        CORPID,
        "wwbuyercorp",
        "advanced_api_trial_expired",
    )
    assert sent["fields"]["OrderId"] == "OI000001"
    assert db.session().scalar(select(func.count()).select_from(WebhookDelivery)) == 1

    # The platform sending the same push again (re-encrypted): stored once, delivered once.
    query, raw = wire.push("wecom", provider.token, provider.aes_key, CORPID, pushed["payload"])
    url = f"{live_server}/callback/wecom/provider/{CORPID}"
    again = requests.post(url, params=query, data=raw.encode(), timeout=10)
    assert (again.status_code, again.text) == (200, "success")
    assert job_runner.get_runner(app).drain(timeout=30)
    assert len(events(provider)) == 1 and len(bodies) == 1


def test_refusals_leave_nothing_behind(app, client):
    suite = factories.wecom_app(db.session(), app_id="wwsuiteonly", provider_corpid=CORPID)
    quiet = factories.provider(db.session(), corpid="wwquietprovider", token=None, aes_key=None)
    message = (
        f"<xml><ServiceCorpId>{CORPID}</ServiceCorpId><InfoType>license_refund</InfoType>"
        "<AuthCorpId>wwx</AuthCorpId><TimeStamp>1</TimeStamp></xml>"
    )
    query, body = wire.push("wecom", suite.token, suite.aes_key, CORPID, message)
    # A suite is not a provider, and a provider not a suite.
    for url in (f"/callback/wecom/provider/{suite.app_id}", "/callback/wecom/provider/wwnone"):
        assert client.post(url, query_string=query, data=body).status_code == 404
    refused = client.post(f"/callback/wecom/{quiet.app_id}/command", query_string=query, data=body)
    assert refused.status_code == 404
    # A provider without the system event URL's Token and key: nothing can verify a push.
    quiet_url = f"/callback/wecom/provider/{quiet.app_id}"
    refused = client.post(quiet_url, query_string=query, data=body)
    assert refused.status_code == 404 and b"not set up" in refused.data
    # Signed with another Token: 403.
    provider = factories.provider(db.session(), corpid=CORPID)
    query, body = wire.push("wecom", "OtherToken", provider.aes_key, CORPID, message)
    bad = client.post(f"/callback/wecom/provider/{CORPID}", query_string=query, data=body)
    assert bad.status_code == 403
    assert db.session().scalar(select(func.count()).select_from(InboundEvent)) == 0


def test_a_key_mismatch_of_a_provider_clears_once_a_push_decrypts(app, client):
    """Providers get no tickets, the proof an app's keys agree again: a push that decrypts is."""
    provider = factories.provider(db.session(), corpid=CORPID)
    message = (
        f"<xml><ServiceCorpId>{CORPID}</ServiceCorpId><InfoType>license_refund</InfoType>"
        "<AuthCorpId>wwx</AuthCorpId><TimeStamp>1</TimeStamp></xml>"
    )
    other_key = "a" * 43
    query, body = wire.push("wecom", provider.token, other_key, CORPID, message)
    url = f"/callback/wecom/provider/{CORPID}"
    assert client.post(url, query_string=query, data=body).status_code == 400
    assert [row.app_id for row in apps.key_mismatches(db.session())] == [CORPID]
    query, body = wire.push("wecom", provider.token, provider.aes_key, CORPID, message)
    assert client.post(url, query_string=query, data=body).data == b"success"
    assert apps.key_mismatches(db.session()) == []
