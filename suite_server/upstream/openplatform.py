"""The WeChat Open Platform's component APIs (open-platform.md §4), as typed calls."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from suite_server.upstream.http import PlatformApi
from suite_server.upstream.results import Code, Token, required, seconds

DEFAULT_BASE = "https://api.weixin.qq.com"

# errcode -> UpstreamError kind, from open-platform.md §4.1 and §6. Anything else is "other".
OPEN_ERRCODES: dict[int, str] = {
    -1: "busy",  # system busy
    45009: "busy",  # quota reached (clear_quota, §4.9; do not refresh-loop)
    40001: "token",  # invalid or "not latest" token (on Open; also a wrong secret)
    42001: "token",  # token expired
    40014: "token",  # invalid access_token
    61005: "ticket",  # component_verify_ticket expired
    61006: "ticket",  # component_verify_ticket invalid (null, wrong, another component's)
    61023: "credential",  # authorizer refresh_token invalid: recover via §4.7 / §4.6
    61009: "code",  # auth code invalid or used
    40029: "code",  # invalid sign-in code (OAuth, jscode2session)
    40163: "code",  # sign-in code already used
    42003: "code",  # sign-in code expired
    40030: "code",  # invalid OAuth refresh_token
    42002: "code",  # OAuth refresh_token expired
    61010: "code",  # auth code expired
    61003: "revoked",  # the account has not authorized (or revoked) this component
    61004: "config",  # caller IP not in the platform whitelist
    61011: "config",  # invalid component (an account's appid passed)
    61024: "config",  # component appid used with /cgi-bin/token
    61007: "config",  # API not granted to the component
    40013: "config",  # invalid appid
    40125: "config",  # invalid appsecret
    41004: "config",  # appsecret missing
}


@dataclass(frozen=True)
class AuthorizerToken:
    """An authorizer_access_token, its lifetime, and the refresh token to use next time."""

    access_token: str = field(repr=False)
    expires_in: int
    refresh_token: str = field(repr=False)


def authorization_info(answer: dict[str, Any]) -> dict[str, Any]:
    """api_query_auth's authorization_info, whether or not the answer wraps it (§4.4: replies
    both with and without the `authorization_info` wrapper have been reported)."""
    inner = answer.get("authorization_info")
    if isinstance(inner, dict):
        return inner
    return {k: v for k, v in answer.items() if k not in ("errcode", "errmsg")}


class OpenApi(PlatformApi):
    """Component-level calls to the Open Platform. Every method takes the tokens it needs."""

    DEFAULT_BASE = DEFAULT_BASE
    ERRCODES = OPEN_ERRCODES

    def _component_post(
        self, path: str, component_token: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        # §4: older docs and every SDK send ?component_access_token= (newer pages: access_token).
        params = {"component_access_token": component_token}
        return self.client.call("POST", path, params=params, body=body)

    def component_token(
        self, component_appid: str, component_appsecret: str, verify_ticket: str
    ) -> Token:
        # §4.1: every call mints a new token and the previous one dies 5 minutes later, so
        # callers should not call this more often than they must.
        body = {
            "component_appid": component_appid,
            "component_appsecret": component_appsecret,
            "component_verify_ticket": verify_ticket,
        }
        answer = self.client.call("POST", "/cgi-bin/component/api_component_token", body=body)
        token = required(answer, "component_access_token", "component/api_component_token")
        return Token(token, seconds(answer))

    def create_preauthcode(self, component_token: str, component_appid: str) -> Code:
        path = "/cgi-bin/component/api_create_preauthcode"
        answer = self._component_post(path, component_token, {"component_appid": component_appid})
        code = required(answer, "pre_auth_code", "component/api_create_preauthcode")
        return Code(code, seconds(answer, default=600))  # §4.2: the example shows 600

    def query_auth(
        self, component_token: str, component_appid: str, authorization_code: str
    ) -> dict[str, Any]:
        """authorization_info: authorizer_appid, func_info and (only when the account granted
        API permissions, §4.4) authorizer_access_token, expires_in, authorizer_refresh_token."""
        body = {"component_appid": component_appid, "authorization_code": authorization_code}
        answer = self._component_post("/cgi-bin/component/api_query_auth", component_token, body)
        info = authorization_info(answer)
        required(info, "authorizer_appid", "component/api_query_auth")
        return info

    def authorizer_token(
        self, component_token: str, component_appid: str, authorizer_appid: str, refresh_token: str
    ) -> AuthorizerToken:
        body = {
            "component_appid": component_appid,
            "authorizer_appid": authorizer_appid,
            "authorizer_refresh_token": refresh_token,
        }
        path = "/cgi-bin/component/api_authorizer_token"
        answer = self._component_post(path, component_token, body)
        token = required(answer, "authorizer_access_token", "component/api_authorizer_token")
        # §4.5: the refresh token does not rotate in practice, but persist whatever comes back;
        # an answer without one means the one we sent is still the one to use.
        returned = answer.get("authorizer_refresh_token")
        next_refresh = returned if isinstance(returned, str) and returned else refresh_token
        return AuthorizerToken(token, seconds(answer), next_refresh)

    def get_authorizer_info(
        self, component_token: str, component_appid: str, authorizer_appid: str
    ) -> dict[str, Any]:
        """{authorizer_info, authorization_info} (§4.6); authorization_info carries the
        refresh token, which makes this a recovery path for 61023."""
        body = {"component_appid": component_appid, "authorizer_appid": authorizer_appid}
        return self._component_post(
            "/cgi-bin/component/api_get_authorizer_info", component_token, body
        )

    def get_authorizer_list(
        self, component_token: str, component_appid: str, offset: int, count: int
    ) -> dict[str, Any]:
        """{total_count, list: [{authorizer_appid, refresh_token?, auth_time}]} (§4.7; count at
        most 500; refresh_token is missing while an authorization's code was never exchanged)."""
        body = {"component_appid": component_appid, "offset": offset, "count": count}
        return self._component_post(
            "/cgi-bin/component/api_get_authorizer_list", component_token, body
        )

    def start_push_ticket(self, component_appid: str, component_secret: str) -> None:
        # §4.10: no token (WxJava sends none); "in a normal state" also answers errcode 0.
        body = {"component_appid": component_appid, "component_secret": component_secret}
        self.client.call("POST", "/cgi-bin/component/api_start_push_ticket", body=body)

    def custom_send_text(self, authorizer_token: str, touser: str, content: str) -> None:
        """A customer-service text message to `touser` (an openid) as the authorizer (§4.11)."""
        body = {"touser": touser, "msgtype": "text", "text": {"content": content}}
        params = {"access_token": authorizer_token}
        self.client.call("POST", "/cgi-bin/message/custom/send", params=params, body=body)

    # -- registering mini programs for merchants (isv-capabilities §10) ------------------------

    def fastregister(self, component_token: str, kind: str, body: dict[str, Any]) -> dict:
        """Start a fast registration: `enterprise` (fastregisterweapp), `personal`
        (fastregisterpersonalweapp: taskid, authorize_url) or `beta` (fastregisterbetaweapp:
        unique_id, authorize_url). The outcome comes later as a push."""
        path, params = {
            "enterprise": ("/cgi-bin/component/fastregisterweapp", {"action": "create"}),
            "personal": ("/wxa/component/fastregisterpersonalweapp", {"action": "create"}),
            # The beta call's page names the component's token `access_token`.
            "beta": ("/wxa/component/fastregisterbetaweapp", {}),
        }[kind]
        name = "access_token" if kind == "beta" else "component_access_token"
        params = {**params, name: component_token}
        return self.client.call("POST", path, params=params, body=body)

    # -- a mini program's code, with the authorizer's token (isv-capabilities §12) -------------

    def wxa(self, authorizer_token: str, name: str, body: dict[str, Any] | None = None) -> dict:
        """`/wxa/<name>` for one mini program: commit, submit_audit, get_auditstatus,
        get_latest_auditstatus, queryquota, release, grayrelease, getversioninfo... POST with
        `body`, or GET without one, as each is documented."""
        params = {"access_token": authorizer_token}
        method = "GET" if body is None else "POST"
        return self.client.call(method, f"/wxa/{name}", params=params, body=body)

    # -- quota and rid (isv-capabilities §14): an account's token, or the component's ----------

    def quota_get(self, token: str, cgi_path: str) -> dict[str, Any]:
        """{quota: {daily_limit, used, remain}, rate_limit, component_rate_limit} of one path
        for the token's account (76021 unknown path, 76022 not counted)."""
        params = {"access_token": token}
        body = {"cgi_path": cgi_path}
        return self.client.call("POST", "/cgi-bin/openapi/quota/get", params=params, body=body)

    def clear_quota(self, token: str, appid: str) -> None:
        """The account's day's counts back to 0 (10 a month, then 48006)."""
        params = {"access_token": token}
        self.client.call("POST", "/cgi-bin/clear_quota", params=params, body={"appid": appid})

    def clear_quota_v2(self, component_appid: str, secret: str, appid: str) -> None:
        """clear_quota without a token, with the component's secret (WxJava clearQuotaV2)."""
        body = {"component_appid": component_appid, "appsecret": secret, "appid": appid}
        self.client.call("POST", "/cgi-bin/component/clear_quota/v2", body=body)

    def rid_get(self, token: str, rid: str) -> dict[str, Any]:
        """The request behind an error's rid: {invoke_time, cost_in_ms, request_url, ...}."""
        params = {"access_token": token}
        answer = self.client.call(
            "POST", "/cgi-bin/openapi/rid/get", params=params, body={"rid": rid}
        )
        return answer.get("request") or {}

    # -- JS-SDK tickets and sign-in on behalf of an account (isv-capabilities §6, §7) -----------

    def get_ticket(self, authorizer_token: str, kind: str) -> Token:
        """The account's `jsapi` or `wx_card` ticket: a Token whose `access_token` is it."""
        params = {"access_token": authorizer_token, "type": kind}
        answer = self.client.call("GET", "/cgi-bin/ticket/getticket", params=params)
        return Token(required(answer, "ticket", "ticket/getticket"), seconds(answer))

    def _sns(self, path: str, component_token: str, params: dict[str, str]) -> dict[str, Any]:
        # Sign-in on behalf of an account takes the COMPONENT token, never the account's.
        query = {**params, "component_access_token": component_token}
        return self.client.call("GET", path, params=query)

    def oauth_access_token(
        self, component_token: str, component_appid: str, appid: str, code: str
    ) -> dict[str, Any]:
        """Web sign-in code -> {access_token, expires_in, refresh_token, openid, scope, ...}."""
        params = {
            "appid": appid,
            "code": code,
            "grant_type": "authorization_code",
            "component_appid": component_appid,
        }
        return self._sns("/sns/oauth2/component/access_token", component_token, params)

    def oauth_refresh_token(
        self, component_token: str, component_appid: str, appid: str, refresh_token: str
    ) -> dict[str, Any]:
        """A user's OAuth access_token renewed with its refresh_token."""
        params = {
            "appid": appid,
            "grant_type": "refresh_token",
            "component_appid": component_appid,
            "refresh_token": refresh_token,
        }
        return self._sns("/sns/oauth2/component/refresh_token", component_token, params)

    def jscode2session(
        self, component_token: str, component_appid: str, appid: str, js_code: str
    ) -> dict[str, Any]:
        """A mini program's wx.login code -> {openid, session_key, unionid?}."""
        params = {
            "appid": appid,
            "js_code": js_code,
            "grant_type": "authorization_code",
            "component_appid": component_appid,
        }
        return self._sns("/sns/component/jscode2session", component_token, params)
