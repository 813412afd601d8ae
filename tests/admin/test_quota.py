"""An Open Platform tenant's API quota in the admin, through the sandbox over HTTP: calls through
the proxy past the account's daily limit are refused 45009, counted on the tenant and listed on
the "at risk" page; its quota page reads the quota of a path, looks up the request behind an
error's rid, and resets the day's quota with the account's token (or, with no token to be had,
the component's secret), counting each reset against the month's 10. Each action is audited;
bad input gets a message, not a 500."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlalchemy import select, update

from suite_server import db
from suite_server.gateway import quota
from suite_server.models import AuditEntry, QuotaClear, Tenant
from tests.admin.conftest import USERNAME, post
from tests.api.conftest import api_key
from tests.authorization.conftest import drain, push, tenant_of
from tests.gateway.helpers import CUSTOM_SEND, tenant_call

__all__ = ["api_key"]  # the fixture

ACCOUNT = "wxquotaaccount"
SEND = f"/{CUSTOM_SEND}"


def page_of(component) -> str:
    return f"/admin/tenants/{component.app_id}/{ACCOUNT}/quota"


def installed(app, platform, component, daily_limit: int) -> None:
    push(platform, component, "authorized", tenant_id=ACCOUNT, name="Quota Shop")
    drain(app)
    limits = {"appid": ACCOUNT, "cgi_path": SEND, "daily_limit": daily_limit}
    platform.control("quota", **limits)


def audits(action: str) -> list[AuditEntry]:
    db.session().expire_all()
    query = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
    return list(db.session().scalars(query))


def text_of(body: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>(.*?)</', body, re.S)
    assert found, element_id
    return found.group(1).strip()


def test_quota_reached_shows_and_a_reset_brings_the_api_back(
    app, platform, component, api_key, signed_in
):
    installed(app, platform, component, daily_limit=2)
    answers = [tenant_call(platform.server, api_key, component, ACCOUNT).json() for _ in range(3)]
    assert [a["errcode"] for a in answers] == [0, 0, 45009]
    rid = answers[2]["errmsg"].rsplit("rid: ", 1)[1]

    at_risk = signed_in.get("/admin/at-risk").get_data(as_text=True)
    row = at_risk.split('id="over-quota"', 1)[1].split("</table>", 1)[0]
    assert ACCOUNT in row and "Quota Shop" in row and CUSTOM_SEND in row
    assert page_of(component) in row

    body = signed_in.get(page_of(component), query_string={"cgi_path": SEND}).get_data(as_text=True)
    assert (text_of(body, "quota-limit"), text_of(body, "quota-used")) == ("2", "3")
    assert text_of(body, "quota-remain") == "0"
    assert CUSTOM_SEND in body.split('id="over-quota"', 1)[1].split("</table>", 1)[0]
    assert text_of(body, "clears-left").startswith("10 of 10")
    [asked] = audits("tenant.quota_get")
    assert asked.detail == {"cgi_path": SEND} and asked.target.endswith(ACCOUNT)

    body = signed_in.get(page_of(component), query_string={"rid": rid}).get_data(as_text=True)
    found = body.split('id="rid-request"', 1)[1]
    assert SEND in found and "45009" in found and "hello" in found
    assert audits("tenant.rid_get")[0].detail == {"rid": rid}

    response = post(signed_in, page_of(component), f"{page_of(component)}/clear")
    assert response.status_code == 303 and response.headers["Location"] == page_of(component)
    body = signed_in.get(page_of(component)).get_data(as_text=True)
    assert "reset with its token" in body and text_of(body, "clears-left").startswith("9 of 10")
    assert tenant_call(platform.server, api_key, component, ACCOUNT).json()["errcode"] == 0
    [cleared] = db.session().scalars(select(QuotaClear)).all()
    assert (cleared.tenant_id, cleared.via, cleared.actor) == (ACCOUNT, "token", USERNAME)
    assert audits("tenant.clear_quota")[0].detail == {"via": "token"}


def test_no_token_resets_with_the_secret_and_the_budget_stops_at_ten(
    app, platform, component, signed_in
):
    installed(app, platform, component, daily_limit=5)
    # The tenant has no token to be had: the component's secret resets its quota.
    db.session().execute(
        update(Tenant)
        .where(Tenant.id == tenant_of(component, ACCOUNT).id)
        .values(status="needs_reauth")
    )
    db.session().commit()
    post(signed_in, page_of(component), f"{page_of(component)}/clear")
    body = signed_in.get(page_of(component)).get_data(as_text=True)
    assert "with the component&#39;s secret" in body
    assert platform.calls().get("clear_quota_v2") == 1

    this_month = datetime.now(UTC)
    for _ in range(quota.CLEARS_A_MONTH - 1):
        db.session().add(
            QuotaClear(app_pk=component.id, tenant_id=ACCOUNT, via="token", cleared_at=this_month)
        )
    db.session().commit()
    body = signed_in.get(page_of(component)).get_data(as_text=True)
    assert text_of(body, "clears-left").startswith("0 of 10")
    assert "Reset quota now" not in body
    calls = platform.calls()
    post(signed_in, page_of(component), f"{page_of(component)}/clear")
    body = signed_in.get(page_of(component)).get_data(as_text=True)
    assert "no quota reset left this month" in body
    assert platform.calls() == calls  # refused here: the platform was not asked
    assert "no quota reset left" in audits("tenant.clear_quota")[-1].detail["error"]


def test_bad_input_and_the_wrong_platform_get_a_message_or_a_404(
    app, platform, component, suite, signed_in
):
    installed(app, platform, component, daily_limit=5)
    for query, message in (
        ({"cgi_path": "nope"}, "cgi_path must be an API path"),
        ({"cgi_path": "/cgi-bin/nope"}, "76021"),
        ({"rid": "!!"}, "a rid is up to 64"),
        ({"rid": "0123456789abcdef"}, "76001"),
    ):
        response = signed_in.get(page_of(component), query_string=query)
        assert response.status_code == 200 and message in response.get_data(as_text=True), query
    push(platform, suite, "create_auth", tenant_id="wwcorpq")
    drain(app)
    assert signed_in.get(f"/admin/tenants/{suite.app_id}/wwcorpq/quota").status_code == 404
    assert signed_in.get(f"/admin/tenants/{component.app_id}/wxnobody/quota").status_code == 404
    tenant_page = signed_in.get(f"/admin/tenants/{component.app_id}/{ACCOUNT}")
    assert page_of(component) in tenant_page.get_data(as_text=True)


def test_a_day_starts_and_a_month_starts_in_beijing():
    assert quota.day_start(datetime(2026, 12, 1, 15, 59, tzinfo=UTC)) == datetime(
        2026, 11, 30, 16, 0, tzinfo=UTC
    )
    assert quota.day_start(datetime(2026, 12, 1, 16, 0, tzinfo=UTC)) == datetime(
        2026, 12, 1, 16, 0, tzinfo=UTC
    )
    assert quota.month_start(datetime(2026, 11, 30, 16, 0, tzinfo=UTC)) == datetime(
        2026, 11, 30, 16, 0, tzinfo=UTC
    )
    assert quota.month_start(datetime(2026, 11, 30, 15, 59, tzinfo=UTC)) == datetime(
        2026, 10, 31, 16, 0, tzinfo=UTC
    )
