"""The tenant and event actions of the admin UI against the sandbox over HTTP, on both platforms
and both databases: refresh token now, re-read auth info, deactivate and reactivate, re-process
a failed event; each writes an audit entry."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from suite_server import db
from suite_server.db import utcnow
from suite_server.models import AuditEntry, InboundEvent, Tenant, TenantToken
from tests.admin.conftest import USERNAME, post
from tests.authorization.conftest import drain, history, push, tenant_of

INSTALL = {"wecom": "create_auth", "open": "authorized"}
CANCEL = {"wecom": "cancel_auth", "open": "unauthorized"}
EXCHANGE = {"wecom": "get_permanent_code", "open": "api_query_auth"}
REFRESH = {"wecom": "get_corp_token", "open": "api_authorizer_token"}


@pytest.fixture(params=["wecom", "open"])
def either(request):
    return request.getfixturevalue("suite" if request.param == "wecom" else "component")


def install(app, platform, either, tenant_id: str) -> Tenant:
    push(platform, either, INSTALL[either.platform], tenant_id=tenant_id, name="Sandbox Co")
    drain(app)
    tenant = tenant_of(either, tenant_id)
    assert tenant is not None and tenant.status == "active"
    return tenant


def token_of(tenant: Tenant) -> TenantToken | None:
    db.session().expire_all()
    return db.session().scalar(select(TenantToken).where(TenantToken.tenant_pk == tenant.id))


def last_audit() -> AuditEntry:
    db.session().expire_all()
    return db.session().scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()


def page_of(either, tenant_id: str) -> str:
    return f"/admin/tenants/{either.app_id}/{tenant_id}"


def test_refresh_token_now(app, platform, either, signed_in):
    tenant = install(app, platform, either, "t-refresh")
    past = utcnow() - timedelta(minutes=1)
    db.session().execute(
        update(TenantToken.__table__)
        .where(TenantToken.tenant_pk == tenant.id)
        .values(expires_at=past, obtained_at=past - timedelta(hours=2))
    )
    db.session().commit()
    calls = platform.calls().get(REFRESH[either.platform], 0)

    held = token_of(tenant).access_token
    page = page_of(either, "t-refresh")
    response = post(signed_in, page, f"{page}/refresh-token")
    assert response.status_code == 303 and response.headers["Location"] == page
    token = token_of(tenant)
    assert token.expires_at > utcnow() + timedelta(minutes=100)
    assert platform.calls()[REFRESH[either.platform]] == calls + 1
    body = signed_in.get(page).get_data(as_text=True)
    assert token.expires_at.strftime("%Y-%m-%d %H:%M:%S") in body
    entry = last_audit()
    assert (entry.actor, entry.action, entry.target) == (
        USERNAME,
        "tenant.refresh_token",
        f"tenant:{either.app_id}/t-refresh",
    )
    assert entry.detail["expires_at"] == token.expires_at.isoformat()
    if either.platform == "wecom":
        # WeCom hands back the token it gave while that one is valid: the page says so instead
        # of claiming a new one.
        assert token.access_token == held and entry.detail["same_token"] is True
        assert "WeCom handed back the token we already had" in body
        assert "New token obtained" not in body
    else:
        assert token.access_token != held and entry.detail["same_token"] is False
        assert "New token obtained" in body


def test_refresh_token_now_after_wecom_dropped_the_token_gets_a_new_one(
    app, platform, suite, signed_in
):
    tenant = install(app, platform, suite, "t-dropped")
    held = token_of(tenant).access_token
    # WeCom ended the corp token early (wecom-suite.md §4): the next one is a new token.
    platform.control("tokens/invalidate", app_id=suite.app_id, tenant_id="t-dropped")
    page = page_of(suite, "t-dropped")
    post(signed_in, page, f"{page}/refresh-token")
    assert token_of(tenant).access_token != held
    body = signed_in.get(page).get_data(as_text=True)
    assert "New token obtained" in body and "handed back" not in body


def test_a_failed_refresh_shows_the_platforms_answer(app, platform, suite, signed_in):
    install(app, platform, suite, "t-busy")
    platform.control("faults", endpoint="get_corp_token", errcode=-1, count=5)
    page = page_of(suite, "t-busy")
    post(signed_in, page, f"{page}/refresh-token")
    body = signed_in.get(page).get_data(as_text=True)
    assert "No new token: service/get_corp_token: -1 system error" in body
    assert "error" in last_audit().detail and last_audit().action == "tenant.refresh_token"
    assert tenant_of(suite, "t-busy").status == "active"  # busy: nobody is given up


def test_reread_auth_info(app, platform, either, signed_in):
    tenant = install(app, platform, either, "t-reread")
    stored = tenant.auth_info
    db.session().execute(
        update(Tenant.__table__)
        .where(Tenant.id == tenant.id)
        .values(auth_info={"stale": True}, name="Old Name")
    )
    db.session().commit()
    db.session().expire_all()  # the requests below share this session (the test's app context)
    page = page_of(either, "t-reread")
    post(signed_in, page, f"{page}/reread-auth-info")
    assert "Auth info re-read: it changed." in signed_in.get(page).get_data(as_text=True)
    tenant = tenant_of(either, "t-reread")
    assert tenant.name == "Sandbox Co"
    key = "auth_corp_info" if either.platform == "wecom" else "authorizer_info"
    assert tenant.auth_info[key] == stored[key]
    assert "authorizer_refresh_token" not in str(tenant.auth_info)
    assert ("auth_changed", "admin") in history(tenant)
    assert last_audit().detail == {"changed": True}
    # Read again: nothing new, no history row.
    post(signed_in, page, f"{page}/reread-auth-info")
    assert "no change" in signed_in.get(page).get_data(as_text=True)
    assert history(tenant).count(("auth_changed", "admin")) == 1


def test_deactivate_then_reactivate(app, platform, either, signed_in):
    tenant = install(app, platform, either, "t-pause")
    page = page_of(either, "t-pause")
    post(signed_in, page, f"{page}/deactivate", reason="unpaid", confirm="yes")
    assert tenant_of(either, "t-pause").status == "cancelled"
    assert token_of(tenant) is None

    post(signed_in, page, f"{page}/reactivate")
    tenant = tenant_of(either, "t-pause")
    assert tenant.status == "active" and tenant.status_reason is None
    assert tenant.cancelled_at is None
    assert token_of(tenant).expires_at > utcnow()
    assert history(tenant)[-2:] == [("cancelled", "admin"), ("reactivated", "admin")]
    assert "Active again" in signed_in.get(page).get_data(as_text=True)
    assert last_audit().action == "tenant.reactivate"


def test_a_tenant_the_platform_cancelled_cannot_be_reactivated(app, platform, either, signed_in):
    install(app, platform, either, "t-gone")
    push(platform, either, CANCEL[either.platform], tenant_id="t-gone")
    drain(app)
    before = tenant_of(either, "t-gone")
    assert before.status == "cancelled"

    page = page_of(either, "t-gone")
    post(signed_in, page, f"{page}/reactivate")
    after = tenant_of(either, "t-gone")
    assert (after.status, after.status_reason) == ("cancelled", before.status_reason)
    body = signed_in.get(page).get_data(as_text=True)
    assert "The platform refused the stored credential" in body
    assert f"/install/{either.app_id}" in body
    assert "error" in last_audit().detail


def test_reprocess_a_failed_event(app, platform, either, signed_in):
    refused = {"wecom": 40078, "open": 61009}[either.platform]
    platform.control("faults", endpoint=EXCHANGE[either.platform], errcode=refused, count=1)
    push(platform, either, INSTALL[either.platform], tenant_id="t-later")
    drain(app)
    db.session().expire_all()
    event = db.session().scalar(
        select(InboundEvent).where(
            InboundEvent.app_pk == either.id, InboundEvent.kind == INSTALL[either.platform]
        )
    )
    assert event.status == "failed"

    page = f"/admin/events/{event.id}"
    assert f"errcode {refused}" in signed_in.get(page).get_data(as_text=True)
    post(signed_in, page, f"{page}/reprocess")
    drain(app)
    db.session().expire_all()
    assert db.session().get(InboundEvent, event.id).status == "done"
    assert tenant_of(either, "t-later").status == "active"
    assert (last_audit().action, last_audit().target) == ("event.reprocess", f"event:{event.id}")
    # Done now: re-processing it again is refused with the reason.
    post(signed_in, page, f"{page}/reprocess")
    assert "only a failed or ignored one" in signed_in.get(page).get_data(as_text=True)
