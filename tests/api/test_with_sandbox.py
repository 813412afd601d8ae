"""The token API over real HTTP, with the sandbox playing both platforms: tokens served, refreshes
that cost exactly one upstream call or none, and platform trouble turned into 409 / 502 / 503."""

from __future__ import annotations

import requests
from sqlalchemy import update

from suite_server import db
from suite_server.db import utcnow
from suite_server.models import AppToken
from tests.api.conftest import TENANT_TOKEN_CALL, age_token
from tests.authorization.conftest import drain, push, tenant_of

CANCEL = {"wecom": "cancel_auth", "open": "unauthorized"}
APP_TOKEN_CALL = {"wecom": "get_suite_token", "open": "api_component_token"}


def get(live_server: str, api_key: str, path: str) -> requests.Response:
    return requests.get(
        f"{live_server}/api/v1{path}", headers={"Authorization": f"Bearer {api_key}"}, timeout=30
    )


def refresh(live_server: str, api_key: str, path: str, stale: str) -> requests.Response:
    return requests.post(
        f"{live_server}/api/v1{path}/refresh",
        json={"stale_token": stale},
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=30,
    )


def test_app_token_is_served_and_kept(platform, either, live_server, api_key):
    first = get(live_server, api_key, f"/apps/{either.app_id}/access-token")
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["access_token"] and body["expires_in"] > 7000
    second = get(live_server, api_key, f"/apps/{either.app_id}/access-token")
    assert second.json()["access_token"] == body["access_token"]
    assert platform.calls()[APP_TOKEN_CALL[either.platform]] == 1
    listed = get(live_server, api_key, "/apps").json()["apps"]
    assert {a["app_id"]: a["ticket_state"] for a in listed}[either.app_id] == "ok"


def test_tenant_token_is_served_without_an_upstream_call(platform, installed, live_server, api_key):
    before = platform.calls().get(TENANT_TOKEN_CALL[installed.platform], 0)
    response = get(
        live_server, api_key, f"/apps/{installed.app_id}/tenants/tenant-api/access-token"
    )
    assert response.status_code == 200, response.text
    assert response.json()["access_token"]
    assert platform.calls().get(TENANT_TOKEN_CALL[installed.platform], 0) == before
    detail = get(live_server, api_key, f"/apps/{installed.app_id}/tenants/tenant-api").json()
    assert detail["name"] == "API Corp" and detail["credential"] == "present"
    assert tenant_of(installed, "tenant-api").credential not in str(detail)


def test_refresh_calls_upstream_once_only_for_the_current_token(
    platform, installed, live_server, api_key
):
    path = f"/apps/{installed.app_id}/tenants/tenant-api/access-token"
    endpoint = TENANT_TOKEN_CALL[installed.platform]
    current = get(live_server, api_key, path).json()["access_token"]
    age_token(installed, "tenant-api")
    before = platform.calls().get(endpoint, 0)

    refreshed = refresh(live_server, api_key, path, current)
    assert refreshed.status_code == 200, refreshed.text
    new = refreshed.json()["access_token"]
    assert platform.calls().get(endpoint, 0) == before + 1
    if installed.platform == "open":
        assert new != current  # Open mints a new token each time; WeCom hands back the same
    assert get(live_server, api_key, path).json()["access_token"] == new

    # Callers that saw the token fail before the refresh now get the new one, upstream untouched.
    old = current if new != current else "a-token-from-before"
    for _ in range(3):
        again = refresh(live_server, api_key, path, old)
        assert again.status_code == 200 and again.json()["access_token"] == new
    assert platform.calls().get(endpoint, 0) == before + 1


def test_cancelled_tenant_is_409(app, platform, installed, live_server, api_key):
    push(platform, installed, CANCEL[installed.platform], tenant_id="tenant-api")
    drain(app)
    path = f"/apps/{installed.app_id}/tenants/tenant-api/access-token"
    for response in (get(live_server, api_key, path), refresh(live_server, api_key, path, "x")):
        assert response.status_code == 409, response.text
        assert response.json()["error"]["code"] == "tenant_cancelled"
    detail = get(live_server, api_key, f"/apps/{installed.app_id}/tenants/tenant-api").json()
    assert detail["status"] == "cancelled" and detail["cancelled_at"]


def test_busy_platform_is_503_with_retry_after(platform, installed, live_server, api_key):
    path = f"/apps/{installed.app_id}/tenants/tenant-api/access-token"
    current = get(live_server, api_key, path).json()["access_token"]
    age_token(installed, "tenant-api")
    platform.control("faults", endpoint=TENANT_TOKEN_CALL[installed.platform], errcode=-1, count=1)
    response = refresh(live_server, api_key, path, current)
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "upstream_busy"
    assert int(response.headers["Retry-After"]) > 0
    # The platform is back: the next caller gets a new token.
    assert refresh(live_server, api_key, path, current).status_code == 200


def test_refused_settings_are_502(platform, suite, live_server, api_key):
    platform.control("faults", endpoint="get_suite_token", errcode=40080, count=1)
    response = get(live_server, api_key, f"/apps/{suite.app_id}/access-token")
    assert response.status_code == 502, response.text
    assert response.json()["error"]["code"] == "upstream_config"
    assert "40080" in response.json()["error"]["message"]


def test_dead_credential_is_409_needs_reauth(platform, suite, app, live_server, api_key):
    push(platform, suite, "create_auth", tenant_id="tenant-dead")
    drain(app)
    path = f"/apps/{suite.app_id}/tenants/tenant-dead/access-token"
    current = get(live_server, api_key, path).json()["access_token"]
    age_token(suite, "tenant-dead")
    platform.control("faults", endpoint="get_corp_token", errcode=40084, count=1)
    response = refresh(live_server, api_key, path, current)
    assert response.status_code == 409, response.text
    assert response.json()["error"]["code"] == "tenant_needs_reauth"
    assert get(live_server, api_key, path).status_code == 409


def test_refresh_that_needs_a_new_app_token_too(platform, installed, live_server, api_key):
    """The tenant refresh finds the app token expired: the app's secret, which serving a token
    never loads, is read for the app token call."""
    path = f"/apps/{installed.app_id}/tenants/tenant-api/access-token"
    current = get(live_server, api_key, path).json()["access_token"]
    age_token(installed, "tenant-api")
    session = db.session()
    session.execute(update(AppToken.__table__).values(expires_at=utcnow(), refresh_at=utcnow()))
    session.commit()
    before = platform.calls()
    response = refresh(live_server, api_key, path, current)
    assert response.status_code == 200, response.text
    after = platform.calls()
    for endpoint in (APP_TOKEN_CALL[installed.platform], TENANT_TOKEN_CALL[installed.platform]):
        assert after.get(endpoint, 0) == before.get(endpoint, 0) + 1
