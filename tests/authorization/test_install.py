"""Installs through the browser flow against the sandbox, over real HTTP."""

from __future__ import annotations

import pytest
import requests
from sqlalchemy import select

from suite_server import db
from suite_server.client import verify_install
from suite_server.models import InstallState, Tenant, TenantHistory, TenantToken
from tests.authorization.conftest import query_of


def tenants():
    db.session().expire_all()
    return db.session().scalars(select(Tenant).order_by(Tenant.id)).all()


def test_wecom_install_by_redirect(platform, suite):
    page = platform.start_install(suite)
    params = query_of(page)
    assert page.startswith(f"{platform.base}/3rdapp/install?")
    assert params["suite_id"] == suite.app_id
    assert params["redirect_uri"] == f"{platform.server}/install/{suite.app_id}/done"
    assert len(params["state"]) == 32 and params["state"].isalnum()
    assert params["pre_auth_code"]

    back = platform.approve_in_browser(page, "wwcorp-redirect", "Redirect Corp")
    assert query_of(back)["state"] == params["state"]
    done = requests.get(back, timeout=30)
    assert done.status_code == 200
    assert "Installed" in done.text and "wwcorp-redirect" in done.text

    [tenant] = tenants()
    assert (tenant.tenant_id, tenant.status, tenant.name) == (
        "wwcorp-redirect",
        "active",
        "Redirect Corp",
    )
    assert tenant.credential  # the permanent code, encrypted at rest
    assert tenant.credential not in done.text
    assert tenant.auth_info["auth_corp_info"]["corpid"] == "wwcorp-redirect"
    token = db.session().scalar(select(TenantToken).where(TenantToken.tenant_pk == tenant.id))
    assert token.access_token and token.expires_at > token.obtained_at
    history = db.session().scalars(select(TenantHistory)).all()
    assert [(h.action, h.source) for h in history] == [("authorized", "redirect")]
    calls = platform.calls()
    assert calls["get_permanent_code"] == 1 and "set_session_info" not in calls


def test_wecom_test_mode_calls_set_session_info(platform, suite):
    suite.test_mode = True
    db.session().commit()
    platform.start_install(suite)
    assert platform.calls()["set_session_info"] == 1


def test_open_install_by_redirect(platform, component):
    page = platform.start_install(component)
    params = query_of(page)
    assert page.startswith(f"{platform.base}/cgi-bin/componentloginpage?")
    assert params["component_appid"] == component.app_id and params["auth_type"] == "3"
    # The state rides inside redirect_uri: the platform sends back only auth_code.
    state = query_of(params["redirect_uri"])["state"]
    assert db.session().scalar(select(InstallState.state)) == state

    back = platform.approve_in_browser(page, "wxaccount-redirect", "My Account")
    done = requests.get(back, timeout=30)
    assert done.status_code == 200, done.text
    [tenant] = tenants()
    assert (tenant.tenant_id, tenant.status) == ("wxaccount-redirect", "active")
    assert tenant.credential and tenant.auth_info["func_info"]


def test_open_mobile_install_link(platform, component):
    page = platform.start_install(component, mobile="1", auth_type="2", biz_appid="wxpinned")
    assert page.startswith(f"{platform.base}/safe/bindcomponent?")
    assert page.endswith("#wechat_redirect")
    params = query_of(page.removesuffix("#wechat_redirect"))
    assert (params["action"], params["no_scan"], params["auth_type"], params["biz_appid"]) == (
        "bindcomponent",
        "1",
        "2",
        "wxpinned",
    )


def test_landing_url_gets_a_signed_assertion_of_the_tenant(platform, suite):
    suite.landing_url = "https://isv.example.com/welcome?from=install"
    suite.landing_secret = "landing-secret-for-tests"
    db.session().commit()
    response = platform.install(suite, "wwcorp-landing")
    assert response.status_code == 302
    where = response.headers["Location"]
    assert where.startswith("https://isv.example.com/welcome?from=install&install=")
    assert "tenant_id=" not in where  # a bare tenant id would be anyone's to forge
    claims = verify_install(query_of(where)["install"], "landing-secret-for-tests")
    assert (claims["platform"], claims["app_id"], claims["tenant_id"], claims["ref"]) == (
        "wecom",
        suite.app_id,
        "wwcorp-landing",
        None,
    )


@pytest.mark.parametrize("change", ["unknown", "replayed", "other app", "missing"])
def test_forged_or_replayed_state_is_refused(platform, suite, component, change):
    page = platform.start_install(suite)
    back = platform.approve_in_browser(page, "wwcorp-state")
    if change == "replayed":
        assert requests.get(back, timeout=30).status_code == 200
    elif change == "unknown":
        back = back.replace(query_of(back)["state"], "0" * 32)
    elif change == "other app":
        back = back.replace(f"/install/{suite.app_id}/", f"/install/{component.app_id}/")
    else:
        back = back.split("&state=")[0]
    response = requests.get(back, timeout=30)
    assert response.status_code == 400
    assert "Start the install again" in response.text or "missing" in response.text
    assert len(tenants()) == (1 if change == "replayed" else 0)


def test_expired_state_is_refused(platform, suite):
    from datetime import timedelta

    page = platform.start_install(suite)
    back = platform.approve_in_browser(page, "wwcorp-late")
    row = db.session().scalar(select(InstallState))
    row.expires_at = row.created_at - timedelta(seconds=1)
    db.session().commit()
    assert requests.get(back, timeout=30).status_code == 400
    assert tenants() == []


def test_expired_auth_code_shows_a_clear_error_and_stores_nothing(platform, suite):
    page = platform.start_install(suite)
    back = platform.approve_in_browser(page, "wwcorp-expired")
    platform.control("clock", advance=601)  # WeCom auth codes live 600 s
    response = requests.get(back, timeout=30)
    assert response.status_code == 502
    assert "did not answer as expected" in response.text
    assert tenants() == []


def test_unknown_app_is_400(platform):
    response = requests.get(f"{platform.server}/install/wwnobody", timeout=30)
    assert response.status_code == 400 and "no such app" in response.text


@pytest.mark.parametrize("landing", [False, True])
def test_reloading_the_done_page_shows_the_result_again_to_that_browser_only(
    platform, suite, landing
):
    if landing:
        suite.landing_url = "https://isv.example.com/welcome"
        db.session().commit()
    browser = requests.Session()
    back = platform.approve_in_browser(platform.start_install(suite), "wwcorp-reload", "Reload")
    first = browser.get(back, allow_redirects=False, timeout=30)
    again = browser.get(back, allow_redirects=False, timeout=30)
    assert again.status_code == first.status_code == (302 if landing else 200)
    if landing:
        # The same landing, with a fresh assertion of the same tenant.
        first_at, again_at = first.headers["Location"], again.headers["Location"]
        assert first_at.split("?")[0] == again_at.split("?")[0] == "https://isv.example.com/welcome"
        db.session().expire_all()
        secret = db.session().get(type(suite), suite.id).landing_secret  # made at the landing
        for where in (first_at, again_at):
            claims = verify_install(query_of(where)["install"], secret)
            assert claims["tenant_id"] == "wwcorp-reload"
    else:
        assert "Installed" in again.text and "wwcorp-reload" in again.text
    assert platform.calls()["get_permanent_code"] == 1  # the code was exchanged once
    assert len(tenants()) == 1

    other_browser = requests.get(back, allow_redirects=False, timeout=30)
    assert other_browser.status_code == 400 and "Start the install again" in other_browser.text
    forged = requests.Session()
    for cookie in browser.cookies:  # the same cookie, its value altered: refused
        forged.cookies.set(cookie.name, cookie.value[:-2] + "xx", path=cookie.path)
    assert forged.get(back, allow_redirects=False, timeout=30).status_code == 400
    # The receipt is for this state only: another finished state of this browser is not shown.
    other_state = back.replace(query_of(back)["state"], "1" * 32)
    assert browser.get(other_state, allow_redirects=False, timeout=30).status_code == 400
