"""代开发 templates (isv-capabilities.md §1): the QR link on the provider token, the install page
behind it, get_permanent_code without a token, gettoken with the permanent code as the corp's
secret, and reset_permanent_code rotating that secret."""

from __future__ import annotations

import re
from html import unescape

import pytest
import requests

from tests.sandbox.conftest import WECOM_KEY, Receiver, WecomClient

PROVIDER = "wwprovider000001"
TEMPLATE = "dktemplate000001"
PERMANENT = "/cgi-bin/service/get_permanent_code"
AUTH_URL = "/cgi-bin/service/get_customized_auth_url"
GETTOKEN = "/cgi-bin/gettoken"


def register_provider(base_url: str, receiver: Receiver, corpid: str = PROVIDER) -> dict:
    provider = {
        "corpid": corpid,
        "secret": "provider-secret",
        "token": "SysToken",
        "aes_key": WECOM_KEY,
        "server_url": receiver.base_url,
        "name": "Demo Provider",
    }
    receiver.apps[corpid] = (provider["token"], provider["aes_key"])
    receiver.providers[corpid] = corpid  # the URL check's echostr is for the provider corpid
    response = requests.post(f"{base_url}/sandbox/providers", json=provider, timeout=10)
    assert response.status_code in (200, 201), response.text
    return provider


def register_template(sandbox, receiver: Receiver, app_id: str = TEMPLATE, **changes) -> dict:
    app = {
        "platform": "wecom",
        "app_id": app_id,
        "secret": "template-secret",
        "token": "TplToken",
        "aes_key": WECOM_KEY,
        "provider_corpid": PROVIDER,
        "name": "Customized CRM",
        **changes,
    }
    receiver.apps[app_id] = (app["token"], app["aes_key"])
    body = {**app, "server_url": receiver.base_url}
    response = requests.post(f"{sandbox.base_url}/sandbox/apps", json=body, timeout=10)
    assert response.status_code == 201, response.text
    return app


@pytest.fixture
def provider(sandbox, receiver) -> dict:
    return register_provider(sandbox.base_url, receiver)


@pytest.fixture
def template(sandbox, receiver, provider) -> WecomClient:
    """A registered 代开发 template of `provider`; its first suite_ticket has arrived."""
    client = WecomClient(sandbox.base_url, register_template(sandbox, receiver), receiver)
    client.latest_ticket()
    return client


def provider_token(client: WecomClient, corpid: str = PROVIDER) -> str:
    body = {"corpid": corpid, "provider_secret": "provider-secret"}
    return client.call("/cgi-bin/service/get_provider_token", body)["provider_access_token"]


def qr_url(client: WecomClient, state: str = "st4te", ids: list[str] | None = None) -> str:
    body = {"state": state, "templateid_list": ids or [client.app_id]}
    answer = client.call(AUTH_URL, body, provider_access_token=provider_token(client))
    assert answer["errcode"] == 0 and answer["expires_in"] == 864000, answer
    return answer["qrcode_url"]


def scan_and_approve(url: str, **form: str) -> requests.Response:
    """What a corp admin does with the QR code: open the page, then submit its form."""
    page = requests.get(url, timeout=10)
    assert page.status_code == 200, page.text
    for name in ("tenant", "new_id", "new_name"):
        assert f'name="{name}"' in page.text
    data = {"tenant": "__new__", "new_id": "wwcustomer0001", "new_name": "Customer", **form}
    return requests.post(url, data=data, timeout=10, allow_redirects=False)


def install(client: WecomClient, corpid: str = "wwcustomer0001", state: str = "st4te") -> dict:
    """Install through the QR page, exchange the pushed code: the get_permanent_code answer."""
    done = scan_and_approve(qr_url(client, state), new_id=corpid)
    assert done.status_code == 200, done.text
    pushed = client.receiver.wait_for(InfoType="create_auth", SuiteId=client.app_id)
    token = client.suite_token()
    answer = client.call(
        PERMANENT, {"auth_code": pushed.message["AuthCode"]}, suite_access_token=token
    )
    assert answer["errcode"] == 0, answer
    return answer


def gettoken(client: WecomClient, corpid: str, secret: str | None) -> dict:
    params = {"corpid": corpid} if corpid else {}
    if secret is not None:
        params["corpsecret"] = secret
    return client.call(GETTOKEN, method="GET", **params)


def test_qr_page_installs_and_pushes_create_auth_with_the_state(template, receiver):
    url = qr_url(template, state="abcXYZ123")
    assert url.startswith(template.base_url + "/sandbox/customized_install?")
    page = requests.get(url, timeout=10).text
    assert TEMPLATE in page and 'value="__new__"' in page

    done = scan_and_approve(url, new_id="wwcustomer0001", new_name="Customer Ltd")
    assert done.status_code == 200  # no redirect: customized installs do not come back
    assert "wwcustomer0001" in done.text and "delivered" in done.text
    pushed = receiver.wait_for(InfoType="create_auth", SuiteId=TEMPLATE)
    assert pushed.error is None and pushed.channel == "command"
    assert pushed.message["State"] == "abcXYZ123" and pushed.message["AuthCode"]
    assert set(pushed.message) >= {"SuiteId", "AuthCode", "InfoType", "TimeStamp", "State"}

    answer = template.call(
        PERMANENT,
        {"auth_code": pushed.message["AuthCode"]},
        suite_access_token=template.suite_token(),
    )
    assert "access_token" not in answer and "expires_in" not in answer
    assert answer["is_customized_app"] is True
    assert [a["is_customized_app"] for a in answer["auth_info"]["agent"]] == [True]
    assert answer["state"] == "abcXYZ123"
    assert answer["auth_corp_info"]["corpid"] == "wwcustomer0001"
    assert answer["auth_corp_info"]["corp_name"] == "Customer Ltd"
    assert answer["permanent_code"] and answer["auth_user_info"]["userid"]

    # The page offers the corp again, and choosing it re-authorizes it (a new secret).
    again = scan_and_approve(url, tenant="wwcustomer0001")
    assert again.status_code == 200 and "wwcustomer0001" in again.text
    assert 'value="wwcustomer0001"' in requests.get(url, timeout=10).text


def test_one_qr_code_installs_several_templates_into_one_corp(sandbox, template, receiver):
    register_template(sandbox, receiver, "dktemplate000002")
    receiver.wait_for(SuiteId="dktemplate000002", InfoType="suite_ticket")
    url = qr_url(template, ids=[TEMPLATE, "dktemplate000002"])
    done = scan_and_approve(url, new_id="", new_name="")  # the page makes a corpid up
    corpid = unescape(re.search(r'<code id="corpid">([^<]+)</code>', done.text).group(1))
    for template_id in (TEMPLATE, "dktemplate000002"):
        pushed = receiver.wait_for(InfoType="create_auth", SuiteId=template_id)
        assert pushed.message["State"] == "st4te"
    tenants = requests.get(f"{sandbox.base_url}/sandbox/tenants", timeout=10).json()["tenants"]
    assert sorted(t["app_id"] for t in tenants if t["tenant_id"] == corpid) == [
        TEMPLATE,
        "dktemplate000002",
    ]


def test_unknown_or_expired_qr_links_show_an_error(template, clock):
    url = qr_url(template)
    assert requests.get(url + "x", timeout=10).status_code == 400
    clock.advance(864000)
    assert requests.get(url, timeout=10).status_code == 400
    assert requests.post(url, data={"tenant": "__new__"}, timeout=10).status_code == 400
    bad = requests.post(qr_url(template), data={"tenant": "bad id!"}, timeout=10)
    assert bad.status_code == 400


def test_customized_auth_url_checks_token_state_and_templates(sandbox, template, receiver, clock):
    ok = {"state": "s1", "templateid_list": [TEMPLATE]}
    assert template.call(AUTH_URL, ok)["errcode"] == 41022
    assert template.call(AUTH_URL, ok, provider_access_token="nope")["errcode"] == 40082
    # A suite token is not a provider token.
    suite_token = template.suite_token()
    assert template.call(AUTH_URL, ok, provider_access_token=suite_token)["errcode"] == 40082
    token = provider_token(template)
    assert (
        template.call(AUTH_URL, ok, method="GET", provider_access_token=token)["errcode"] == 43002
    )

    def errcode(**body) -> int:
        return template.call(AUTH_URL, {**ok, **body}, provider_access_token=token)["errcode"]

    assert errcode(state="x" * 33) == 40058
    assert errcode(state="has space") == 40058
    assert errcode(state="") == 0 and errcode(state="x" * 32) == 0
    assert errcode(templateid_list=[]) == 40058
    assert errcode(templateid_list=[TEMPLATE] * 10) == 40058
    assert errcode(templateid_list=TEMPLATE) == 47001
    assert errcode(templateid_list=[1]) == 47001
    assert errcode(templateid_list=["dkunknown"]) == 40086
    register_template(sandbox, receiver, "wwnotatemplate01")  # a suite, not a template
    assert errcode(templateid_list=["wwnotatemplate01"]) == 40086
    register_template(sandbox, receiver, "dkotherprovider1", provider_corpid="wwsomeoneelse")
    assert errcode(templateid_list=[TEMPLATE, "dkotherprovider1"]) == 40086
    clock.advance(7200)
    assert template.call(AUTH_URL, ok, provider_access_token=token)["errcode"] == 42009


def test_gettoken_gives_the_same_corp_token_for_the_secret(template, clock):
    answer = install(template)
    secret = answer["permanent_code"]
    first = gettoken(template, "wwcustomer0001", secret)
    assert first["errcode"] == 0 and first["expires_in"] == 7200 and first["access_token"]
    clock.advance(1000)
    again = gettoken(template, "wwcustomer0001", secret)
    assert again["access_token"] == first["access_token"] and again["expires_in"] == 6200
    posted = template.call(GETTOKEN, {"corpid": "wwcustomer0001", "corpsecret": secret})
    assert posted["access_token"] == first["access_token"]

    # The corp APIs take it.
    body = {"touser": "@all", "msgtype": "text", "agentid": 1, "text": {"content": "hi"}}
    sent = template.call("/cgi-bin/message/send", body, access_token=first["access_token"])
    assert sent["errcode"] == 0

    clock.advance(6200)  # expired: a new one
    renewed = gettoken(template, "wwcustomer0001", secret)
    assert renewed["access_token"] != first["access_token"]
    invalidated = template.control(
        "/tokens/invalidate", {"app_id": TEMPLATE, "tenant_id": "wwcustomer0001"}
    )
    assert invalidated.json()["invalidated"] >= 1
    sent = template.call("/cgi-bin/message/send", body, access_token=renewed["access_token"])
    assert sent["errcode"] == 40014
    assert gettoken(template, "wwcustomer0001", secret)["access_token"] != renewed["access_token"]

    calls = template.control("/calls", method="GET").json()
    assert calls["by_tenant"]["gettoken"] == {"wwcustomer0001": 5}


def test_gettoken_errors(template, wecom):
    secret = install(template)["permanent_code"]
    wecom.install("wwsuitecorp01")  # a suite's corp: no customized app there
    assert gettoken(template, "", secret)["errcode"] == 41002
    assert gettoken(template, "wwcustomer0001", None)["errcode"] == 41004
    assert gettoken(template, "wwcustomer0001", "")["errcode"] == 41004
    assert gettoken(template, "wwnobody", secret)["errcode"] == 40013
    assert gettoken(template, "wwsuitecorp01", secret)["errcode"] == 40013
    wrong = gettoken(template, "wwcustomer0001", "wrong")
    assert wrong["errcode"] == 40001 and wrong["errmsg"].startswith("invalid credential")
    assert gettoken(template, "wwcustomer0001", "秘密")["errcode"] == 40001

    rule = {"endpoint": "gettoken", "errcode": -1, "count": 1, "tenant_id": "wwcustomer0001"}
    assert template.control("/faults", rule).status_code == 201
    assert gettoken(template, "wwcustomer0001", secret)["errcode"] == -1
    assert gettoken(template, "wwcustomer0001", secret)["errcode"] == 0

    template.push("cancel_auth", tenant_id="wwcustomer0001")
    assert gettoken(template, "wwcustomer0001", secret)["errcode"] == 40001


def test_reset_permanent_code_rotates_the_secret(template, receiver):
    old_secret = install(template)["permanent_code"]
    old_token = gettoken(template, "wwcustomer0001", old_secret)["access_token"]

    pushed = template.push("reset_permanent_code", tenant_id="wwcustomer0001")
    assert pushed["delivered"] is True
    message = receiver.wait_for(InfoType="reset_permanent_code").message
    assert message["SuiteId"] == TEMPLATE and message["AuthCode"] == pushed["auth_code"]
    answer = template.call(
        PERMANENT, {"auth_code": message["AuthCode"]}, suite_access_token=template.suite_token()
    )
    new_secret = answer["permanent_code"]
    assert new_secret != old_secret and answer["is_customized_app"] is True
    assert "access_token" not in answer

    assert gettoken(template, "wwcustomer0001", old_secret)["errcode"] == 40001
    # The token book is left alone: the token in force stays until it expires.
    assert gettoken(template, "wwcustomer0001", new_secret)["access_token"] == old_token
