"""The platform APIs the gateway's proxy is tested with (sandbox/gateway_api.py): each takes only
its own token kind, as the platform does, and media bytes come back as they went up."""

from __future__ import annotations

import os

import requests

from tests.sandbox.test_customized import PROVIDER, provider, provider_token

__all__ = ["provider"]  # the fixture

USER_GET = "/cgi-bin/user/get"
ADMINS = "/cgi-bin/service/get_admin_list"
LOGIN = "/cgi-bin/service/get_login_info"


def test_each_api_takes_only_its_own_token_kind(wecom, provider):
    corp = wecom.install("wwcorp0101")["access_token"]
    suite = wecom.suite_token()
    own = provider_token(wecom)
    assert wecom.call(USER_GET, method="GET", userid="zhangsan", access_token=corp)["errcode"] == 0
    # A suite or provider token where the corp token belongs: 40014 (invalid access_token).
    for other in (suite, own):
        answer = wecom.call(USER_GET, method="GET", userid="zhangsan", access_token=other)
        assert answer["errcode"] == 40014
    body = {"auth_corpid": "wwcorp0101", "agentid": 1}
    assert wecom.call(ADMINS, body, suite_access_token=suite)["admin"][0]["userid"] == "admin"
    for other in (corp, own):  # 40082: invalid suite_access_token
        assert wecom.call(ADMINS, body, suite_access_token=other)["errcode"] == 40082
    assert (
        wecom.call(ADMINS, {"auth_corpid": "wwnocorp"}, suite_access_token=suite)["errcode"]
        == 40058
    )
    # get_login_info: the provider token, named access_token (isv-capabilities §2).
    code = wecom.control(
        "/login-codes", {"provider_corpid": PROVIDER, "corpid": "wwcorp0101", "userid": "lisi"}
    ).json()["auth_code"]
    for other in (corp, suite):
        assert wecom.call(LOGIN, {"auth_code": code}, access_token=other)["errcode"] == 40082
    assert wecom.call(LOGIN, {"auth_code": code}, provider_access_token=own)["errcode"] == 41001
    who = wecom.call(LOGIN, {"auth_code": code}, access_token=own)
    assert who["user_info"]["userid"] == "lisi" and who["corp_info"] == {"corpid": "wwcorp0101"}
    assert wecom.call(LOGIN, {"auth_code": code}, access_token=own)["errcode"] == 40029  # used


def test_media_goes_up_and_comes_back_to_the_same_corp_only(wecom):
    corp = wecom.install("wwcorp0102")["access_token"]
    other = wecom.install("wwcorp0103")["access_token"]
    content = os.urandom(3 * 1024 * 1024)  # over the sandbox's usual 1 MiB limit
    up = requests.post(
        f"{wecom.base_url}/cgi-bin/media/upload",
        params={"access_token": corp, "type": "file"},
        files={"media": ("report.pdf", content, "application/pdf")},
        timeout=30,
    ).json()
    assert up["errcode"] == 0 and up["type"] == "file" and up["media_id"]
    down = requests.get(
        f"{wecom.base_url}/cgi-bin/media/get",
        params={"access_token": corp, "media_id": up["media_id"]},
        timeout=30,
    )
    assert down.content == content
    assert down.headers["Content-Type"] == "application/pdf"
    assert down.headers["Content-Disposition"] == 'attachment; filename="report.pdf"'
    foreign = wecom.call(
        "/cgi-bin/media/get", method="GET", access_token=other, media_id=up["media_id"]
    )
    assert foreign["errcode"] == 40007
    bad_type = requests.post(
        f"{wecom.base_url}/cgi-bin/media/upload",
        params={"access_token": corp, "type": "gif"},
        files={"media": ("a.gif", b"GIF89a", "image/gif")},
        timeout=10,
    ).json()
    assert bad_type["errcode"] == 40004
    calls = requests.get(f"{wecom.base_url}/sandbox/calls", timeout=10).json()["by_endpoint"]
    assert calls["media_upload"] == 2 and calls["media_get"] == 2
