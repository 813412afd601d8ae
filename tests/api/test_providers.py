"""The provider token over real HTTP with the sandbox: served and kept, fifty stale callers
causing one get_provider_token, API key scopes, refusals, and the TokenClient."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from sqlalchemy import select

from suite_server import db
from suite_server.accounts import create_api_key
from suite_server.client import TokenClient, TokenClientError
from suite_server.models import App, AppToken
from tests import factories
from tests.authorization.conftest import stale_crowd

CORPID = "wwapiprovider"


@pytest.fixture
def provider(platform):
    row = factories.provider(db.session(), corpid=CORPID, secret="the-provider-secret")
    platform.register_provider(row)
    return row


def get(live_server, key, path):
    return requests.get(
        f"{live_server}/api/v1{path}", headers={"Authorization": f"Bearer {key}"}, timeout=30
    )


def test_the_provider_token_is_served_and_kept(platform, provider, live_server, api_key):
    first = get(live_server, api_key, f"/providers/{CORPID}/access-token")
    assert first.status_code == 200, first.text
    assert first.json()["access_token"] and first.json()["expires_in"] > 7000
    second = get(live_server, api_key, f"/providers/{CORPID}/access-token")
    assert second.json()["access_token"] == first.json()["access_token"]
    assert platform.calls()["get_provider_token"] == 1
    # Not an app: not listed, and no app token under its corpid.
    listed = get(live_server, api_key, "/apps").json()["apps"]
    assert CORPID not in {a["app_id"] for a in listed}
    assert get(live_server, api_key, f"/apps/{CORPID}/access-token").status_code == 404


def test_fifty_stale_callers_cause_one_refresh(platform, provider, live_server, api_key):
    stale = get(live_server, api_key, f"/providers/{CORPID}/access-token").json()["access_token"]
    platform.control("tokens/invalidate", app_id=CORPID)  # WeCom may end it early
    with db.transaction() as session:  # obtained a while ago: no debounce applies
        row = session.scalar(select(AppToken).where(AppToken.app_pk == provider.id))
        row.obtained_at -= timedelta(seconds=60)
    before = platform.calls()["get_provider_token"]
    url = f"{live_server}/api/v1/providers/{CORPID}/access-token/refresh"
    answers = stale_crowd(url, api_key, stale)
    assert [a.status_code for a in answers] == [200] * 50, {a.text for a in answers}
    tokens = {a.json()["access_token"] for a in answers}
    assert len(tokens) == 1 and stale not in tokens
    assert platform.calls()["get_provider_token"] == before + 1
    # The new token is what the platform takes.
    answer = requests.post(
        f"{platform.base}/cgi-bin/service/get_customized_auth_url",
        params={"provider_access_token": tokens.pop()},
        json={"state": "abc", "templateid_list": []},
        timeout=10,
    ).json()
    assert answer.get("errcode") != 40082


def test_a_wrong_provider_secret_is_502_and_unknown_ids_404(platform, live_server, api_key):
    row = factories.provider(db.session(), corpid="wwwrongsecret", secret="not-the-secret")
    platform.control(
        "providers",
        corpid=row.app_id,
        secret="the-real-secret",
        token=row.token,
        aes_key=row.aes_key,
        server_url=platform.server,
    )
    refused = get(live_server, api_key, "/providers/wwwrongsecret/access-token")
    assert refused.status_code == 502 and refused.json()["error"]["code"] == "upstream_config"
    assert get(live_server, api_key, "/providers/wwnoprovider/access-token").status_code == 404
    suite = factories.wecom_app(db.session(), app_id="wwnotaprovider")
    assert get(live_server, api_key, f"/providers/{suite.app_id}/access-token").status_code == 404
    bad = requests.post(
        f"{live_server}/api/v1/providers/wwwrongsecret/access-token/refresh",
        data="nope",
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=10,
    )
    assert bad.status_code == 400


def test_api_keys_are_scoped_to_a_provider_by_its_corpid(platform, provider, live_server):
    factories.wecom_app(db.session(), app_id="wwsomeotherapp")
    session = db.session()
    elsewhere = create_api_key(session, "elsewhere", app_ids=["wwsomeotherapp"])
    mine = create_api_key(session, "mine", app_ids=[CORPID])
    session.commit()
    refused = get(live_server, elsewhere, f"/providers/{CORPID}/access-token")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    assert get(live_server, mine, f"/providers/{CORPID}/access-token").status_code == 200


def test_the_token_client_gets_and_refreshes_it(platform, provider, live_server, api_key):
    tokens = TokenClient(live_server, api_key)
    first = tokens.provider_token(CORPID)
    assert tokens.provider_token(CORPID) == first
    assert platform.calls()["get_provider_token"] == 1
    # Another caller got it replaced meanwhile: handed the current one, no request.
    assert tokens.provider_token_refreshed(CORPID, "an-older-token") == first
    tokens.invalidate(CORPID)  # forgotten: the next call asks the server (which has it)
    assert tokens.provider_token(CORPID) == first
    with pytest.raises(TokenClientError) as unknown:
        tokens.provider_token("wwnoprovider")
    assert unknown.value.status == 404


def test_the_sweep_keeps_the_provider_token_without_tickets(app, platform, provider):
    from suite_server.jobs import runner as job_runner
    from suite_server.tokens import tasks

    with db.transaction() as session:  # registered long ago, and never a ticket
        session.get(App, provider.id).created_at -= timedelta(hours=1)
    counts = tasks.sweep()
    assert counts["apps"] == 1 and counts["stale_tickets"] == 0  # providers get no tickets
    assert job_runner.get_runner(app).drain(timeout=30)
    db.session().expire_all()
    row = db.session().scalar(select(AppToken).where(AppToken.app_pk == provider.id))
    assert row.access_token and row.refresh_at > row.expires_at  # WeCom: renewed at expiry
    assert platform.calls()["get_provider_token"] == 1
