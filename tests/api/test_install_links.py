"""One-time install links: minted through the API with a ref and a return_to the app's allow-list
admits, opened once (over HTTP, against the sandbox) to start an install carrying them, landing
on return_to with a signed assertion of the tenant."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest
import requests
from sqlalchemy import select, text

from suite_server import db
from suite_server.accounts import create_api_key
from suite_server.client import TokenClient, TokenClientError, verify_install
from suite_server.db import utcnow
from suite_server.models import App, InboundEvent, InstallLink, InstallState
from tests import factories
from tests.authorization.conftest import drain, query_of, tenant_of

SECRET = "landing-secret-of-the-link-tests"
ALLOWED = "https://app.example.com/welcome\nhttps://staging.example.com"


@pytest.fixture(params=["wecom", "open"])
def either(request) -> App:
    return request.getfixturevalue("suite" if request.param == "wecom" else "component")


@pytest.fixture
def offline(app) -> App:
    """A suite with an allow-list, no platform behind it: minting asks no one."""
    return with_list(factories.wecom_app(db.session(), app_id="wwlinks"))


def with_list(app: App) -> App:
    app.return_to_allowed = ALLOWED
    db.session().commit()
    return app


def mint(client, auth, app_id: str, **body):
    return client.post(f"/api/v1/apps/{app_id}/install-links", json=body, headers=auth)


def allow(app: App, landing_url: str | None = "https://app.example.com/installed") -> None:
    app.return_to_allowed, app.landing_url, app.landing_secret = ALLOWED, landing_url, SECRET
    db.session().commit()


def token_of(url: str) -> str:
    return query_of(url)["link"]


def open_link(url: str, **extra) -> requests.Response:
    return requests.get(url, params=extra, allow_redirects=False, timeout=30)


# -- minting -------------------------------------------------------------------------------


def test_a_link_is_answered_once_and_only_its_hash_is_stored(app, client, auth, offline):
    before = utcnow()
    response = mint(
        client, auth, "wwlinks", ref="cust-1", return_to="https://app.example.com/welcome?p=1"
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert set(body) == {"url", "expires_at", "ref", "return_to"}
    assert body["url"].startswith(f"{app.config['PUBLIC_URL']}/install/wwlinks?link=")
    assert (body["ref"], body["return_to"]) == ("cust-1", "https://app.example.com/welcome?p=1")
    assert response.headers["Cache-Control"] == "no-store"
    token = token_of(body["url"])
    assert len(token) >= 43
    [row] = db.session().scalars(select(InstallLink)).all()
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert row.used_at is None and row.ref == "cust-1"
    expires = row.expires_at - before
    assert timedelta(hours=23, minutes=59) < expires < timedelta(hours=24, minutes=1)
    dump = db.session().execute(text("SELECT * FROM install_links")).all()
    assert token not in str(dump)  # nowhere at rest


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"ref": None, "return_to": None},
        {"ref": "r", "expires_in": 60},
        {"expires_in": 604800},
        {"return_to": "https://STAGING.example.com:443/any/where?x=1#frag"},
        {"return_to": "https://app.example.com/welcome/"},
    ],
)
def test_links_with_what_is_allowed(client, auth, offline, body):
    response = mint(client, auth, "wwlinks", **body)
    assert response.status_code == 201, response.get_json()


@pytest.mark.parametrize(
    "return_to",
    [
        "https://app.example.com.evil.com/welcome",  # a longer host is another host
        "http://app.example.com/welcome",  # another scheme
        "https://app.example.com:8443/welcome",  # another port
        "https://app.example.com/welcomes",  # not under /welcome
        "https://app.example.com/elsewhere",
        "https://evil.example/welcome",
    ],
)
def test_a_return_to_outside_the_allow_list_is_refused(client, auth, offline, return_to):
    response = mint(client, auth, "wwlinks", ref="r", return_to=return_to)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "return_to_not_allowed" and "--allow" in error["message"]
    assert db.session().scalar(select(InstallLink)) is None


def test_without_an_allow_list_no_return_to_is_allowed(client, auth, app):
    factories.wecom_app(db.session(), app_id="wwnolist")
    response = mint(client, auth, "wwnolist", return_to="https://app.example.com/welcome")
    assert response.get_json()["error"]["code"] == "return_to_not_allowed"


@pytest.mark.parametrize(
    "body",
    [
        {"ref": ""},
        {"ref": "x" * 129},
        {"ref": "no spaces"},
        {"ref": 42},
        {"return_to": ""},
        {"return_to": 7},
        {"return_to": "javascript:alert(1)"},
        {"return_to": "https://app.example.com/welcome/../admin"},
        {"return_to": "https://user@app.example.com/welcome"},
        {"return_to": "https://app.example.com/welcome\\@evil"},
        {"expires_in": 59},
        {"expires_in": 604801},
        {"expires_in": "3600"},
        {"expires_in": True},
        {"expires_in": 3600.5},
        {"surprise": 1},
    ],
)
def test_a_bad_body_is_a_400_naming_the_field(client, auth, offline, body):
    response = mint(client, auth, "wwlinks", **body)
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["error"]["code"] == "bad_request"


def test_not_a_json_object_and_too_big_bodies(client, auth, offline):
    url = "/api/v1/apps/wwlinks/install-links"
    for data in ("not json", "[1, 2]", "null"):
        answer = client.post(url, data=data, headers=auth)
        assert answer.status_code == 400 and answer.get_json()["error"]["code"] == "bad_request"
    big = client.post(url, data=json.dumps({"ref": "x" * 20000}), headers=auth)
    assert big.status_code == 413
    assert big.get_json()["error"]["code"] == "request_entity_too_large"


def test_keys_apps_and_templates(client, auth, offline, app):
    factories.wecom_app(db.session(), app_id="wwsomeoneelse")
    other = create_api_key(db.session(), "other-app", app_ids=["wwsomeoneelse"])
    db.session().commit()
    refused = mint(client, {"Authorization": f"Bearer {other}"}, "wwlinks", ref="r")
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "forbidden"
    assert mint(client, {}, "wwlinks").status_code == 401
    assert mint(client, auth, "wwnosuchapp").status_code == 404
    factories.provider(db.session(), corpid="wwlinkprovider")
    assert mint(client, auth, "wwlinkprovider").status_code == 404  # installs no one
    with_list(factories.wecom_app(db.session(), app_id="dklinktemplate"))
    assert mint(client, auth, "dklinktemplate", ref="r").status_code == 201
    qr = mint(client, auth, "dklinktemplate", return_to="https://app.example.com/welcome")
    assert qr.status_code == 400 and "QR code" in qr.get_json()["error"]["message"]


# -- opening ---------------------------------------------------------------------------------


def test_a_link_starts_one_install_with_its_ref_and_lands_on_return_to(
    app, client, auth, platform, either
):
    allow(either)
    minted = mint(
        client,
        auth,
        either.app_id,
        ref="cust-link",
        return_to="https://app.example.com/welcome?a=1",
    ).get_json()
    started = open_link(minted["url"])
    assert started.status_code == 302 and started.headers["Location"].startswith(platform.base)
    db.session().expire_all()
    state = db.session().scalar(select(InstallState))
    assert (state.ref, state.return_to) == ("cust-link", "https://app.example.com/welcome?a=1")
    assert db.session().scalar(select(InstallLink)).used_at is not None

    again = open_link(minted["url"])
    assert again.status_code == 400 and "already used" in again.text

    browser = requests.Session()
    back = platform.approve_in_browser(started.headers["Location"], "tenant-link", "Link Corp")
    done = browser.get(back, allow_redirects=False, timeout=30)
    platform.join()
    drain(app)
    assert done.status_code == 302, done.text
    where = done.headers["Location"]
    assert where.startswith("https://app.example.com/welcome?a=1&install=")
    claims = verify_install(query_of(where)["install"], SECRET, app_id=either.app_id)
    assert (claims["tenant_id"], claims["ref"]) == ("tenant-link", "cust-link")
    assert claims["ref_from"] == "link"
    tenant = tenant_of(either, "tenant-link")
    assert (tenant.install_ref, tenant.install_ref_from) == ("cust-link", "link")
    authorized = (
        db.session()
        .scalars(
            select(InboundEvent).where(
                InboundEvent.app_pk == either.id, InboundEvent.kind == "tenant.authorized"
            )
        )
        .all()
    )
    [body] = [json.loads(e.payload)["tenant"] for e in authorized]
    assert (body["ref"], body["ref_from"]) == ("cust-link", "link")

    # A reload of the done page lands on return_to again, with a fresh assertion.
    reload = browser.get(back, allow_redirects=False, timeout=30)
    assert reload.headers["Location"].startswith("https://app.example.com/welcome?a=1&install=")
    again = verify_install(query_of(reload.headers["Location"])["install"], SECRET)
    assert (again["ref"], again["ref_from"]) == ("cust-link", "link")


@pytest.mark.parametrize("change", ["expired", "unknown", "other app", "with ref"])
def test_a_link_that_cannot_be_used_is_the_400_page(
    client, auth, platform, suite, component, change
):
    minted = mint(client, auth, suite.app_id, ref="cust-x").get_json()
    url = minted["url"]
    extra = {}
    if change == "expired":
        db.session().execute(
            InstallLink.__table__.update().values(expires_at=utcnow() - timedelta(seconds=1))
        )
        db.session().commit()
    elif change == "unknown":
        url = url.replace(token_of(url), "A" * 43)
    elif change == "other app":
        url = url.replace(f"/install/{suite.app_id}?", f"/install/{component.app_id}?")
    else:
        extra = {"ref": "cust-chosen-by-the-holder"}  # a link's ref is not the holder's to change
    response = open_link(url, **extra)
    assert response.status_code == 400
    assert ("own ref" if change == "with ref" else "unknown, expired or already used") in (
        response.text
    )
    assert db.session().scalar(select(InstallState)) is None
    db.session().expire_all()
    assert db.session().scalar(select(InstallLink)).used_at is None


def test_a_start_that_fails_upstream_leaves_the_link_usable(client, auth, platform, suite):
    minted = mint(client, auth, suite.app_id, ref="cust-retry").get_json()
    platform.control("faults", endpoint="get_pre_auth_code", errcode=-1, count=1)
    assert open_link(minted["url"]).status_code == 503
    db.session().expire_all()
    assert db.session().scalar(select(InstallLink)).used_at is None
    assert open_link(minted["url"]).status_code == 302


def test_a_prefix_removed_after_minting_lands_on_the_landing_url(
    app, client, auth, platform, suite
):
    allow(suite)
    minted = mint(client, auth, suite.app_id, return_to="https://staging.example.com/x").get_json()
    suite.return_to_allowed = "https://app.example.com/welcome"
    db.session().commit()
    page = open_link(minted["url"]).headers["Location"]
    back = platform.approve_in_browser(page, "wwcorp-moved")
    where = requests.get(back, allow_redirects=False, timeout=30).headers["Location"]
    assert where.startswith("https://app.example.com/installed?install=")


def test_token_client_mints_links(app, platform, live_server, api_key, suite):
    allow(suite)
    tokens = TokenClient(live_server, api_key)
    made = tokens.install_link(suite.app_id, ref="cust-py", expires_in=600)
    assert made["ref"] == "cust-py" and made["url"].startswith(f"{live_server}/install/")
    with pytest.raises(TokenClientError) as refused:
        tokens.install_link(suite.app_id, return_to="https://evil.example/")
    assert (refused.value.status, refused.value.code) == (400, "return_to_not_allowed")


def test_the_access_log_masks_an_install_links_token(client, auth, offline):
    from suite_server.ops.access_log import mask

    url = mint(client, auth, "wwlinks", ref="cust-log").get_json()["url"]
    line = f'127.0.0.1 - - "GET {url.split("127.0.0.1", 1)[-1]} HTTP/1.1" 302 -'
    assert token_of(url) not in mask(line) and "link=***" in mask(line)
    assert mask("GET /x?deeplink=keep HTTP/1.1") == "GET /x?deeplink=keep HTTP/1.1"
