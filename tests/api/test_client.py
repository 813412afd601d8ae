"""TokenClient against the server over real HTTP: cached tokens cost no request, a refresh names
the token that failed, errors raise TokenClientError."""

from __future__ import annotations

import threading

import pytest
import requests
from sqlalchemy import select

from suite_server import db
from suite_server.client import TokenClient, TokenClientError
from suite_server.models import Tenant
from tests import factories
from tests.api.conftest import TENANT_TOKEN_CALL, age_token, fresh_token


class CountingSession(requests.Session):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[str] = []
        self._count = threading.Lock()

    def request(self, method, url, *args, **kwargs):
        with self._count:
            self.sent.append(f"{method} {url.split('/api/v1', 1)[1]}")
        return super().request(method, url, *args, **kwargs)


@pytest.fixture
def http() -> CountingSession:
    return CountingSession()


@pytest.fixture
def offline(app):
    """A suite and a tenant with fresh tokens in the database: no platform involved."""
    suite = factories.wecom_app(db.session(), app_id="wwclient")
    fresh_token(suite, "suite-token")
    corp = factories.tenant(db.session(), suite, tenant_id="wwcorp")
    fresh_token(corp, "corp-token", lifetime=7200)
    short = factories.tenant(db.session(), suite, tenant_id="wwshort")
    fresh_token(short, "short-token", lifetime=60)  # served (half is left), but within 60 s
    return suite


def test_tokens_are_cached_until_the_margin(offline, live_server, api_key, http):
    client = TokenClient(live_server, api_key, session=http)
    assert client.app_token("wwclient") == "suite-token"
    assert client.tenant_token("wwclient", "wwcorp") == "corp-token"
    assert client.app_token("wwclient") == "suite-token"
    assert client.tenant_token("wwclient", "wwcorp") == "corp-token"
    assert len(http.sent) == 2
    # A token that expires within the client's 60 s margin is used once and never cached.
    assert client.tenant_token("wwclient", "wwshort") == "short-token"
    assert client.tenant_token("wwclient", "wwshort") == "short-token"
    assert len(http.sent) == 4


def test_invalidate_forgets(offline, live_server, api_key, http):
    client = TokenClient(live_server, api_key, session=http)
    client.app_token("wwclient")
    client.tenant_token("wwclient", "wwcorp")
    client.invalidate("wwclient", "wwcorp")
    client.app_token("wwclient")
    client.tenant_token("wwclient", "wwcorp")
    assert len(http.sent) == 3
    client.invalidate("wwclient")
    client.app_token("wwclient")
    client.tenant_token("wwclient", "wwcorp")
    assert len(http.sent) == 5
    client.invalidate()
    client.tenant_token("wwclient", "wwcorp")
    assert len(http.sent) == 6


def test_errors_raise_token_client_error(offline, live_server, api_key):
    client = TokenClient(live_server, api_key)
    with pytest.raises(TokenClientError) as raised:
        client.tenant_token("wwclient", "wwnobody")
    assert (raised.value.status, raised.value.code) == (404, "not_found")
    with pytest.raises(TokenClientError) as raised:
        TokenClient(live_server, "ssk_wrong").app_token("wwclient")
    assert (raised.value.status, raised.value.code) == (401, "unauthorized")
    with pytest.raises(TokenClientError) as raised:
        TokenClient("http://127.0.0.1:9", api_key, timeout=2).app_token("wwclient")
    assert (raised.value.status, raised.value.code) == (0, "unreachable")
    # Ids are path segments, quoted: a slash in one is not a different URL.
    with pytest.raises(TokenClientError) as raised:
        client.tenant_token("wwclient", "wwcorp/access-token")
    assert raised.value.status == 404


def test_refresh_on_a_stale_token(platform, installed, live_server, api_key, http):
    endpoint = TENANT_TOKEN_CALL[installed.platform]
    client = TokenClient(live_server, api_key, session=http)
    token = client.tenant_token(installed.app_id, "tenant-api")
    age_token(installed, "tenant-api")
    before = platform.calls().get(endpoint, 0)

    # The platform refused `token`: one refresh upstream, and the new token is cached.
    new = client.tenant_token_refreshed(installed.app_id, "tenant-api", token)
    assert platform.calls().get(endpoint, 0) == before + 1
    assert http.sent[-1].endswith("/access-token/refresh") and http.sent[-1].startswith("POST")
    assert client.tenant_token(installed.app_id, "tenant-api") == new
    assert len(http.sent) == 2

    if new != token:  # Open: a new token. Another thread reporting the old one gets the new one
        assert client.tenant_token_refreshed(installed.app_id, "tenant-api", token) == new
        assert len(http.sent) == 2  # from the cache, no request
    # Another process that still held the old token asks the server: no upstream call.
    other = TokenClient(live_server, api_key)
    assert other.tenant_token_refreshed(installed.app_id, "tenant-api", token) == new
    assert platform.calls().get(endpoint, 0) == before + 1


def test_a_cancelled_tenant_raises_409_and_its_token_is_dropped(
    offline, live_server, api_key, http
):
    client = TokenClient(live_server, api_key, session=http)
    token = client.tenant_token("wwclient", "wwcorp")
    tenant = db.session().scalar(select(Tenant).where(Tenant.tenant_id == "wwcorp"))
    tenant.status = "cancelled"
    db.session().commit()
    # Cached: the client cannot know yet. The platform refuses the token; the refresh says why.
    assert client.tenant_token("wwclient", "wwcorp") == token
    with pytest.raises(TokenClientError) as raised:
        client.tenant_token_refreshed("wwclient", "wwcorp", token)
    assert (raised.value.status, raised.value.code) == (409, "tenant_cancelled")
    with pytest.raises(TokenClientError) as raised:
        client.tenant_token("wwclient", "wwcorp")
    assert raised.value.status == 409
    assert len(http.sent) == 3
