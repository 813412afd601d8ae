"""WeComApi against the sandbox: each call's answer, and errcodes as UpstreamError kinds."""

from __future__ import annotations

import pytest

from suite_server.errors import UpstreamError
from suite_server.upstream import Code, Token, WeComApi
from tests.upstream.conftest import Registered


def suite_token(wecom: WeComApi, suite: Registered) -> str:
    return wecom.get_suite_token(suite.app_id, suite.secret, suite.ticket).access_token


def test_suite_token_is_typed_and_stable(wecom: WeComApi, suite: Registered) -> None:
    token = wecom.get_suite_token(suite.app_id, suite.secret, suite.ticket)
    assert isinstance(token, Token)
    assert token.access_token.startswith("suite_") and len(token.access_token) > 40
    assert 7190 <= token.expires_in <= 7200
    # wecom-suite.md §4: asking again within validity returns the same token.
    assert wecom.get_suite_token(suite.app_id, suite.secret, suite.ticket) == token
    assert token.access_token not in repr(token)


def test_install_flow(wecom: WeComApi, suite: Registered) -> None:
    token = suite_token(wecom, suite)
    pre = wecom.get_pre_auth_code(token)
    assert isinstance(pre, Code) and pre.expires_in == 1200 and pre.code
    assert wecom.set_session_info(token, pre.code, auth_type=1) is None
    approved = suite.control(
        "POST",
        "/approve",
        {
            "app_id": suite.app_id,
            "pre_auth_code": pre.code,
            "tenant_id": "wwcorp_up1",
            "name": "C1",
        },
    )

    answer = wecom.get_permanent_code(token, approved["auth_code"])
    tenant = suite.control("GET", f"/apps/{suite.app_id}")["tenants"][0]
    assert answer["permanent_code"] == tenant["credential"]
    assert answer["auth_corp_info"]["corpid"] == "wwcorp_up1"
    assert answer["auth_corp_info"]["corp_name"] == "C1"
    assert answer["auth_info"]["agent"][0]["agentid"] == tenant["agent_id"]
    assert answer["auth_user_info"]["userid"]  # top level, not inside auth_info (§4)
    assert answer["access_token"].startswith("corp_") and answer["expires_in"] > 7000

    info = wecom.get_auth_info(token, "wwcorp_up1", answer["permanent_code"])
    assert info["auth_corp_info"]["corpid"] == "wwcorp_up1"
    assert info["auth_info"] == answer["auth_info"]

    corp = wecom.get_corp_token(token, "wwcorp_up1", answer["permanent_code"])
    # §4: the corp token handed out with the permanent code is the current one, so the same.
    assert corp == Token(answer["access_token"], corp.expires_in)
    assert 7190 <= corp.expires_in <= 7200


def test_token_answers_without_errcode_are_success(wecom: WeComApi, suite: Registered) -> None:
    # §4: get_suite_token / get_corp_token success bodies have no errcode at all.
    raw = wecom.client.call(
        "POST",
        "/cgi-bin/service/get_suite_token",
        body={"suite_id": suite.app_id, "suite_secret": suite.secret, "suite_ticket": suite.ticket},
    )
    assert "errcode" not in raw and raw["suite_access_token"]


@pytest.mark.parametrize(
    ("errcode", "kind"),
    [
        (40001, "config"),
        (42001, "token"),
        (42009, "token"),
        (45009, "busy"),
        (-1, "busy"),
        (40084, "credential"),
        (41002, "other"),
    ],
)
def test_injected_errcodes(wecom: WeComApi, suite: Registered, errcode: int, kind: str) -> None:
    token = suite_token(wecom, suite)
    suite.fault("get_pre_auth_code", errcode=errcode)
    with pytest.raises(UpstreamError) as caught:
        wecom.get_pre_auth_code(token)
    error = caught.value
    assert (error.endpoint, error.errcode, error.kind) == (
        "service/get_pre_auth_code",
        errcode,
        kind,
    )
    assert error.http_status == 200 and error.retryable == (kind == "busy")
    assert "more info at" in error.errmsg  # WeCom's own errmsg wording is kept
    assert wecom.get_pre_auth_code(token).code  # the fault was for one call only


def test_http_500_and_slow_answers_are_busy(wecom: WeComApi, suite: Registered) -> None:
    suite.fault("get_suite_token", http_status=500)
    with pytest.raises(UpstreamError) as caught:
        suite_token(wecom, suite)
    assert (caught.value.kind, caught.value.errcode, caught.value.http_status) == (
        "busy",
        None,
        500,
    )

    impatient = WeComApi(suite.sandbox, timeout=(1.0, 0.1))
    suite.fault("get_suite_token", delay=0.4)
    with pytest.raises(UpstreamError) as caught:
        suite_token(impatient, suite)
    assert (caught.value.kind, caught.value.errcode, caught.value.http_status) == ("busy", None, 0)
    assert "ReadTimeout" in caught.value.errmsg


def test_real_errors(wecom: WeComApi, suite: Registered) -> None:
    def kind_and_code(call, *args) -> tuple[str, int | None]:
        with pytest.raises(UpstreamError) as caught:
            call(*args)
        return caught.value.kind, caught.value.errcode

    assert kind_and_code(wecom.get_suite_token, suite.app_id, "wrong", suite.ticket) == (
        "config",
        40080,
    )
    assert kind_and_code(wecom.get_suite_token, suite.app_id, suite.secret, "nope") == (
        "ticket",
        40085,
    )
    assert kind_and_code(wecom.get_pre_auth_code, "not-a-token") == ("token", 40082)
    token = suite_token(wecom, suite)
    assert kind_and_code(wecom.set_session_info, token, "bogus", 0) == ("code", 40077)
    [tenant] = suite.bulk_tenants(1)
    assert wecom.get_permanent_code(token, tenant["auth_code"])["permanent_code"]
    # §5: an auth_code is single use.
    assert kind_and_code(wecom.get_permanent_code, token, tenant["auth_code"]) == ("code", 40078)
    assert kind_and_code(wecom.get_corp_token, token, tenant["tenant_id"], "wrong") == (
        "credential",
        40084,
    )
