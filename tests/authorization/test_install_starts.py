"""What an anonymous `GET /install/<app>` may cost: one pre-auth code is shared while it is valid,
each client address gets a limited number of starts, and expired install states are pruned."""

from __future__ import annotations

import http.client
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import func, select, update

from suite_server import db
from suite_server.authorization import housekeeping, preauth, starts
from suite_server.db import utcnow
from suite_server.jobs import schedule
from suite_server.models import App, InstallState, PreAuthCode
from tests.authorization.conftest import drain, query_of

PRE_AUTH = {"wecom": "get_pre_auth_code", "open": "api_create_preauthcode"}


@pytest.fixture(params=["wecom", "open"])
def either(request) -> App:
    return request.getfixturevalue("suite" if request.param == "wecom" else "component")


def code_of(page: str) -> str:
    return query_of(page.removesuffix("#wechat_redirect"))["pre_auth_code"]


def state_of(page: str) -> str:
    query = query_of(page)
    return query.get("state") or query_of(query["redirect_uri"])["state"]  # Open: inside it


def test_install_links_share_one_pre_auth_code_while_it_is_valid(platform, either, monkeypatch):
    pages = [platform.start_install(either) for _ in range(5)]
    assert len({code_of(page) for page in pages}) == 1
    assert len({state_of(page) for page in pages}) == 5  # a state each
    assert platform.calls()[PRE_AUTH[either.platform]] == 1
    assert db.session().scalar(select(func.count()).select_from(InstallState)) == 5

    # Reused until shortly before it expires (WeCom 1200 s, Open 600 s): the person opening
    # the page still has minutes to approve. Then a new one.
    lifetime = {"wecom": 1200, "open": 600}[either.platform]
    late = utcnow() + timedelta(seconds=lifetime - preauth.MARGIN.total_seconds() + 1)
    monkeypatch.setattr(preauth, "utcnow", lambda: late)
    fresh = platform.start_install(either)
    assert code_of(fresh) != code_of(pages[0])
    assert platform.calls()[PRE_AUTH[either.platform]] == 2


def test_a_code_that_went_through_an_approval_is_not_handed_out_again(platform, either):
    # The platform may take each pre-auth code once (open-platform.md §4.2).
    first = platform.start_install(either)
    back = platform.approve_in_browser(first, "tenant-first")
    assert requests.get(back, timeout=30).status_code == 200
    second = platform.start_install(either)
    assert code_of(second) != code_of(first)
    back = platform.approve_in_browser(second, "tenant-second")
    assert requests.get(back, timeout=30).status_code == 200


def test_the_open_authorized_push_retires_the_code_without_the_redirect(app, platform, component):
    first = platform.start_install(component)
    platform.approve_in_browser(first, "wx-never-back")  # the browser never comes back
    platform.join()  # the `authorized` push, carrying PreAuthCode
    drain(app)
    assert code_of(platform.start_install(component)) != code_of(first)


def test_test_mode_gets_its_own_code(platform, suite):
    formal = platform.start_install(suite)
    suite.test_mode = True
    db.session().commit()
    test = platform.start_install(suite)
    assert code_of(test) != code_of(formal)
    assert platform.calls()["set_session_info"] == 1


def _get_from(address: str, url: str) -> http.client.HTTPResponse:
    """GET as a browser on another machine would: from another loopback address."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(
        parts.hostname, parts.port, timeout=30, source_address=(address, 0)
    )
    connection.request("GET", f"{parts.path}?{parts.query}" if parts.query else parts.path)
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


def test_starts_are_limited_per_client_address_with_retry_after(platform, suite):
    url = f"{platform.server}/install/{suite.app_id}"
    for _ in range(starts.LIMIT):
        assert requests.get(url, allow_redirects=False, timeout=30).status_code == 302
    refused = requests.get(url, allow_redirects=False, timeout=30)
    assert refused.status_code == 429
    retry_after = int(refused.headers["Retry-After"])
    assert 0 < retry_after <= starts.WINDOW.total_seconds()
    assert "Too many install attempts" in refused.text
    assert platform.calls()["get_pre_auth_code"] == 1
    rows = db.session().scalar(select(func.count()).select_from(InstallState))
    assert rows == starts.LIMIT  # a refused start writes nothing

    assert _get_from("127.0.0.2", url).status == 302  # another address is not held back
    # Once the window has passed, this address may start again.
    for row in db.session().scalars(select(InstallState)):
        row.created_at -= starts.WINDOW
    db.session().commit()
    assert requests.get(url, allow_redirects=False, timeout=30).status_code == 302


def test_client_addresses_are_grouped_as_one_host_or_one_ipv6_network():
    assert starts.client_key("203.0.113.9") == "203.0.113.9"
    assert starts.client_key("2001:db8:1:2:aaaa::1") == starts.client_key("2001:db8:1:2:bbbb::9")
    assert starts.client_key("2001:db8:1:2::1") != starts.client_key("2001:db8:1:3::1")
    assert starts.client_key("::ffff:203.0.113.9") == "203.0.113.9"
    assert starts.client_key(None) == "unknown"
    assert starts.client_key("not an address") == "not an address"


def test_expired_states_and_codes_are_pruned_in_batches(app, platform, suite, monkeypatch):
    for _ in range(5):
        platform.start_install(suite)
    session = db.session()
    session.execute(update(InstallState).values(expires_at=utcnow() - timedelta(seconds=1)))
    session.execute(update(PreAuthCode).values(expires_at=utcnow() - timedelta(seconds=1)))
    session.commit()
    platform.start_install(suite)  # a live one stays
    monkeypatch.setattr(housekeeping, "BATCH", 2)
    assert housekeeping.prune_installs() == {
        "install_states": 5,
        "pre_auth_codes": 1,
        "install_links": 0,
    }
    session.expire_all()
    [left] = session.scalars(select(InstallState)).all()
    assert left.expires_at > utcnow() and left.pre_auth_code_id is not None
    assert session.scalar(select(func.count()).select_from(PreAuthCode)) == 1
    assert any(p.task == "installs.prune" for p in schedule.SCHEDULE)
