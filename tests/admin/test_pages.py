"""The admin pages with the Flask test client: every page needs a session, every POST a CSRF
token; the pages show what is stored (never a secret); the actions that need no platform write
what they change and an audit entry."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import insert, select

from suite_server import db
from suite_server.db import utcnow
from suite_server.models import (
    App,
    AuditEntry,
    InboundEvent,
    Tenant,
    TenantHistory,
    TenantToken,
    Ticket,
    WebhookAttempt,
    WebhookDelivery,
)
from tests import factories
from tests.admin.conftest import USERNAME, csrf_token, post

PAYLOAD = (
    "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[user-openid]]>"
    "</FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType>"
    "<Content><![CDATA[hello <b>world</b>]]></Content><MsgId>42</MsgId></xml>"
)


@dataclass
class World:
    suite: App
    component: App
    tenant: Tenant
    reauth: Tenant
    event: InboundEvent
    delivery: WebhookDelivery


@pytest.fixture
def world(app) -> World:
    session = db.session()
    suite = factories.wecom_app(session, app_id="wwsuite", name="Suite One")
    component = factories.open_app(session, app_id="wxcomp", name="Component One")
    tenant = factories.tenant(
        session,
        suite,
        tenant_id="wwcorp1",
        name="Acme Corp",
        auth_info={
            "auth_corp_info": {"corpid": "wwcorp1", "corp_name": "Acme Corp"},
            "auth_info": {"agent": [{"agentid": 1000012, "name": "Helpdesk"}]},
        },
    )
    reauth = factories.tenant(
        session,
        component,
        tenant_id="wxaccount1",
        name="Blog",
        status="needs_reauth",
        status_reason="api_authorizer_token: 61023 invalid refresh token",
        auth_info={"authorizer_info": {"nick_name": "Blog"}, "func_info": []},
    )
    now = utcnow()
    session.add(
        TenantToken(
            tenant_pk=tenant.id,
            access_token="corp-access-token-secret",
            version=1,
            obtained_at=now - timedelta(minutes=5),
            expires_at=now + timedelta(minutes=115),
            last_error="get_corp_token: -1 system busy",
            last_error_at=now,
        )
    )
    session.add(
        Ticket(app_pk=suite.id, value="ticket", value_hash="h", pushed_at=now, received_at=now)
    )
    event = InboundEvent(
        app_pk=component.id,
        tenant_id="wxaccount1",
        channel="msg",
        kind="text",
        dedupe_key="msgid:42",
        raw="<xml>...</xml>",
        payload=PAYLOAD,
        status="failed",
        attempts=1,
        error="ValueError: handler broke",
    )
    session.add(event)
    session.flush()
    delivery = WebhookDelivery(
        event_pk=event.id,
        app_pk=component.id,
        tenant_id="wxaccount1",
        url="https://hooks.example.com/in",
        body='{"id": "evt_1"}',
        status="failed",
        attempts=1,
        last_error="HTTP 500",
    )
    session.add(delivery)
    session.flush()
    session.add(
        WebhookAttempt(
            delivery_pk=delivery.id,
            status_code=500,
            latency_ms=12,
            response_excerpt="Internal Server Error",
            error="HTTP 500",
        )
    )
    session.commit()
    return World(suite, component, tenant, reauth, event, delivery)


def pages(w: World) -> list[str]:
    return [
        "/admin/",
        "/admin/at-risk",
        "/admin/tenants",
        "/admin/tenants?q=acme&status=active&app=wwsuite",
        "/admin/tenants/wwsuite/wwcorp1",
        "/admin/tenants/wxcomp/wxaccount1",
        "/admin/events",
        "/admin/events?status=failed&app=wxcomp&tenant=wxaccount1&kind=text",
        f"/admin/events/{w.event.id}",
        "/admin/webhooks",
        f"/admin/webhooks/{w.delivery.id}",
        "/admin/apps",
        "/admin/apps/wwsuite",
        "/admin/apps/wxcomp",
        "/admin/audit",
    ]


def actions(w: World) -> list[str]:
    return [
        "/admin/logout",
        "/admin/tenants/wwsuite/wwcorp1/refresh-token",
        "/admin/tenants/wwsuite/wwcorp1/reread-auth-info",
        "/admin/tenants/wwsuite/wwcorp1/deactivate",
        "/admin/tenants/wxcomp/wxaccount1/reactivate",
        f"/admin/events/{w.event.id}/reprocess",
        f"/admin/webhooks/{w.delivery.id}/redeliver",
        "/admin/apps/wwsuite/settings",
        "/admin/apps/wwsuite/rotate-aes-key",
        "/admin/apps/wwsuite/webhook",
    ]


def audit_log() -> list[tuple[str, str, str]]:
    db.session().expire_all()
    entries = db.session().scalars(select(AuditEntry).order_by(AuditEntry.id))
    return [(e.actor, e.action, e.target) for e in entries]


# -- permissions -------------------------------------------------------------------------------


def test_every_page_sends_a_visitor_without_session_to_login(client, world):
    for page in pages(world):
        response = client.get(page)
        assert response.status_code == 302, page
        assert response.headers["Location"].startswith("/admin/login?next="), page


def test_every_action_needs_a_session_even_with_a_valid_token(client, world):
    token = csrf_token(client, "/admin/login")
    for action in actions(world):
        response = client.post(action, data={"csrf_token": token})
        assert response.status_code == 302, action
        assert response.headers["Location"].startswith("/admin/login"), action
    assert audit_log() == []
    db.session().expire_all()
    assert db.session().get(Tenant, world.tenant.id).status == "active"


def test_every_action_without_a_csrf_token_is_refused(signed_in, world):
    aes_key = world.suite.aes_key
    for action in actions(world):
        response = signed_in.post(action, data={"reason": "x", "name": "Renamed"})
        assert response.status_code == 400, action
        assert "security token" in response.get_data(as_text=True)
    db.session().expire_all()
    assert db.session().get(Tenant, world.tenant.id).status == "active"
    assert db.session().get(App, world.suite.id).aes_key == aes_key
    assert db.session().get(App, world.suite.id).name == "Suite One"
    assert [a for _, a, _ in audit_log()] == ["login"]


def test_every_action_answers_with_a_redirect_to_a_page(signed_in, world):
    """Post/redirect/get: a reload of the page shown after an action never repeats it. (The
    actions that call the platform are in test_actions.py, against the sandbox.)"""
    tenant = "/admin/tenants/wwsuite/wwcorp1"
    for page, action, data in [
        (tenant, f"{tenant}/deactivate", {}),
        (tenant, f"{tenant}/deactivate", {"confirm": "yes", "reason": "x" * 300}),  # refused
        (f"/admin/events/{world.event.id}", f"/admin/events/{world.event.id}/reprocess", {}),
        (
            f"/admin/webhooks/{world.delivery.id}",
            f"/admin/webhooks/{world.delivery.id}/redeliver",
            {},
        ),
        ("/admin/apps/wwsuite", "/admin/apps/wwsuite/settings", {"name": "Renamed"}),
        ("/admin/apps/wwsuite", "/admin/apps/wwsuite/settings", {"landing_url": "nope"}),
        ("/admin/apps/wwsuite", "/admin/apps/wwsuite/rotate-aes-key", {}),
        (
            "/admin/apps/wwsuite",
            "/admin/apps/wwsuite/rotate-aes-key",
            {"confirm": "yes", "key": "0" * 16},
        ),  # refused: not the current key
        ("/admin/apps/wwsuite", "/admin/apps/wwsuite/webhook", {"url": "https://h.example/"}),
        ("/admin/account", "/admin/account/password", {"current": "x", "new": "y"}),
        ("/admin/", "/admin/logout", {}),
    ]:
        response = post(signed_in, page, action, **data)
        assert response.status_code == 303, (action, data, response.status_code)
        assert response.headers["Location"].startswith("/admin/"), action
        assert signed_in.get(response.headers["Location"]).status_code in (200, 302), action


def test_the_login_page_and_the_stylesheet_need_no_session(client):
    assert client.get("/admin/login").status_code == 200
    css = client.get("/admin/static/admin.css")
    assert css.status_code == 200 and "text/css" in css.content_type


def test_pages_are_not_cached_or_framed(signed_in, world):
    response = signed_in.get("/admin/")
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


# -- what the pages show -----------------------------------------------------------------------


def test_every_page_renders_and_no_secret_is_on_any(signed_in, world):
    secrets = [
        "suite-secret-value",
        "component-secret-value",
        factories.AES_KEY,
        "QDG6eK",
        "permanent-code-value",
        "corp-access-token-secret",
    ]
    for page in pages(world):
        response = signed_in.get(page)
        assert response.status_code == 200, page
        body = response.get_data(as_text=True)
        for secret in secrets:
            assert secret not in body, (page, secret)


def test_dashboard_shows_each_app_with_its_counts(signed_in, world):
    body = signed_in.get("/admin/").get_data(as_text=True)
    suite = body[body.index('id="app-wwsuite"') : body.index('id="app-wxcomp"')]
    component = body[body.index('id="app-wxcomp"') :]
    assert "1 active" in suite and "0 needs_reauth" in suite
    assert "1 token refreshes" in suite and "1 failures" in suite
    assert "1 needs_reauth" in component and "1 failed" in component
    assert "1 failing" in component
    assert "never received" in component  # no ticket: shown as a problem
    assert re.search(r'class="bad">\s*never received', component)
    assert re.search(r'class="ok">\s*0s old|class="ok">\s*\d+s old', suite)


def test_at_risk_lists_what_needs_a_person(signed_in, world, app):
    body = signed_in.get("/admin/at-risk").get_data(as_text=True)
    assert "wxcomp" in body and "never received" in body  # stale ticket
    # The needs_reauth tenant with a fresh authorization link to send it.
    assert f'value="{app.config["PUBLIC_URL"]}/install/wxcomp"' in body
    assert "61023 invalid refresh token" in body
    assert "get_corp_token: -1 system busy" in body  # a token whose last refresh failed
    assert f"/admin/events/{world.event.id}" in body and "handler broke" in body
    assert f"/admin/webhooks/{world.delivery.id}" in body and "HTTP 500" in body


def test_tenant_page_shows_info_token_and_credential_presence(signed_in, world):
    body = signed_in.get("/admin/tenants/wwsuite/wwcorp1").get_data(as_text=True)
    assert "Acme Corp" in body and "Helpdesk" in body and "1000012" in body
    assert re.search(r'id="credential"[^>]*>present<', body)
    # On the admin's clock (Asia/Shanghai by default), UTC on hover.
    assert re.search(
        r'id="token-expires"><time datetime="[^"]+Z" title="\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC'
        r' · in [^"]+">\d{4}-\d\d-\d\d \d\d:\d\d:\d\d</time><',
        body,
    )
    assert "get_corp_token: -1 system busy" in body
    reauth = signed_in.get("/admin/tenants/wxcomp/wxaccount1").get_data(as_text=True)
    assert "needs_reauth" in reauth and "61023" in reauth and "/install/wxcomp" in reauth
    assert f"/admin/events/{world.event.id}" in reauth  # its recent events
    assert f"/admin/webhooks/{world.delivery.id}" in reauth  # and deliveries
    assert 'id="install-ref"' not in body  # installed without a ref

    world.tenant.install_ref, world.tenant.install_ref_from = "cust-<42>", "query"
    db.session().commit()
    body = signed_in.get("/admin/tenants/wwsuite/wwcorp1").get_data(as_text=True)
    assert "<code>cust-&lt;42&gt;</code>" in body and "anyone may have written it" in body


def test_unknown_things_are_404(signed_in, world):
    for page in [
        "/admin/tenants/wwsuite/nobody",
        "/admin/events/999999",
        "/admin/webhooks/999",
        "/admin/apps/nope",
    ]:
        assert signed_in.get(page).status_code == 404, page


def test_event_page_shows_the_decrypted_payload_pretty_printed(signed_in, world):
    body = signed_in.get(f"/admin/events/{world.event.id}").get_data(as_text=True)
    assert "<pre" in body
    # Indented, one field per line, and escaped: the user's text is shown, never run.
    assert "\n  &lt;MsgType&gt;text&lt;/MsgType&gt;" in body
    assert "hello &amp;lt;b&amp;gt;world" in body or "hello &lt;b&gt;world" in body
    assert "<b>world</b>" not in body
    assert "handler broke" in body and "Re-process" in body


def test_delivery_page_shows_attempts_and_redeliver(signed_in, world):
    body = signed_in.get(f"/admin/webhooks/{world.delivery.id}").get_data(as_text=True)
    assert "Internal Server Error" in body and "12 ms" in body and "Redeliver" in body


def test_console_urls_are_exact_and_copy_ready(signed_in, world, app):
    base = app.config["PUBLIC_URL"]
    suite = signed_in.get("/admin/apps/wwsuite").get_data(as_text=True)
    for url in (f"{base}/callback/wecom/wwsuite/command", f"{base}/callback/wecom/wwsuite/data"):
        assert f'readonly value="{url}"' in suite
    component = signed_in.get("/admin/apps/wxcomp").get_data(as_text=True)
    assert f'readonly value="{base}/callback/open/wxcomp/auth"' in component
    assert f'readonly value="{base}/callback/open/wxcomp/msg/$APPID$"' in component


# -- tenant list -------------------------------------------------------------------------------


def test_tenant_search_filters_and_keyset_pages(signed_in, world):
    session = db.session()
    now = utcnow()
    session.execute(
        insert(Tenant.__table__),
        [
            {
                "app_pk": world.suite.id,
                "tenant_id": f"wwbulk{i:03d}",
                "name": f"Bulk {i}",
                "status": "active",
                "credential_version": 0,
                "created_at": now,
                "updated_at": now,
            }
            for i in range(120)
        ],
    )
    session.commit()
    first = signed_in.get("/admin/tenants?app=wwsuite").get_data(as_text=True)
    shown = re.findall(r">(ww(?:bulk\d{3}|corp1))</a>", first)
    assert len(shown) == 50 and shown[0] == "wwbulk119"  # newest first
    cursor = re.search(r'href="([^"]+before=\d+[^"]*)" rel="next"', first).group(1)
    second = signed_in.get(cursor.replace("&amp;", "&")).get_data(as_text=True)
    assert re.findall(r">(wwbulk\d{3})</a>", second)[0] == "wwbulk069"
    third_url = re.search(r'href="([^"]+)" rel="next"', second).group(1).replace("&amp;", "&")
    third = signed_in.get(third_url).get_data(as_text=True)
    assert re.findall(r">(ww(?:bulk\d{3}|corp1))</a>", third)[-1] == "wwcorp1"
    assert 'rel="next"' not in third

    def found(query: str) -> list[str]:
        body = signed_in.get(f"/admin/tenants?{query}").get_data(as_text=True)
        return re.findall(r'/admin/tenants/\w+/(\w+)"', body)

    assert found("q=WWBULK00") == [f"wwbulk00{i}" for i in range(9, -1, -1)]  # id prefix
    assert found("q=acme") == ["wwcorp1"]  # name, any case
    assert found("q=bulk 7") == [f"wwbulk07{i}" for i in range(9, -1, -1)] + ["wwbulk007"]
    assert found("status=needs_reauth") == ["wxaccount1"]
    assert found("app=wxcomp") == ["wxaccount1"]
    assert found("q=%25") == []  # LIKE wildcards are literal
    # The patterns are written into the SQL (Tenant.matching): quotes and backslashes stay text.
    session.execute(
        insert(Tenant.__table__),
        [
            {
                "app_pk": world.suite.id,
                "tenant_id": "wwquote",
                "name": "O'Brien \\ Sons",
                "status": "active",
                "credential_version": 0,
                "created_at": now,
                "updated_at": now,
            }
        ],
    )
    session.commit()
    assert found("q=o%27brien %5C s") == ["wwquote"]
    assert found("q=%27%3B DROP TABLE tenants%3B --") == []
    assert found("q=%5C") == ["wwquote"]
    assert len(found("app=wwsuite")) == 50  # the table is still there


# -- actions that need no platform -------------------------------------------------------------


def test_a_deactivation_not_sent_from_its_confirmation_page_is_not_done(signed_in, world):
    """A POST without confirm=yes (another page's form, a forged link with a CSRF token) is sent
    to the confirmation page; the tenant stays active."""
    page = "/admin/tenants/wwsuite/wwcorp1"
    response = post(signed_in, page, f"{page}/deactivate", reason="no confirm")
    assert response.status_code == 303 and response.headers["Location"] == f"{page}/deactivate"
    db.session().expire_all()
    assert db.session().get(Tenant, world.tenant.id).status == "active"
    confirm = signed_in.get(f"{page}/deactivate").get_data(as_text=True)
    assert 'name="confirm" type="hidden" value="yes"' in confirm


def test_deactivate_cancels_the_tenant_and_is_audited(signed_in, world):
    page = "/admin/tenants/wwsuite/wwcorp1"
    # The tenant page leads to a confirmation page; its form does it.
    assert f'href="{page}/deactivate"' in signed_in.get(page).get_data(as_text=True)
    confirm = signed_in.get(f"{page}/deactivate").get_data(as_text=True)
    assert "Deactivate" in confirm and "409 tenant_cancelled" in confirm
    response = post(
        signed_in,
        f"{page}/deactivate",
        f"{page}/deactivate",
        reason="contract ended",
        confirm="yes",
    )
    assert response.status_code == 303 and response.headers["Location"] == page
    db.session().expire_all()
    tenant = db.session().get(Tenant, world.tenant.id)
    assert tenant.status == "cancelled"
    assert tenant.status_reason == f"deactivated by {USERNAME}: contract ended"
    token = db.session().scalar(select(TenantToken).where(TenantToken.tenant_pk == tenant.id))
    assert token is None  # dropped: nothing is served or refreshed
    [row] = db.session().scalars(select(TenantHistory).where(TenantHistory.tenant_pk == tenant.id))
    assert (row.action, row.source) == ("cancelled", "admin")
    assert audit_log()[-1] == (USERNAME, "tenant.deactivate", "tenant:wwsuite/wwcorp1")
    body = signed_in.get(page).get_data(as_text=True)
    assert "Deactivated" in body and "Reactivate" in body


def test_app_settings_are_saved_and_secrets_stay_write_only(signed_in, world):
    page = "/admin/apps/wwsuite"
    old_key = world.suite.aes_key
    new_key = "A" * 43
    response = post(
        signed_in,
        page,
        f"{page}/settings",
        name="Renamed",
        landing_url="https://isv.example/",
        test_mode="y",
        secret="a-new-secret-value",
        token="NewToken1",
        aes_key=new_key,
    )
    assert response.status_code == 303 and response.headers["Location"] == page
    db.session().expire_all()
    app = db.session().get(App, world.suite.id)
    assert (app.name, app.landing_url, app.test_mode) == ("Renamed", "https://isv.example/", True)
    assert (app.secret, app.token) == ("a-new-secret-value", "NewToken1")
    assert (app.aes_key, app.previous_aes_key) == (new_key, old_key)
    body = signed_in.get(page).get_data(as_text=True)
    for secret in ("a-new-secret-value", "NewToken1", new_key, old_key):
        assert secret not in body
    [entry] = [e for e in db.session().scalars(select(AuditEntry)) if e.action == "app.update"]
    assert set(entry.detail["changed"]) == {
        "name",
        "landing_url",
        "test_mode",
        "secret",
        "token",
        "aes_key",
    }
    assert "a-new-secret-value" not in str(entry.detail) and new_key not in str(entry.detail)

    # Empty secret fields keep the stored values; a bad value is refused with a reason.
    post(signed_in, page, f"{page}/settings", name="Renamed", landing_url="")
    db.session().expire_all()
    assert db.session().get(App, world.suite.id).secret == "a-new-secret-value"
    refused = post(signed_in, page, f"{page}/settings", name="X", token="bad token!")
    assert refused.status_code == 303 and refused.headers["Location"] == page
    assert "Not saved" in signed_in.get(page).get_data(as_text=True)
    db.session().expire_all()
    assert db.session().get(App, world.suite.id).name == "Renamed"


def rotation_key(client, confirm: str) -> str:
    """The key the confirmation page offers to rotate away from (its fingerprint)."""
    form = client.get(confirm).get_data(as_text=True)
    return re.search(r'name="key" type="hidden" value="([0-9a-f]+)"', form).group(1)


def test_rotating_the_aes_key_asks_first_then_shows_the_new_one_once(signed_in, world):
    page = "/admin/apps/wwsuite"
    confirm = f"{page}/rotate-aes-key"
    old_key = world.suite.aes_key
    assert f'href="{confirm}"' in signed_in.get(page).get_data(as_text=True)
    # A POST that did not come from the confirmation page only leads to it.
    response = post(signed_in, page, confirm)
    assert response.status_code == 303 and response.headers["Location"] == confirm
    db.session().expire_all()
    assert db.session().get(App, world.suite.id).aes_key == old_key

    form = signed_in.get(confirm).get_data(as_text=True)
    assert "Rotate the key" in form and old_key not in form
    key = rotation_key(signed_in, confirm)
    response = post(signed_in, confirm, confirm, confirm="yes", key=key)
    assert response.status_code == 303 and response.headers["Location"] == page
    db.session().expire_all()
    app = db.session().get(App, world.suite.id)
    assert app.previous_aes_key == old_key and app.aes_key != old_key and len(app.aes_key) == 43
    new_key = app.aes_key
    # The page the browser is sent to shows the key once; reloading it shows it no more and
    # rotates nothing.
    shown = signed_in.get(page)
    assert f'value="{new_key}"' in shown.get_data(as_text=True)
    assert shown.headers["Cache-Control"] == "no-store"
    assert new_key not in signed_in.get(page).get_data(as_text=True)
    db.session().expire_all()
    assert db.session().get(App, world.suite.id).aes_key == new_key
    assert audit_log()[-1] == (USERNAME, "app.rotate_aes_key", "app:wwsuite")

    # The same confirmation sent again (a double click, the browser's back button) finds
    # another key current and does nothing: the key the console has is still accepted.
    again = post(signed_in, confirm, confirm, confirm="yes", key=key)
    assert again.status_code == 303
    assert "Not rotated" in signed_in.get(page).get_data(as_text=True)
    db.session().expire_all()
    app = db.session().get(App, world.suite.id)
    assert (app.aes_key, app.previous_aes_key) == (new_key, old_key)
    assert [a for _, a, _ in audit_log()].count("app.rotate_aes_key") == 1


def test_a_copied_cookie_does_not_show_the_new_key_again(app, signed_in, world):
    page, confirm = "/admin/apps/wwsuite", "/admin/apps/wwsuite/rotate-aes-key"
    post(signed_in, confirm, confirm, confirm="yes", key=rotation_key(signed_in, confirm))
    copy = app.test_client()
    copy.set_cookie("session", signed_in.get_cookie("session").value)
    db.session().expire_all()
    new_key = db.session().get(App, world.suite.id).aes_key
    assert new_key in signed_in.get(page).get_data(as_text=True)
    assert new_key not in copy.get(page).get_data(as_text=True)


def test_webhook_url_and_secret(signed_in, world):
    page = "/admin/apps/wwsuite"
    response = post(signed_in, page, f"{page}/webhook", url="https://hooks.example.com/a")
    assert response.status_code == 303 and response.headers["Location"] == page
    db.session().expire_all()
    app = db.session().get(App, world.suite.id)
    assert app.webhook_url == "https://hooks.example.com/a" and app.webhook_secret
    assert app.webhook_secret in signed_in.get(page).get_data(as_text=True)  # shown once
    assert app.webhook_secret not in signed_in.get(page).get_data(as_text=True)
    refused = post(signed_in, page, f"{page}/webhook", url="ftp://nope")
    assert refused.status_code == 303
    assert "Not saved" in signed_in.get(page).get_data(as_text=True)
    post(signed_in, page, f"{page}/webhook", off="y")
    db.session().expire_all()
    assert db.session().get(App, world.suite.id).webhook_url is None


def test_audit_page_lists_entries_with_filters(signed_in, world):
    page = "/admin/apps/wwsuite"
    post(signed_in, page, f"{page}/webhook", url="https://hooks.example.com/a")
    body = signed_in.get("/admin/audit").get_data(as_text=True)
    assert "app.webhook" in body and "login" in body and USERNAME in body
    only = signed_in.get("/admin/audit?target=app:wwsuite").get_data(as_text=True)
    assert "app.webhook" in only and ">login<" not in only
