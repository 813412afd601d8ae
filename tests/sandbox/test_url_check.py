"""The console's URL check: saving a WeCom callback URL makes the platform GET it with an
`echostr` encrypted for the provider corpid; the URL is accepted only if the plaintext comes back
bare within 1 s (wecom-suite.md §1 "GET")."""

from __future__ import annotations

import requests

from suite_server import db
from tests import factories


def verify(client, **body) -> requests.Response:
    return client.control("/verify_url", {"app_id": client.app_id, **body})


def test_both_wecom_urls_are_checked_with_an_echostr_for_the_provider_corpid(wecom, receiver):
    response = verify(wecom)
    assert response.status_code == 200, response.text
    checks = response.json()["checks"]
    assert [c["channel"] for c in checks] == ["command", "data"]
    gets = [r for r in receiver.snapshot() if r.channel in ("command", "data") and not r.body]
    assert len(gets) == 2
    for check, got in zip(checks, gets, strict=True):
        # wechatpy decrypted it with the provider corpid (it compares the receive id strictly).
        assert got.error is None, got.error
        assert set(got.args) == {"msg_signature", "timestamp", "nonce", "echostr"}
        assert got.plaintext == check["expected"] and got.plaintext.isdigit()
        assert check["verified"] is True and check["error"] is None
        path = f"/callback/wecom/{wecom.app_id}/{check['channel']}"
        assert check["url"] == receiver.base_url + path
        assert check["status"] == 200 and check["body"] == got.plaintext
    assert checks[0]["expected"] != checks[1]["expected"]  # a new echostr for each check

    only_data = verify(wecom, channel="data").json()["checks"]
    assert [c["channel"] for c in only_data] == ["data"]


def test_a_wrong_late_or_failing_answer_fails_the_check(wecom, receiver):
    receiver.mode = "wrong_body"  # the plaintext plus a newline: not byte for byte
    [check] = verify(wecom, channel="command").json()["checks"]
    assert check["verified"] is False and "not the plaintext" in check["error"]
    receiver.mode, receiver.delay = "slow", 1.2  # wecom-suite.md §1: answer within 1 s
    [check] = verify(wecom, channel="command").json()["checks"]
    assert check["verified"] is False and "Timeout" in check["error"]
    receiver.mode = "fail"
    [check] = verify(wecom, channel="command").json()["checks"]
    assert (check["verified"], check["status"], check["error"]) == (False, 500, "HTTP 500")


def test_bad_requests_are_refused(wecom, open_app):
    assert verify(wecom, channel="auth").status_code == 400
    refused = verify(open_app)
    assert refused.status_code == 400 and "Open Platform" in refused.json()["error"]
    assert wecom.control("/verify_url", {"app_id": "nobody"}).status_code == 404
    assert wecom.control("/verify_url", {}).status_code == 400


def test_overview_page_has_a_button_and_shows_the_outcome(wecom, open_app, receiver):
    page = requests.get(f"{wecom.base_url}/sandbox/", timeout=10).text
    assert page.count('action="/sandbox/verify_url"') == 1  # WeCom apps only
    assert f'name="app_id" value="{wecom.app_id}"' in page
    clicked = requests.post(
        f"{wecom.base_url}/sandbox/verify_url",
        data={"app_id": wecom.app_id},
        allow_redirects=False,
        timeout=10,
    )
    assert clicked.status_code == 303
    assert clicked.headers["Location"].endswith("/sandbox/#url-checks")
    page = requests.get(f"{wecom.base_url}/sandbox/", timeout=10).text
    assert f"/callback/wecom/{wecom.app_id}/data" in page
    assert page.count('class="ok">verified</td>') == 2


def test_our_server_passes_the_check_and_a_wrong_token_fails_it(app, live_server, platform_sandbox):
    suite = factories.wecom_app(db.session(), app_id="wwurlcheck", provider_corpid="wwprov01")
    base = platform_sandbox.base_url
    body = {
        "platform": "wecom",
        "app_id": suite.app_id,
        "secret": suite.secret,
        "token": suite.token,
        "aes_key": suite.aes_key,
        "provider_corpid": "wwprov01",
        "server_url": live_server,
        "push_ticket": False,
    }
    assert requests.post(f"{base}/sandbox/apps", json=body, timeout=10).status_code == 201
    checks = requests.post(f"{base}/sandbox/verify_url", json={"app_id": suite.app_id}).json()
    assert [(c["channel"], c["verified"]) for c in checks["checks"]] == [
        ("command", True),
        ("data", True),
    ]
    # The ISV typed another Token into the console than the server has: the console says no.
    requests.post(f"{base}/sandbox/apps", json={**body, "token": "typo"}, timeout=10)
    checks = requests.post(f"{base}/sandbox/verify_url", json={"app_id": suite.app_id}).json()
    assert [c["verified"] for c in checks["checks"]] == [False, False]
    assert checks["checks"][0]["status"] == 403
