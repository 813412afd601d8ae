"""WeCom's server APIs for a third-party app "suite" (wecom-suite.md §4), as typed calls."""

from __future__ import annotations

from typing import Any

from suite_server.errors import UpstreamError
from suite_server.upstream.http import PlatformApi
from suite_server.upstream.results import Code, Token, required, seconds

DEFAULT_BASE = "https://qyapi.weixin.qq.com"

# errcode -> UpstreamError kind, from wecom-suite.md §5. Anything else (41xxx "missing
# field" included: our request was wrong) is "other".
WECOM_ERRCODES: dict[int, str] = {
    -1: "busy",  # system busy
    45009: "busy",  # rate limit
    45033: "busy",  # concurrency limit
    40014: "token",  # invalid corp access_token
    42001: "token",  # corp access_token expired
    42009: "token",  # suite_access_token expired
    40082: "token",  # invalid suite_access_token (also: corp has not authorized the suite)
    40085: "ticket",  # invalid or expired suite_ticket
    40084: "credential",  # invalid permanent_code: corp deauthorized or code reset
    40077: "code",  # invalid pre_auth_code
    42007: "code",  # pre_auth_code expired
    40078: "code",  # invalid auth_code (used or older than 10 min)
    40029: "code",  # invalid OAuth / sign-in code (used, expired, another app's)
    40001: "config",  # on WeCom: invalid secret, not a token problem (§5)
    40080: "config",  # invalid suite_secret
    40083: "config",  # invalid suite_id
    40086: "config",  # invalid third-party app id
    60020: "config",  # caller IP not in the provider's whitelist
    50001: "config",  # redirect domain not trusted
}


class WeComApi(PlatformApi):
    """Suite-level calls to WeCom. Every method takes the tokens and codes it needs."""

    DEFAULT_BASE = DEFAULT_BASE
    ERRCODES = WECOM_ERRCODES

    def _post(self, path: str, suite_token: str, body: dict[str, Any]) -> dict[str, Any]:
        params = {"suite_access_token": suite_token}
        return self.client.call("POST", path, params=params, body=body)

    def get_suite_token(self, suite_id: str, suite_secret: str, suite_ticket: str) -> Token:
        # POST only: sent as GET the body is dropped and WeCom answers 40083 (§4). The success
        # body has no errcode (§4 "Token semantics"); ApiClient treats that as success.
        body = {"suite_id": suite_id, "suite_secret": suite_secret, "suite_ticket": suite_ticket}
        answer = self.client.call("POST", "/cgi-bin/service/get_suite_token", body=body)
        endpoint = "service/get_suite_token"
        return Token(required(answer, "suite_access_token", endpoint), seconds(answer))

    def get_pre_auth_code(self, suite_token: str) -> Code:
        # §4: the one GET among the suite APIs.
        params = {"suite_access_token": suite_token}
        answer = self.client.call("GET", "/cgi-bin/service/get_pre_auth_code", params=params)
        code = required(answer, "pre_auth_code", "service/get_pre_auth_code")
        return Code(code, seconds(answer, default=1200))

    def set_session_info(self, suite_token: str, pre_auth_code: str, auth_type: int) -> None:
        """auth_type 0 = formal install, 1 = test install (§4)."""
        body = {"pre_auth_code": pre_auth_code, "session_info": {"auth_type": auth_type}}
        self._post("/cgi-bin/service/set_session_info", suite_token, body)

    def get_permanent_code(self, suite_token: str, auth_code: str) -> dict[str, Any]:
        """The whole v1 answer (§4): permanent_code, auth_corp_info, auth_info, top-level
        auth_user_info, and a ready corp token (access_token, expires_in)."""
        answer = self._post(
            "/cgi-bin/service/get_permanent_code", suite_token, {"auth_code": auth_code}
        )
        # No API re-issues a permanent code (§4): an answer without one is an error, not a tenant.
        required(answer, "permanent_code", "service/get_permanent_code")
        return answer

    def get_auth_info(
        self, suite_token: str, auth_corpid: str, permanent_code: str
    ) -> dict[str, Any]:
        """{auth_corp_info, auth_info[, dealer_corp_info, edition_info]} (§4)."""
        body = {"auth_corpid": auth_corpid, "permanent_code": permanent_code}
        return self._post("/cgi-bin/service/get_auth_info", suite_token, body)

    def get_order(self, suite_token: str, order_id: str) -> dict[str, Any]:
        """A paid-app order (isv-capabilities §8): orderid, order_status, order_type,
        paid_corpid, edition_id, edition_name, price, user_count, order_period, order_time,
        paid_time, begin_time, end_time, ... beside errcode."""
        answer = self._post("/cgi-bin/service/get_order", suite_token, {"orderid": order_id})
        required(answer, "orderid", "service/get_order")
        return answer

    def get_order_list(self, suite_token: str, start_time: int, end_time: int) -> list[dict]:
        """The suite's paid-app orders placed in [start_time, end_time] (Unix seconds), each as
        get_order answers one (isv-capabilities §8)."""
        body = {"start_time": start_time, "end_time": end_time, "test_mode": 0}
        answer = self._post("/cgi-bin/service/get_order_list", suite_token, body)
        return [item for item in answer.get("order_list") or [] if isinstance(item, dict)]

    def get_provider_token(self, corpid: str, provider_secret: str) -> Token:
        """provider_access_token (isv-capabilities §2): success has no errcode, and the same
        token comes back while it is valid."""
        body = {"corpid": corpid, "provider_secret": provider_secret}
        answer = self.client.call("POST", "/cgi-bin/service/get_provider_token", body=body)
        endpoint = "service/get_provider_token"
        return Token(required(answer, "provider_access_token", endpoint), seconds(answer))

    def license(self, provider_token: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """`POST /cgi-bin/license/<name>` with the provider token (isv-capabilities §4):
        get_order, list_order_account, list_actived_account, get_app_license_info, ..."""
        params = {"provider_access_token": provider_token}
        return self.client.call("POST", f"/cgi-bin/license/{name}", params=params, body=body)

    def get_customized_auth_url(
        self, provider_token: str, state: str, template_ids: list[str]
    ) -> dict[str, Any]:
        """{qrcode_url, expires_in}: the QR install link of customized-app templates
        (isv-capabilities §1); `state` comes back in get_permanent_code."""
        params = {"provider_access_token": provider_token}
        body = {"state": state, "templateid_list": template_ids}
        answer = self.client.call(
            "POST", "/cgi-bin/service/get_customized_auth_url", params=params, body=body
        )
        required(answer, "qrcode_url", "service/get_customized_auth_url")
        return answer

    def gettoken(self, corpid: str, corpsecret: str) -> Token:
        """A customized app's corp token: its permanent code is the app's secret (isv-capabilities
        §1). Here 40001 (invalid secret) and 40013 (invalid corpid) mean the tenant's credential
        is dead, not our configuration."""
        params = {"corpid": corpid, "corpsecret": corpsecret}
        try:
            answer = self.client.call("GET", "/cgi-bin/gettoken", params=params)
        except UpstreamError as exc:
            if exc.errcode in (40001, 40013):
                exc.kind = "credential"
            raise
        return Token(required(answer, "access_token", "gettoken"), seconds(answer))

    def get_corp_token(self, suite_token: str, auth_corpid: str, permanent_code: str) -> Token:
        # Success has no errcode (§4 "Token semantics"), and the same token while it is valid.
        body = {"auth_corpid": auth_corpid, "permanent_code": permanent_code}
        answer = self._post("/cgi-bin/service/get_corp_token", suite_token, body)
        return Token(required(answer, "access_token", "service/get_corp_token"), seconds(answer))

    # -- JS-SDK tickets and sign-in (isv-capabilities §6, §7) -----------------------------------

    def get_jsapi_ticket(self, corp_token: str) -> Token:
        """The corp's jsapi_ticket for wx.config (at most 400 an hour per corp): a Token whose
        `access_token` is the ticket."""
        params = {"access_token": corp_token}
        answer = self.client.call("GET", "/cgi-bin/get_jsapi_ticket", params=params)
        return Token(required(answer, "ticket", "get_jsapi_ticket"), seconds(answer))

    def get_agent_ticket(self, corp_token: str) -> Token:
        """The app's ticket inside the corp for wx.agentConfig (at most 100 an hour per app)."""
        params = {"access_token": corp_token, "type": "agent_config"}
        answer = self.client.call("GET", "/cgi-bin/ticket/get", params=params)
        return Token(required(answer, "ticket", "ticket/get"), seconds(answer))

    def getuserinfo3rd(self, suite_token: str, code: str) -> dict[str, Any]:
        """A member's sign-in code: {corpid, userid, open_userid, user_ticket?, expires_in?};
        a non-member: {openid}. 40029: the code is used, expired or not this suite's."""
        params = {"suite_access_token": suite_token, "code": code}
        return self.client.call("GET", "/cgi-bin/service/auth/getuserinfo3rd", params=params)

    def getuserdetail3rd(self, suite_token: str, user_ticket: str) -> dict[str, Any]:
        """The member's details behind a user_ticket (snsapi_privateinfo)."""
        body = {"user_ticket": user_ticket}
        return self._post("/cgi-bin/service/auth/getuserdetail3rd", suite_token, body)

    def corp_getuserinfo(self, corp_token: str, code: str) -> dict[str, Any]:
        """A customized app's sign-in code, with the corp's token (getuserinfo3rd refuses
        代开发 apps): {userid, user_ticket?, expires_in?} or {openid}."""
        params = {"access_token": corp_token, "code": code}
        return self.client.call("GET", "/cgi-bin/auth/getuserinfo", params=params)

    def miniprogram_jscode2session(self, suite_token: str, js_code: str) -> dict[str, Any]:
        """A third-party mini program's wx.qy.login code: {corpid, userid, session_key}."""
        params = {
            "suite_access_token": suite_token,
            "js_code": js_code,
            "grant_type": "authorization_code",
        }
        return self.client.call("GET", "/cgi-bin/service/miniprogram/jscode2session", params=params)
