"""What an authorizer may do, through the sandbox over HTTP: the permission sets it granted and
those its app needs but it did not (after an updateauthorized narrowed them), its account status
read again by the weekly sync (a banned account), each change in the tenant's history as
`auth_changed` with what changed, in the token API's view and on the "at risk" page."""

from __future__ import annotations

from datetime import timedelta

import requests
from sqlalchemy import select, update

from suite_server import db
from suite_server.authorization import capabilities as sync
from suite_server.db import utcnow
from suite_server.models import App, Tenant, TenantHistory
from suite_server.tenants import capabilities
from tests.admin.conftest import admin_user, client, post, signed_in
from tests.api.conftest import api_key
from tests.authorization.conftest import drain, push, tenant_of

__all__ = ["admin_user", "api_key", "client", "signed_in"]  # the fixtures

ACCOUNT = "wxcapable"


def view(platform, key: str, app: App, tenant_id: str) -> dict:
    response = requests.get(
        f"{platform.server}/api/v1/apps/{app.app_id}/tenants/{tenant_id}",
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()["capabilities"]


def require(app: App, *sets: int) -> None:
    db.session().execute(update(App).where(App.id == app.id).values(required_func_info=list(sets)))
    db.session().commit()


def histories(tenant: Tenant) -> list[TenantHistory]:
    db.session().expire_all()
    query = select(TenantHistory).where(TenantHistory.tenant_pk == tenant.id)
    return list(db.session().scalars(query.order_by(TenantHistory.id)))


def make_due(tenant: Tenant) -> None:
    stale = utcnow() - sync.CHECK_EVERY - timedelta(minutes=1)
    db.session().execute(
        update(Tenant).where(Tenant.id == tenant.id).values(capabilities_checked_at=stale)
    )
    db.session().commit()


def test_a_permission_set_taken_back_shows_as_missing(app, platform, component, api_key, signed_in):
    require(component, 1, 15)
    push(platform, component, "authorized", tenant_id=ACCOUNT, name="Capable", func_ids=[1, 15, 18])
    drain(app)
    caps = view(platform, api_key, component, ACCOUNT)
    assert caps["func_info"] == [1, 15, 18] and caps["missing_func_info"] == []
    assert (caps["account_status"], caps["account_state"]) == (1, "normal")

    push(platform, component, "updateauthorized", tenant_id=ACCOUNT, func_ids=[1, 18])
    drain(app)
    assert view(platform, api_key, component, ACCOUNT)["missing_func_info"] == [15]
    at_risk = signed_in.get("/admin/at-risk").get_data(as_text=True)
    row = at_risk.split('id="missing-sets"', 1)[1].split("</table>", 1)[0]
    assert ACCOUNT in row and "15" in row
    page = signed_in.get(f"/admin/tenants/{component.app_id}/{ACCOUNT}").get_data(as_text=True)
    assert 'id="missing-sets"' in page


def test_the_weekly_sync_reads_each_tenant_once_and_records_what_changed(
    app, platform, component, api_key
):
    push(platform, component, "authorized", tenant_id=ACCOUNT, func_ids=[1, 15])
    drain(app)
    tenant = tenant_of(component, ACCOUNT)
    assert sync.sync() == 1  # never read since the authorization
    drain(app)
    tenant = tenant_of(component, ACCOUNT)
    assert tenant.capabilities_checked_at is not None
    assert [h.action for h in histories(tenant)] == ["authorized"]  # nothing changed
    assert sync.sync() == 0  # read: not due before a week

    # What we stored drifted from the platform (a change no push told of).
    stale = {**tenant.auth_info, "func_info": [{"funcscope_category": {"id": 2}}]}
    db.session().execute(update(Tenant).where(Tenant.id == tenant.id).values(auth_info=stale))
    db.session().commit()
    make_due(tenant)
    assert sync.sync() == 1
    drain(app)
    [changed] = [h for h in histories(tenant) if h.action == "auth_changed"]
    assert changed.source == "sync"
    assert changed.detail["changes"] == {"func_info": {"added": [1, 15], "removed": [2]}}
    assert view(platform, api_key, component, ACCOUNT)["func_info"] == [1, 15]


def test_the_required_sets_are_an_app_setting(app, component, signed_in):
    page = f"/admin/apps/{component.app_id}"
    post(signed_in, page, f"{page}/settings", name="Comp", required_func_info="15, 1, 15")
    db.session().expire_all()
    assert db.session().get(App, component.id).required_func_info == [1, 15]
    post(signed_in, page, f"{page}/settings", name="Comp", required_func_info="one")
    assert "func_info ids" in signed_in.get(page).get_data(as_text=True)
    db.session().expire_all()
    assert db.session().get(App, component.id).required_func_info == [1, 15]
    post(signed_in, page, f"{page}/settings", name="Comp", required_func_info="")
    db.session().expire_all()
    assert db.session().get(App, component.id).required_func_info is None


def test_what_changed_between_two_auth_infos():
    before = {
        "authorizer_info": {"account_status": 1, "service_type_info": {"id": 0}},
        "func_info": [{"funcscope_category": {"id": 1}}, {"funcscope_category": {"id": 2}}],
    }
    after = {
        "authorizer_info": {"account_status": 16, "service_type_info": {"id": 0}},
        "func_info": [{"funcscope_category": {"id": 1}}],
    }
    assert capabilities.changes("open", before, after) == {
        "account_state": {"from": "normal", "to": "banned"},
        "account_status": {"from": 1, "to": 16},
        "func_info": {"added": [], "removed": [2]},
    }
    assert capabilities.changes("open", before, before) == {}
    wecom = {"auth_info": {"agent": [{"agentid": 7, "auth_mode": 1, "privilege": {"level": 2}}]}}
    assert capabilities.of("wecom", wecom) == {
        "agentid": 7,
        "auth_mode": "member",
        "privilege_level": 2,
        "allow_party": [],
        "allow_user": [],
        "allow_tag": [],
    }
    assert capabilities.of("open", None) is None


def test_a_banned_account_is_seen_within_one_sync(app, platform, component, api_key, signed_in):
    push(platform, component, "authorized", tenant_id=ACCOUNT, name="Soon Banned")
    drain(app)
    tenant = tenant_of(component, ACCOUNT)
    # The platform bans the account: nothing is pushed for it.
    changed = platform.control(
        f"tenants/{component.app_id}/{ACCOUNT}/capabilities", account_status=16
    )
    assert changed["changed"] == ["account_status"] and changed["push"] is None
    make_due(tenant)
    assert sync.sync() == 1
    drain(app)
    caps = view(platform, api_key, component, ACCOUNT)
    assert (caps["account_status"], caps["account_state"]) == (16, "banned")
    [line] = [h for h in histories(tenant) if h.action == "auth_changed"]
    assert line.detail["changes"]["account_state"] == {"from": "normal", "to": "banned"}
    at_risk = signed_in.get("/admin/at-risk").get_data(as_text=True)
    row = at_risk.split('id="accounts-at-risk"', 1)[1].split("</table>", 1)[0]
    assert ACCOUNT in row and "banned (16)" in row and "Soon Banned" in row
    page = signed_in.get(f"/admin/tenants/{component.app_id}/{ACCOUNT}").get_data(as_text=True)
    assert "banned (16)" in page
