"""Which language and clock the admin speaks: the browser's Accept-Language, overridden by the
switch (remembered by this browser, and on the admin's account for every browser), and times on
the admin's time zone with UTC on hover."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from suite_server import db
from suite_server.models import AdminUser, Tenant, TenantToken
from tests import factories
from tests.admin.conftest import USERNAME, post, sign_in, signed_in_ok

ENGLISH = {"Accept-Language": "en-US,en;q=0.9"}
CHINESE = {"Accept-Language": "zh-CN,zh;q=0.9"}


def nav_language(client, page="/admin/", headers=None) -> str:
    body = client.get(page, headers=headers or {}).get_data(as_text=True)
    if ">概览<" in body:
        return "zh"
    return "en" if ">Dashboard<" in body else "?"


def test_the_browsers_language_is_followed_until_one_is_chosen(signed_in):
    assert nav_language(signed_in, headers=CHINESE) == "zh"
    assert nav_language(signed_in, headers=ENGLISH) == "en"
    assert nav_language(signed_in, headers={"Accept-Language": "fr-FR,fr"}) == "en"
    assert nav_language(signed_in) == "en"


def test_the_switch_on_the_sign_in_page_is_remembered_by_the_browser(client, admin_user):
    response = post(client, "/admin/login", "/admin/language", language="zh", next="/admin/login")
    assert response.status_code == 303 and response.headers["Location"] == "/admin/login"
    assert "admin_lang=zh" in response.headers["Set-Cookie"]
    page = client.get("/admin/login", headers=ENGLISH).get_data(as_text=True)
    assert '<html lang="zh-CN">' in page and "用户名" in page


def test_an_admins_choice_follows_them_to_another_browser_and_back(app, client, admin_user):
    assert signed_in_ok(sign_in(client))
    response = post(client, "/admin/", "/admin/language", language="zh", next="/admin/tenants")
    assert response.headers["Location"] == "/admin/tenants"
    assert nav_language(client, headers=ENGLISH) == "zh"
    assert db.session().query(AdminUser).one().locale == "zh"

    other = app.test_client()  # another browser: no cookie, asks for English
    assert signed_in_ok(sign_in(other))
    assert nav_language(other, headers=ENGLISH) == "zh"
    assert "已退出" in other.post(
        "/admin/logout",
        data={
            "csrf_token": re.search(
                r'name="csrf_token" value="([^"]+)"', other.get("/admin/").get_data(as_text=True)
            ).group(1)
        },
        follow_redirects=True,
    ).get_data(as_text=True)

    post(client, "/admin/", "/admin/language", language="en", next="/admin/")
    assert nav_language(client, headers=CHINESE) == "en"


def test_a_language_we_do_not_have_is_refused(signed_in):
    response = post(signed_in, "/admin/", "/admin/language", language="fr")
    assert response.status_code == 400
    assert db.session().query(AdminUser).one().locale is None


def test_a_switch_never_sends_the_browser_off_the_admin(signed_in):
    for target in ("https://evil.example.com/", "//evil.example.com/", "/api/v1/tokens"):
        response = post(signed_in, "/admin/", "/admin/language", language="zh", next=target)
        assert response.headers["Location"] == "/admin/"


def _expires_shown(client, at: datetime) -> str:
    session = db.session()
    suite = factories.wecom_app(session, app_id="wwsuite")
    tenant = factories.tenant(session, suite, tenant_id="wwcorp1", name="企业一")
    session.add(TenantToken(tenant_pk=tenant.id, access_token="t", version=1, expires_at=at))
    session.commit()
    body = client.get("/admin/tenants/wwsuite/wwcorp1").get_data(as_text=True)
    return re.search(r'id="token-expires"><time datetime="([^"]+)" title="([^"]+)">([^<]+)<', body)


def test_times_are_on_the_admins_clock_with_utc_on_hover(signed_in):
    at = (datetime.now(UTC) + timedelta(days=1)).replace(hour=20, minute=5, second=0, microsecond=0)
    shown = _expires_shown(signed_in, at)
    assert shown.group(1) == at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert shown.group(2).startswith(at.strftime("%Y-%m-%d %H:%M:%S UTC"))
    beijing = at + timedelta(hours=8)  # Asia/Shanghai by default, no summer time
    assert shown.group(3) == beijing.strftime("%Y-%m-%d %H:%M:%S")

    response = post(
        signed_in, "/admin/account", "/admin/account/preferences", language="", timezone="UTC"
    )
    assert response.status_code == 303
    assert db.session().query(Tenant).count() == 1
    body = signed_in.get("/admin/tenants/wwsuite/wwcorp1").get_data(as_text=True)
    assert f">{at.strftime('%Y-%m-%d %H:%M:%S')}</time>" in body
    assert "Times are in UTC" in body


def test_an_unknown_time_zone_is_refused_and_nothing_changes(signed_in):
    response = post(
        signed_in,
        "/admin/account",
        "/admin/account/preferences",
        language="zh",
        timezone="Mars/Olympus",
    )
    page = signed_in.get(response.headers["Location"]).get_data(as_text=True)
    assert "Mars/Olympus is not a time zone" in page
    admin = db.session().query(AdminUser).filter_by(username=USERNAME).one()
    assert (admin.locale, admin.timezone) == (None, None)


def test_the_time_zone_setting_is_the_default(app, signed_in):
    app.config["ADMIN_TIMEZONE"] = "America/New_York"
    body = signed_in.get("/admin/").get_data(as_text=True)
    assert "Times are in America/New_York" in body


def test_the_api_stays_in_english_whatever_the_client_asks(client):
    response = client.get("/api/v1/apps", headers={**CHINESE, "Authorization": "Bearer nope"})
    assert response.status_code == 401
    body = response.get_data(as_text=True)
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in body)
