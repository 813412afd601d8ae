"""ApiClient: timeouts, answers that are not errcodes, masking, and what reaches the logs."""

from __future__ import annotations

import logging
import socket
import traceback
from typing import Any

import pytest
import requests

from suite_server.errors import UpstreamError
from suite_server.upstream import OpenApi, WeComApi, api_for
from suite_server.upstream.http import ApiClient, mask, masked_query
from suite_server.upstream.results import required, seconds
from suite_server.upstream.wecom import WECOM_ERRCODES
from tests.upstream.conftest import Registered


class SpySession(requests.Session):
    """A real session that remembers the keyword arguments of every request."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[dict[str, Any]] = []

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.seen.append({"method": method, "url": url, **kwargs})
        return super().request(method, url, **kwargs)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_mask() -> None:
    assert mask("suite_abcdef") == "***(12)"
    assert mask("") == mask(None) == "<empty>"
    assert (
        masked_query({"suite_access_token": "abc", "x": ""})
        == "suite_access_token=***(3)&x=<empty>"
    )


def test_every_call_carries_the_timeout(suite: Registered) -> None:
    spy = SpySession()
    wecom = WeComApi(suite.sandbox, timeout=(1.5, 4.0), session=spy)
    token = wecom.get_suite_token(suite.app_id, suite.secret, suite.ticket).access_token
    wecom.get_pre_auth_code(token)
    with pytest.raises(UpstreamError):
        wecom.get_corp_token(token, "wwnobody", "nothing")
    assert [call["timeout"] for call in spy.seen] == [(1.5, 4.0)] * 3
    assert [call["method"] for call in spy.seen] == ["POST", "GET", "POST"]
    assert all(call["allow_redirects"] is False for call in spy.seen)
    # Defaults: (3.05, 10) when the caller gives none.
    assert WeComApi(suite.sandbox).client.timeout == (3.05, 10.0)


def test_body_is_utf8_json_not_escapes(component: Registered) -> None:
    spy = SpySession()
    client = ApiClient(component.sandbox, errcodes={}, session=spy)
    with pytest.raises(UpstreamError):
        client.call(
            "POST",
            "/cgi-bin/message/custom/send",
            params={"access_token": "x"},
            body={"text": {"content": "你好"}},
        )
    assert spy.seen[0]["data"] == '{"text": {"content": "你好"}}'.encode()
    assert spy.seen[0]["headers"]["Content-Type"] == "application/json; charset=utf-8"


def test_no_answer_is_busy_names_the_host_once_and_leaks_no_url(caplog) -> None:
    host = f"127.0.0.1:{free_port()}"
    client = ApiClient(f"http://{host}", errcodes=WECOM_ERRCODES)
    token = "-".join(["secret", "token", "value"])  # not spelled out in this source line
    caplog.set_level(logging.INFO)
    with pytest.raises(UpstreamError) as caught:
        client.call("GET", "/cgi-bin/x", params={"suite_access_token": token})
    error = caught.value
    assert (error.kind, error.errcode, error.http_status) == ("busy", None, 0)
    assert error.errmsg == f"ConnectionError from {host}: Connection refused"
    assert str(error) == f"x: no answer ConnectionError from {host}: Connection refused"
    [line] = [r.getMessage() for r in caplog.records if r.name == "suite_server.upstream.http"]
    assert line.count(host) == 1 and token not in line
    # requests puts the URL (and the token) in its message: it must not be chained in.
    assert error.__cause__ is None and error.__context__ is None
    assert token not in "".join(traceback.format_exception(error))


def test_bad_base_url_is_config() -> None:
    with pytest.raises(UpstreamError) as caught:
        ApiClient("qyapi.weixin.qq.com", errcodes=WECOM_ERRCODES).call("GET", "/cgi-bin/x")
    assert (caught.value.kind, caught.value.errcode) == ("config", None)


def test_body_that_is_not_json(receiver_url: str) -> None:
    # The receiver answers every request with 200 `success`: not JSON, so "busy".
    with pytest.raises(UpstreamError) as caught:
        ApiClient(receiver_url, errcodes=WECOM_ERRCODES).call("POST", "/cgi-bin/x", body={})
    assert (caught.value.kind, caught.value.errcode, caught.value.http_status) == (
        "busy",
        None,
        200,
    )


def test_unknown_api_is_other(suite: Registered) -> None:
    # The sandbox answers APIs it does not simulate with HTTP 404 and errcode 404.
    with pytest.raises(UpstreamError) as caught:
        ApiClient(suite.sandbox, errcodes=WECOM_ERRCODES).call("GET", "/cgi-bin/nothing/here")
    error = caught.value
    assert (error.endpoint, error.kind, error.errcode, error.http_status) == (
        "nothing/here",
        "other",
        404,
        404,
    )


def test_no_secret_reaches_any_log_record(
    caplog: pytest.LogCaptureFixture, suite: Registered, component: Registered
) -> None:
    caplog.set_level(logging.DEBUG)
    wecom, open_api = WeComApi(suite.sandbox), OpenApi(component.sandbox)
    secrets = [suite.secret, suite.ticket, component.secret, component.ticket]

    suite_token = wecom.get_suite_token(suite.app_id, suite.secret, suite.ticket).access_token
    pre = wecom.get_pre_auth_code(suite_token).code
    wecom.set_session_info(suite_token, pre, 0)
    approved = suite.control("POST", "/approve", {"app_id": suite.app_id, "pre_auth_code": pre})
    installed = wecom.get_permanent_code(suite_token, approved["auth_code"])
    corpid, permanent = installed["auth_corp_info"]["corpid"], installed["permanent_code"]
    corp_token = wecom.get_corp_token(suite_token, corpid, permanent).access_token
    wecom.get_auth_info(suite_token, corpid, permanent)
    suite.fault("get_corp_token", errcode=42001)
    with pytest.raises(UpstreamError):
        wecom.get_corp_token(suite_token, corpid, permanent)
    secrets += [suite_token, pre, approved["auth_code"], permanent, corp_token]

    component_token = open_api.component_token(
        component.app_id, component.secret, component.ticket
    ).access_token
    [tenant] = component.bulk_tenants(1)
    info = open_api.query_auth(component_token, component.app_id, tenant["auth_code"])
    refreshed = open_api.authorizer_token(
        component_token, component.app_id, tenant["tenant_id"], info["authorizer_refresh_token"]
    )
    open_api.custom_send_text(refreshed.access_token, "openid", "hi")
    secrets += [
        component_token,
        tenant["auth_code"],
        info["authorizer_access_token"],
        info["authorizer_refresh_token"],
        refreshed.access_token,
    ]

    texts = [record.getMessage() for record in caplog.records]
    ours = [r.getMessage() for r in caplog.records if r.name == "suite_server.upstream.http"]
    assert len(ours) == 11  # one line per call, failures included
    assert any("POST service/get_corp_token?suite_access_token=***(" in t for t in ours)
    assert any("errcode=42001" in t and "token" in t for t in ours)
    assert all(" ms" in t for t in ours)
    # urllib3's own request lines are there too, with the query masked.
    assert any("get_pre_auth_code?suite_access_token=***" in t for t in texts)
    for secret in secrets:
        assert len(secret) >= 12
        leaks = [t for t in texts if secret in t]
        assert not leaks, f"{secret[:6]}… in logs: {leaks[:2]}"


def test_success_answer_missing_its_field_is_an_error() -> None:
    with pytest.raises(UpstreamError) as caught:
        required({"expires_in": 7200}, "suite_access_token", "service/get_suite_token")
    assert (caught.value.kind, caught.value.errcode) == ("other", None)
    assert caught.value.errmsg == "success answer without suite_access_token"
    assert seconds({"expires_in": "600"}) == 600
    assert seconds({}) == 7200 and seconds({"expires_in": None}, default=1200) == 1200


def test_api_for_reads_the_base_urls(suite: Registered) -> None:
    config = {"WECOM_API_BASE": suite.sandbox, "WECHAT_API_BASE": "https://api.example.test"}
    wecom = api_for("wecom", config)
    assert isinstance(wecom, WeComApi) and wecom.client.base_url == suite.sandbox
    assert api_for("wecom", config) is wecom  # shared: one session, kept-alive connections
    assert wecom.get_suite_token(suite.app_id, suite.secret, suite.ticket).expires_in > 7000
    other = api_for("open", config)
    assert isinstance(other, OpenApi) and other.client.base_url == "https://api.example.test"
    with pytest.raises(ValueError):
        api_for("weibo", config)
