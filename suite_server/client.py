"""A client of the token API for the ISV's other services: tokens cached until shortly before
they expire, and the refresh-when-the-platform-refused-it call (docs/api.md).

It needs nothing of the server but `requests`, so a service can copy this one file::

    tokens = TokenClient("https://suite.example.com", api_key)

    def send(corpid, payload):
        token = tokens.tenant_token(SUITE_ID, corpid)
        answer = call_wecom("message/send", token, payload)
        if answer.get("errcode") in TOKEN_REFUSED:  # 40001, 42001, 40014
            # The platform says this token is dead (revoked, replaced or expired early). Ask
            # for a new one, naming the token that failed: if another caller has already had
            # it replaced, the server hands back the new one without asking the platform again.
            token = tokens.tenant_token_refreshed(SUITE_ID, corpid, token)
            answer = call_wecom("message/send", token, payload)  # retry once, never loop
        return answer

Or let the server make the call, token and all (`call`, the tenant gateway's proxy)::

    answer = tokens.call(SUITE_ID, "cgi-bin/user/get", tenant_id=corpid,
                         params={"userid": "zhangsan"})

Any error answer of the token methods (or no answer) raises TokenClientError with the HTTP
status and the API's error code: "tenant_cancelled" / "tenant_needs_reauth" (409) mean the
tenant must authorize again; "forbidden" (403) that the API key is limited to other apps; a 503
means try later (`retry_after` seconds).

The landing page an install ends on checks the `install` parameter it was sent with
`verify_install` (docs/install.md), which needs only the standard library::

    claims = verify_install(request.args["install"], LANDING_SECRET, app_id=SUITE_ID)
    if claims["ref_from"] == "link":  # an install link's ref; a "query" one anyone may write
        bind(customer=claims["ref"], corp=claims["tenant_id"])
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import threading
import time
from typing import Any
from urllib.parse import quote

import requests

TOKEN_REFUSED = frozenset({40001, 42001, 40014})  # invalid, expired, invalid access_token


class TokenClientError(Exception):
    """The token API answered with an error, or not at all (`status` 0, code "unreachable")."""

    def __init__(
        self, status: int, code: str, message: str, retry_after: float | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message
        self.retry_after = retry_after


class TokenClient:
    """Tokens from one suite-server, each cached until `refresh_margin` seconds before it
    expires. Safe to share between threads: two threads that miss the cache together both ask
    the server, which serves both from its own store."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        session: requests.Session | None = None,
        timeout: float = 5.0,
        refresh_margin: float = 60,
    ) -> None:
        self.base_url = base_url.rstrip("/") + "/api/v1"
        self.timeout, self.refresh_margin = timeout, refresh_margin
        self._session = session or requests.Session()
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._cache: dict[tuple[str, str | None], tuple[str, float]] = {}  # -> (token, until)
        self._lock = threading.Lock()

    def app_token(self, app_id: str) -> str:
        """The suite_access_token / component_access_token of `app_id`."""
        return self._cached((app_id, None)) or self._fetch(
            (app_id, None), "GET", f"/apps/{_q(app_id)}/access-token"
        )

    def tenant_token(self, app_id: str, tenant_id: str) -> str:
        """The corp access_token (WeCom) / authorizer_access_token (Open) of a tenant."""
        return self._cached((app_id, tenant_id)) or self._fetch(
            (app_id, tenant_id), "GET", _tenant_path(app_id, tenant_id)
        )

    def tenant_token_refreshed(self, app_id: str, tenant_id: str, stale_token: str) -> str:
        """A new token after the platform refused `stale_token`. When this client already
        holds a different one (another thread refreshed first), that one, without a request."""
        held = self._cached((app_id, tenant_id))
        if held is not None and held != stale_token:
            return held
        try:
            return self._fetch(
                (app_id, tenant_id),
                "POST",
                _tenant_path(app_id, tenant_id) + "/refresh",
                {"stale_token": stale_token},
            )
        except TokenClientError:
            self.invalidate(app_id, tenant_id)  # the platform refused it: never hand it out again
            raise

    def provider_token(self, corpid: str) -> str:
        """The provider_access_token of the ISV's WeCom provider account `corpid`."""
        return self._cached(("~provider", corpid)) or self._fetch(
            ("~provider", corpid), "GET", _provider_path(corpid)
        )

    def provider_token_refreshed(self, corpid: str, stale_token: str) -> str:
        """A new provider token after a provider API refused `stale_token` (40082, 42009)."""
        owner = ("~provider", corpid)
        held = self._cached(owner)
        if held is not None and held != stale_token:
            return held
        try:
            return self._fetch(
                owner, "POST", _provider_path(corpid) + "/refresh", {"stale_token": stale_token}
            )
        except TokenClientError:
            with self._lock:
                self._cache.pop(owner, None)
            raise

    def call(
        self,
        app_id: str,
        path: str,
        *,
        tenant_id: str | None = None,
        provider: bool = False,
        method: str = "GET",
        params: dict | None = None,
        json: object = None,
        data: object = None,
        files: dict | None = None,
        timeout: float | None = None,
    ) -> requests.Response:
        """Call a platform API through the server's proxy, which adds the token: the tenant's
        with `tenant_id`, the provider account's with `provider=True` (`app_id` is then its
        corpid), else the app's. `path` is the platform's ("cgi-bin/message/send"); the other
        arguments are requests'. Returns the platform's answer as it came (status, body,
        Content-Type), with `X-Suite-Server-Retried: 1` when a dead token was refreshed and the
        call sent a second time. suite-server's own refusals (403, 404, 409, 413, 502, 504) are
        JSON {"error": {...}}. Raises TokenClientError only when the server did not answer::

            answer = tokens.call(SUITE_ID, "cgi-bin/message/send", tenant_id=corpid,
                                 method="POST", json={"touser": "@all", "msgtype": "text",
                                                      "agentid": agentid,
                                                      "text": {"content": "hello"}})
            if answer.ok and answer.json().get("errcode") == 0: ...

            with open("photo.png", "rb") as photo:
                media = tokens.call(SUITE_ID, "cgi-bin/media/upload", tenant_id=corpid,
                                    method="POST", params={"type": "image"},
                                    files={"media": ("photo.png", photo, "image/png")})
        """
        if provider:
            base = f"/providers/{_q(app_id)}"
        elif tenant_id is not None:
            base = f"/apps/{_q(app_id)}/tenants/{_q(tenant_id)}"
        else:
            base = f"/apps/{_q(app_id)}"
        url = f"{self.base_url}{base}/proxy/{quote(path.lstrip('/'), safe='/')}"
        try:
            return self._session.request(
                method,
                url,
                params=params,
                json=json,
                data=data,
                files=files,
                headers=self._headers,
                timeout=timeout or max(self.timeout, 30.0),
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise TokenClientError(0, "unreachable", type(exc).__name__) from None

    # -- JS-SDK and sign-in (docs/gateway.md): answers as the API gives them, never cached here --

    def jsapi_signature(self, app_id: str, tenant_id: str, url: str, type: str) -> dict:
        """What a page passes to wx.config (`type` "corp" on WeCom, "jsapi" or "wx_card" on
        Open) or wx.agentConfig ("agent"): {appId | corpId, agentId?, timestamp, nonceStr,
        signature}. The ticket stays on the server."""
        path = _tenant_base(app_id, tenant_id) + "/jsapi-signature"
        return self._request("POST", path, {"url": url, "type": type})

    def jsapi_ticket(self, app_id: str, tenant_id: str, type: str) -> dict:
        """The tenant's JS-SDK ticket itself: {ticket, expires_at, expires_in}."""
        path = _tenant_base(app_id, tenant_id) + f"/jsapi-ticket?type={_q(type)}"
        return self._request("GET", path, None)

    def wecom_userinfo(self, app_id: str, code: str, tenant_id: str | None = None) -> dict:
        """A WeCom member's sign-in code -> {corpid, userid, open_userid, user_ticket, ...}; a
        customized template (代开发) needs the corp's `tenant_id`. A refused code raises
        TokenClientError 400 "code_refused"."""
        body = {"code": code} if tenant_id is None else {"code": code, "tenant_id": tenant_id}
        return self._request("POST", f"/apps/{_q(app_id)}/oauth/userinfo", body)

    def wecom_userdetail(self, app_id: str, user_ticket: str) -> dict:
        """The member's details behind the `user_ticket` wecom_userinfo gave (a sign-in with
        scope snsapi_privateinfo) -> {corpid, userid, name?, avatar?, ...}."""
        path = f"/apps/{_q(app_id)}/oauth/userdetail"
        return self._request("POST", path, {"user_ticket": user_ticket})

    def wecom_jscode2session(self, app_id: str, js_code: str) -> dict:
        """A WeCom third-party mini program's wx.qy.login code -> {corpid, userid, session_key}."""
        return self._request(
            "POST", f"/apps/{_q(app_id)}/oauth/jscode2session", {"js_code": js_code}
        )

    def open_oauth_token(
        self, app_id: str, tenant_id: str, code: str | None = None, refresh_token: str | None = None
    ) -> dict:
        """An Open web sign-in `code` (or a user's `refresh_token`) on behalf of the account
        -> {access_token, expires_in, refresh_token, openid, scope, ...}."""
        body = {"code": code} if refresh_token is None else {"refresh_token": refresh_token}
        return self._request("POST", _tenant_base(app_id, tenant_id) + "/oauth/token", body)

    def open_jscode2session(self, app_id: str, tenant_id: str, js_code: str) -> dict:
        """An Open mini program's wx.login code -> {openid, session_key, unionid?}."""
        path = _tenant_base(app_id, tenant_id) + "/oauth/jscode2session"
        return self._request("POST", path, {"js_code": js_code})

    # -- installs (docs/install.md) --

    def install_link(
        self,
        app_id: str,
        ref: str | None = None,
        return_to: str | None = None,
        expires_in: int | None = None,
    ) -> dict:
        """A one-time install link for one of your customers -> {url, expires_at, ref,
        return_to}; a return_to outside the app's allow-list raises TokenClientError 400
        "return_to_not_allowed"."""
        body: dict[str, Any] = {"ref": ref, "return_to": return_to}
        if expires_in is not None:
            body["expires_in"] = expires_in
        return self._request("POST", f"/apps/{_q(app_id)}/install-links", body)

    def invalidate(self, app_id: str | None = None, tenant_id: str | None = None) -> None:
        """Forget cached tokens: all of them, those of one app (its own and its tenants') or
        provider (by its corpid), or one tenant's. The next call asks the server."""
        with self._lock:
            for owner in list(self._cache):
                if (
                    app_id is None
                    or owner == ("~provider", app_id)
                    or (owner[0] == app_id and (tenant_id is None or owner[1] == tenant_id))
                ):
                    del self._cache[owner]

    def _cached(self, owner: tuple[str, str | None]) -> str | None:
        with self._lock:
            hit = self._cache.get(owner)
        return hit[0] if hit is not None and hit[1] > time.monotonic() else None

    def _fetch(self, owner, method: str, path: str, body: dict | None = None) -> str:
        asked = time.monotonic()
        answer = self._request(method, path, body)
        token, expires_in = answer.get("access_token"), answer.get("expires_in")
        if not isinstance(token, str) or not isinstance(expires_in, int):
            raise TokenClientError(200, "bad_answer", "no access_token / expires_in in the answer")
        # Counted from when we asked, on our own clock: no trust in the two clocks agreeing.
        until = asked + expires_in - self.refresh_margin
        with self._lock:
            if until > asked:
                self._cache[owner] = (token, until)
            else:
                self._cache.pop(owner, None)
        return token

    def _request(self, method: str, path: str, body: dict | None) -> dict:
        try:
            response = self._session.request(
                method,
                self.base_url + path,
                json=body,
                headers=self._headers,
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise TokenClientError(0, "unreachable", type(exc).__name__) from None
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if response.status_code in (200, 201) and isinstance(answer, dict):
            return answer
        error = answer.get("error") if isinstance(answer, dict) else None
        if not isinstance(error, dict):
            error = {"code": "http_error", "message": f"HTTP {response.status_code}"}
        retry_after = response.headers.get("Retry-After")
        raise TokenClientError(
            response.status_code,
            str(error.get("code")),
            str(error.get("message")),
            float(retry_after) if retry_after and retry_after.isdigit() else None,
        )


def _q(segment: str) -> str:
    return quote(segment, safe="")


def _provider_path(corpid: str) -> str:
    return f"/providers/{_q(corpid)}/access-token"


def _tenant_base(app_id: str, tenant_id: str) -> str:
    return f"/apps/{_q(app_id)}/tenants/{_q(tenant_id)}"


def _tenant_path(app_id: str, tenant_id: str) -> str:
    return _tenant_base(app_id, tenant_id) + "/access-token"


# -- the landing assertion (docs/install.md) -------------------------------------------------

_PART = re.compile(r"[A-Za-z0-9_-]+")
_CLAIMS = {"platform": str, "app_id": str, "tenant_id": str, "iat": int, "exp": int}
MAX_ASSERTION = 4096


class InstallAssertionError(ValueError):
    """The `install` parameter cannot be trusted; `reason` is "malformed", "signature",
    "expired" or "app" (made for another app)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def verify_install(
    assertion: str,
    secret: str | bytes,
    *,
    app_id: str | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """The claims of the landing redirect's `install` parameter ({platform, app_id, tenant_id,
    ref, ref_from, iat, exp, jti}) once its HMAC-SHA256 with the app's landing `secret` is
    right, it has not expired (10 minutes after the install) and, given `app_id`, it names that
    app. Raises InstallAssertionError (a ValueError) otherwise."""
    if not isinstance(assertion, str) or len(assertion) > MAX_ASSERTION:
        raise InstallAssertionError("malformed", "not an install assertion")
    parts = assertion.split(".")
    if len(parts) != 2 or not all(_PART.fullmatch(p) for p in parts):
        raise InstallAssertionError("malformed", "not an install assertion")
    body, signature = parts
    key = secret.encode() if isinstance(secret, str) else secret
    expected = hmac.new(key, body.encode("ascii"), hashlib.sha256).digest()
    try:
        given = _unb64(signature)
    except ValueError:
        given = b""
    if not hmac.compare_digest(given, expected):
        raise InstallAssertionError("signature", "bad signature (another secret, or altered)")
    try:
        claims = json.loads(_unb64(body))
    except ValueError:
        raise InstallAssertionError("malformed", "the signed part is not JSON") from None
    if not isinstance(claims, dict) or any(
        type(claims.get(name)) is not kind for name, kind in _CLAIMS.items()
    ):
        raise InstallAssertionError("malformed", "the claims are incomplete")
    if claims.get("ref") is not None and not isinstance(claims["ref"], str):
        raise InstallAssertionError("malformed", "ref is not a string")
    if claims["exp"] <= (time.time() if now is None else now):
        raise InstallAssertionError("expired", "the assertion has expired")
    if app_id is not None and claims["app_id"] != app_id:
        raise InstallAssertionError("app", f"made for app {claims['app_id']!r}, not {app_id!r}")
    return claims


def _unb64(part: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError(str(exc)) from None
