"""The token API over the Flask test client: API keys, errors as JSON, tenant pages, and tokens
served from the database (the upstream side is in test_with_sandbox.py)."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import event, select, update

from suite_server import db
from suite_server.accounts import create_api_key, revoke_api_key
from suite_server.api import auth as api_auth
from suite_server.api import queries, token_cache
from suite_server.db import utcnow
from suite_server.models import ApiKey, Tenant, TenantToken
from suite_server.tokens.service import Served
from tests import factories
from tests.api.conftest import fresh_token

CREDENTIAL = "permanent-code-must-never-leave"
JSON = "application/json"

ENDPOINTS = [
    ("GET", "/api/v1/apps"),
    ("GET", "/api/v1/apps/wwsuite/access-token"),
    ("GET", "/api/v1/apps/wwsuite/tenants"),
    ("GET", "/api/v1/apps/wwsuite/tenants/wwcorp"),
    ("GET", "/api/v1/apps/wwsuite/tenants/wwcorp/access-token"),
    ("POST", "/api/v1/apps/wwsuite/tenants/wwcorp/access-token/refresh"),
]


@pytest.fixture
def suite(app):
    """A suite in the database only (this module's own, not the sandbox's of conftest.py)."""
    return factories.wecom_app(db.session(), app_id="wwsuite", name="The Suite")


@pytest.fixture
def corp(suite):
    tenant = factories.tenant(
        db.session(),
        suite,
        tenant_id="wwcorp",
        name="Corp",
        credential=CREDENTIAL,
        previous_credential=CREDENTIAL + "-old",
        auth_info={"auth_corp_info": {"corpid": "wwcorp", "corp_name": "Corp"}},
    )
    fresh_token(tenant, "corp-token-1")
    return tenant


def error_of(response, status: int, code: str) -> str:
    """Assert the error shape; returns the message."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == code and body["error"]["message"]
    return body["error"]["message"]


# -- API keys ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_every_endpoint_needs_a_key(client, corp, method, path):
    response = client.open(path, method=method, json={"stale_token": "x"})
    error_of(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "header",
    ["", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token {key}", "{key}", "Bearer  ", "Bearer\t"],
)
def test_malformed_authorization_is_401(client, api_key, header):
    response = client.get("/api/v1/apps", headers={"Authorization": header.format(key=api_key)})
    error_of(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_scheme_is_case_insensitive(client, api_key):
    assert (
        client.get("/api/v1/apps", headers={"Authorization": f"bearer {api_key}"}).status_code
        == 200
    )


@pytest.mark.parametrize("key", ["ssk_not-a-key", "x" * 5000, "ssk_\u00e9\u4e2d"])
def test_unknown_key_is_401(client, api_key, key):
    response = client.get("/api/v1/apps", headers={"Authorization": f"Bearer {key}"})
    error_of(response, 401, "unauthorized")


def test_revoked_key_is_401(client, api_key):
    revoke_api_key(db.session(), "tests")
    db.session().commit()
    response = client.get("/api/v1/apps", headers={"Authorization": f"Bearer {api_key}"})
    error_of(response, 401, "unauthorized")


def test_revoked_key_stops_working_once_the_cache_lapses(client, auth, monkeypatch):
    # The cache's clock is held, so a slow machine cannot let it lapse early.
    clock = SimpleNamespace(now=1000.0)
    monkeypatch.setattr(api_auth, "time", SimpleNamespace(monotonic=lambda: clock.now))
    assert client.get("/api/v1/apps", headers=auth).status_code == 200
    revoke_api_key(db.session(), "tests")
    db.session().commit()
    # Within the cache's few seconds the process still knows the key (documented in auth.py).
    clock.now += api_auth.CACHE_SECONDS - 0.1
    assert client.get("/api/v1/apps", headers=auth).status_code == 200
    clock.now += 0.2
    error_of(client.get("/api/v1/apps", headers=auth), 401, "unauthorized")


def test_a_new_key_works_at_once_and_others_keep_working(client, auth):
    assert client.get("/api/v1/apps", headers=auth).status_code == 200
    other = create_api_key(db.session(), "other")
    db.session().commit()
    assert (
        client.get("/api/v1/apps", headers={"Authorization": f"Bearer {other}"}).status_code == 200
    )
    assert client.get("/api/v1/apps", headers=auth).status_code == 200


def test_last_used_is_recorded_at_most_once_a_minute_and_a_known_key_costs_no_query(
    app, client, auth
):
    def last_used():
        db.session().expire_all()
        used = db.session().scalar(select(ApiKey.last_used_at).where(ApiKey.name == "tests"))
        db.session().rollback()
        return used

    assert last_used() is None
    assert client.get("/api/v1/apps", headers=auth).status_code == 200
    first = last_used()
    assert first is not None

    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_args):
        statements.append(statement)

    engine = app.extensions["suite_server.engine"]
    event.listen(engine, "before_cursor_execute", seen)
    try:
        assert client.get("/api/v1/apps", headers=auth).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert statements and not any("api_keys" in s for s in statements)
    assert last_used() == first


# -- errors ------------------------------------------------------------------------------------


def test_unknown_app_and_tenant_are_404(client, auth, corp):
    for path in [
        "/api/v1/apps/wwnope/access-token",
        "/api/v1/apps/wwnope/tenants",
        "/api/v1/apps/wwnope/tenants/wwcorp",
        "/api/v1/apps/wwnope/tenants/wwcorp/access-token",
    ]:
        assert "wwnope" in error_of(client.get(path, headers=auth), 404, "not_found")
    for path in [
        "/api/v1/apps/wwsuite/tenants/wwother",
        "/api/v1/apps/wwsuite/tenants/wwother/access-token",
    ]:
        assert "wwother" in error_of(client.get(path, headers=auth), 404, "not_found")
    response = client.post(
        "/api/v1/apps/wwsuite/tenants/wwother/access-token/refresh",
        headers=auth,
        json={"stale_token": "x"},
    )
    error_of(response, 404, "not_found")


def test_a_tenant_of_another_app_is_404(client, auth, corp):
    other = factories.open_app(db.session(), app_id="wxother")
    factories.tenant(db.session(), other, tenant_id="wxaccount")
    error_of(client.get("/api/v1/apps/wwsuite/tenants/wxaccount", headers=auth), 404, "not_found")
    error_of(
        client.get("/api/v1/apps/wwsuite/tenants/wxaccount/access-token", headers=auth),
        404,
        "not_found",
    )


def test_unknown_urls_and_methods_answer_json(client, auth, corp):
    error_of(client.get("/api/v1/nothing", headers=auth), 404, "not_found")
    error_of(client.get("/api/v2/apps", headers=auth), 404, "not_found")
    error_of(client.get("/api/v1/apps/wwsuite/tenants/wwcorp/x/y", headers=auth), 404, "not_found")
    response = client.post("/api/v1/apps", headers=auth)
    error_of(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]
    error_of(
        client.get("/api/v1/apps/wwsuite/tenants/wwcorp/access-token/refresh", headers=auth),
        405,
        "method_not_allowed",
    )
    # Elsewhere Flask's own pages stay.
    assert not client.get("/no-such-page").is_json


@pytest.mark.parametrize(
    "query",
    [
        "status=gone",
        "status=ACTIVE",
        "limit=0",
        "limit=501",
        "limit=x",
        "limit=-1",
        "limit=%C2%B2",
        "limit=" + "9" * 5000,
        "cursor=!!!",
        "cursor=" + "YWJj",
        "cursor=" + base64.urlsafe_b64encode(b"-1").decode(),
        "cursor=%E4%B8%AD",
        "cursor=" + base64.urlsafe_b64encode(b"9" * 40).decode(),
        "q=" + "a" * 101,
        "q=a%00b",
    ],
)
def test_bad_page_parameters_are_400(client, auth, corp, query):
    error_of(client.get(f"/api/v1/apps/wwsuite/tenants?{query}", headers=auth), 400, "bad_request")


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (None, None),
        (b"", JSON),
        (b"{not json", JSON),
        (b"[]", JSON),
        (b"{}", JSON),
        (b'{"stale_token": 5}', JSON),
        (b'{"stale_token": null}', JSON),
        (b'{"stale_token": ""}', JSON),
        (b'{"stale_token": ["x"]}', JSON),
        (b"\xff\xfe", JSON),
        (b"stale_token=x", "application/x-www-form-urlencoded"),
    ],
)
def test_bad_refresh_bodies_are_400(client, auth, corp, data, content_type):
    headers = dict(auth, **({"Content-Type": content_type} if content_type else {}))
    response = client.post(
        "/api/v1/apps/wwsuite/tenants/wwcorp/access-token/refresh", headers=headers, data=data
    )
    error_of(response, 400, "bad_request")


def test_an_oversized_refresh_body_is_413(client, auth, corp):
    body = json.dumps({"stale_token": "x" * 20000})
    response = client.post(
        "/api/v1/apps/wwsuite/tenants/wwcorp/access-token/refresh",
        headers=auth,
        data=body,
        content_type="application/json",
    )
    error_of(response, 413, "request_entity_too_large")


@pytest.mark.parametrize(
    "path",
    [  # a NUL (%00) is the app-wide guard's 400 before any view: tests/test_guards.py
        "/api/v1/apps/" + "w" * 300 + "/tenants",
        "/api/v1/apps/wwsuite/tenants/" + "c" * 300,
        "/api/v1/apps/wwsuite/tenants/%E4%B8%AD%F0%9F%98%80/access-token",
        "/api/v1/apps/%25/tenants/%2F..%2F/access-token",
    ],
)
def test_odd_ids_are_404_not_500(client, auth, corp, path):
    error_of(client.get(path, headers=auth), 404, "not_found")


def test_cancelled_and_needs_reauth_tenants_are_409(client, auth, corp):
    for status, reason in [("cancelled", None), ("needs_reauth", "get_corp_token: 40084 dead")]:
        corp.status, corp.status_reason = status, reason
        db.session().commit()
        for method, path in ENDPOINTS[4:]:
            response = client.open(path, method=method, headers=auth, json={"stale_token": "x"})
            message = error_of(response, 409, f"tenant_{status}")
            assert reason is None or reason in message


# -- tokens from the database ------------------------------------------------------------------


def test_tenant_token_is_served(client, auth, corp):
    response = client.get("/api/v1/apps/wwsuite/tenants/wwcorp/access-token", headers=auth)
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"access_token", "expires_at", "expires_in"}
    assert body["access_token"] == "corp-token-1"
    assert isinstance(body["expires_in"], int) and 7190 <= body["expires_in"] <= 7200
    expires_at = datetime.fromisoformat(body["expires_at"])
    assert expires_at.utcoffset().total_seconds() == 0
    assert response.headers["Cache-Control"] == "no-store"


def test_refresh_with_an_old_token_hands_back_the_current_one(client, auth, corp):
    response = client.post(
        "/api/v1/apps/wwsuite/tenants/wwcorp/access-token/refresh",
        headers=auth,
        json={"stale_token": "corp-token-0"},
    )
    assert response.status_code == 200
    assert response.get_json()["access_token"] == "corp-token-1"


def _later(monkeypatch, seconds: float) -> None:
    """Move the token cache's clock `seconds` ahead (the token service's stays)."""
    monkeypatch.setattr(token_cache, "utcnow", lambda: utcnow() + timedelta(seconds=seconds))


def _set_token(tenant, value: str) -> None:
    """As another process's refresh would: a new token in the row."""
    db.session().execute(
        update(TenantToken).where(TenantToken.tenant_pk == tenant.id).values(access_token=value)
    )
    db.session().commit()


def test_a_token_read_again_within_seconds_costs_no_query(app, client, auth, corp, monkeypatch):
    path = "/api/v1/apps/wwsuite/tenants/wwcorp/access-token"
    assert client.get(path, headers=auth).get_json()["access_token"] == "corp-token-1"
    _set_token(corp, "corp-token-2")
    statements: list[str] = []
    engine = app.extensions["suite_server.engine"]
    seen = lambda _c, _cur, statement, *_a: statements.append(statement)  # noqa: E731
    event.listen(engine, "before_cursor_execute", seen)
    try:
        again = client.get(path, headers=auth)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    # The process's copy, for at most CACHE_SECONDS (documented in api/token_cache.py).
    assert again.get_json()["access_token"] == "corp-token-1" and statements == []
    assert 7190 <= again.get_json()["expires_in"] <= 7200
    _later(monkeypatch, token_cache.CACHE_SECONDS + 0.5)
    assert client.get(path, headers=auth).get_json()["access_token"] == "corp-token-2"


def test_a_cancelled_tenant_stops_being_served_once_the_cache_lapses(
    client, auth, corp, monkeypatch
):
    path = "/api/v1/apps/wwsuite/tenants/wwcorp/access-token"
    assert client.get(path, headers=auth).status_code == 200
    corp.status = "cancelled"
    db.session().commit()
    _later(monkeypatch, token_cache.CACHE_SECONDS + 0.5)
    error_of(client.get(path, headers=auth), 409, "tenant_cancelled")


def test_a_refresh_request_replaces_the_cached_token_at_once(client, auth, corp):
    path = "/api/v1/apps/wwsuite/tenants/wwcorp/access-token"
    assert client.get(path, headers=auth).get_json()["access_token"] == "corp-token-1"
    _set_token(corp, "corp-token-2")  # refreshed by another process: corp-token-1 was refused
    refreshed = client.post(f"{path}/refresh", headers=auth, json={"stale_token": "corp-token-1"})
    assert refreshed.get_json()["access_token"] == "corp-token-2"
    assert client.get(path, headers=auth).get_json()["access_token"] == "corp-token-2"


def test_the_cache_never_keeps_a_token_past_its_serving_margin(app):
    now = utcnow()
    soon = Served("t", now + timedelta(seconds=302), 1, usable_until=now + timedelta(seconds=2))
    later = Served("u", now + timedelta(seconds=7200), 1, usable_until=now + timedelta(hours=2))
    with app.app_context():
        token_cache.put(("a", "soon"), soon)
        token_cache.put(("a", "later"), later)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(token_cache, "utcnow", lambda: now + timedelta(seconds=1.5))
            assert token_cache.get(("a", "soon")) is soon
            patch.setattr(token_cache, "utcnow", lambda: now + timedelta(seconds=2.5))
            assert token_cache.get(("a", "soon")) is None  # the service would refresh it now
            assert token_cache.get(("a", "later")) is later
            patch.setattr(token_cache, "utcnow", lambda: now + timedelta(seconds=5.5))
            assert token_cache.get(("a", "later")) is None


def test_app_token_is_served(client, auth, suite):
    fresh_token(suite, "suite-token-1")
    response = client.get("/api/v1/apps/wwsuite/access-token", headers=auth)
    assert response.status_code == 200
    assert response.get_json()["access_token"] == "suite-token-1"


def test_apps_are_listed_without_secrets(client, auth, suite):
    fresh_token(suite, "suite-token-1")
    response = client.get("/api/v1/apps", headers=auth)
    [listed] = response.get_json()["apps"]
    assert listed["app_id"] == "wwsuite" and listed["platform"] == "wecom"
    assert listed["ticket_state"] == "missing" and listed["ticket_age"] is None
    assert listed["token_expires_at"] is not None
    text = response.get_data(as_text=True)
    for secret in (suite.secret, suite.token, suite.aes_key, "suite-token-1"):
        assert secret not in text


# -- tenants -----------------------------------------------------------------------------------


def test_one_tenant_never_shows_its_credential(client, auth, corp):
    response = client.get("/api/v1/apps/wwsuite/tenants/wwcorp", headers=auth)
    assert response.status_code == 200
    body = response.get_json()
    assert body["tenant_id"] == "wwcorp" and body["status"] == "active"
    assert body["credential"] == "present"
    assert body["auth_info"]["auth_corp_info"]["corp_name"] == "Corp"
    assert body["token_expires_at"] is not None
    assert body["kind"] == "third_party"
    assert set(body) == {
        "tenant_id",
        "kind",
        "name",
        "status",
        "status_reason",
        "authorized_at",
        "cancelled_at",
        "token_expires_at",
        "credential",
        "ref",
        "ref_from",
        "edition",
        "license",
        "capabilities",
        "auth_info",
    }
    assert body["license"] is None  # never read: no provider account here
    for path in ["/api/v1/apps/wwsuite/tenants", "/api/v1/apps/wwsuite/tenants/wwcorp"]:
        text = client.get(path, headers=auth).get_data(as_text=True)
        assert CREDENTIAL not in text and "corp-token-1" not in text


def test_a_tenant_without_credential_says_missing(client, auth, suite):
    factories.tenant(db.session(), suite, tenant_id="wwbare", credential=None)
    body = client.get("/api/v1/apps/wwsuite/tenants/wwbare", headers=auth).get_json()
    assert body["credential"] == "missing" and body["token_expires_at"] is None


@pytest.fixture
def many(suite):
    """250 tenants of the suite (every fifth cancelled) and 5 of another app."""
    session = db.session()
    for number in range(250):
        session.add(
            Tenant(
                app_pk=suite.id,
                tenant_id=f"ww{number:04d}",
                name=f"Corp {number} Ltd",
                status="cancelled" if number % 5 == 0 else "active",
                credential="pc",
            )
        )
    other = factories.open_app(session, app_id="wxother")
    for number in range(5):
        session.add(Tenant(app_pk=other.id, tenant_id=f"ww{number:04d}x", name="Other"))
    session.commit()


def pages(client, auth, query: str = "") -> list[list[dict]]:
    found, cursor = [], None
    while True:
        url = f"/api/v1/apps/wwsuite/tenants?{query}" + (f"&cursor={cursor}" if cursor else "")
        response = client.get(url, headers=auth)
        assert response.status_code == 200, response.get_data(as_text=True)
        body = response.get_json()
        found.append(body["tenants"])
        cursor = body["next_cursor"]
        if cursor is None:
            return found
        assert len(found) < 20


def test_pages_of_100_cover_every_tenant_once(client, auth, many):
    found = pages(client, auth)
    assert [len(page) for page in found] == [100, 100, 50]
    ids = [t["tenant_id"] for page in found for t in page]
    assert ids == [f"ww{n:04d}" for n in range(250)]


def test_limit_and_filters_page_together(client, auth, many):
    found = pages(client, auth, "limit=30&status=cancelled")
    assert [len(page) for page in found] == [30, 20]
    assert {t["status"] for page in found for t in page} == {"cancelled"}
    assert [len(page) for page in pages(client, auth, "status=active&limit=500")] == [200]
    # An exact page: no empty page after it.
    assert [len(page) for page in pages(client, auth, "status=cancelled&limit=50")] == [50]


def test_q_matches_an_id_prefix_or_a_name_substring(client, auth, many):
    [[*prefix]] = pages(client, auth, "q=WW012")
    assert [t["tenant_id"] for t in prefix] == [f"ww{n:04d}" for n in range(120, 130)]
    [[*named]] = pages(client, auth, "q=corp 24")
    assert {t["name"] for t in named} == {f"Corp {n} Ltd" for n in [24, *range(240, 250)]}
    # LIKE wildcards are literal, and a prefix is a prefix ("0012" is inside "ww0012").
    assert pages(client, auth, "q=%25") == [[]]
    assert pages(client, auth, "q=_") == [[]]
    assert pages(client, auth, "q=0012") == [[]]


def test_cursor_is_opaque_and_ours(client, auth, many):
    body = client.get("/api/v1/apps/wwsuite/tenants?limit=10", headers=auth).get_json()
    assert body["next_cursor"] and not body["next_cursor"].isdigit()
    query = f"limit=10&cursor={body['next_cursor']}"
    second = client.get(f"/api/v1/apps/wwsuite/tenants?{query}", headers=auth).get_json()
    assert second["tenants"][0]["tenant_id"] == "ww0010"


def test_empty_parameters_mean_no_filter(client, auth, many):
    response = client.get("/api/v1/apps/wwsuite/tenants?status=&q=&cursor=&limit=", headers=auth)
    assert len(response.get_json()["tenants"]) == 100


def test_an_unexpected_error_is_a_json_500(app, client, auth, suite, monkeypatch):
    """In production (exceptions not propagated) a bug still answers JSON, not an HTML page."""
    app.config.update(TESTING=False, PROPAGATE_EXCEPTIONS=False)

    def broken(*_args):
        raise RuntimeError("a bug")

    monkeypatch.setattr(queries, "find_app", broken)
    response = client.get("/api/v1/apps/wwsuite/access-token", headers=auth)
    error_of(response, 500, "internal_server_error")
    assert "a bug" not in response.get_data(as_text=True)
