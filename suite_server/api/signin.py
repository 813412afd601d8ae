"""Sign-in code exchanges (docs/api.md, docs/gateway.md "Sign-in"): the ISV's page or mini
program hands its service the code the platform gave the user, and the service asks here who
that is. Answers are the platform's fields; a code the platform refuses is a 400 code_refused
naming the platform's errcode. Nothing of a request or an answer is logged: codes, user ids and
session keys belong to the end user."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Response, jsonify, request

from suite_server.api.routes import MAX_BODY, ApiError, _app, _route, _session, _tenant
from suite_server.errors import UpstreamError
from suite_server.gateway import signin

MAX_CODE = 512


@_route("/apps/<app_id>/oauth/userinfo", "POST")
def oauth_userinfo(app_id: str) -> Response:
    """A WeCom member's sign-in code; a customized template's needs the corp's `tenant_id`."""
    body = _body("code")
    app = _wecom_app(app_id, "oauth/userinfo")
    if app.kind != "template":
        return _exchange(signin.wecom_userinfo, _session(), app, body["code"])
    tenant_id = body.get("tenant_id")
    if not isinstance(tenant_id, str) or not tenant_id:
        raise ApiError(
            400, "bad_request", "a customized app's sign-in needs the corp: send tenant_id too"
        )
    tenant, _app_kept, _known = _tenant(app_id, tenant_id)
    return _exchange(signin.wecom_corp_userinfo, _session(), tenant, body["code"])


@_route("/apps/<app_id>/oauth/userdetail", "POST")
def oauth_userdetail(app_id: str) -> Response:
    """A WeCom member's details behind the `user_ticket` of a sign-in (getuserdetail3rd)."""
    body = _body("user_ticket")
    app = _wecom_app(app_id, "oauth/userdetail")
    if app.kind == "template":
        raise ApiError(
            400,
            "bad_request",
            "a customized app reads a member's details with the corp's token: proxy "
            "cgi-bin/auth/getuserdetail through tenants/<tenant_id>/proxy/",
        )
    return _exchange(signin.wecom_userdetail, _session(), app, body["user_ticket"])


@_route("/apps/<app_id>/oauth/jscode2session", "POST")
def wecom_jscode2session(app_id: str) -> Response:
    """A WeCom third-party mini program's wx.qy.login code."""
    body = _body("js_code")
    app = _wecom_app(app_id, "oauth/jscode2session")
    return _exchange(signin.wecom_jscode2session, _session(), app, body["js_code"])


@_route("/apps/<app_id>/tenants/<tenant_id>/oauth/token", "POST")
def open_oauth_token(app_id: str, tenant_id: str) -> Response:
    """An Open web sign-in `code`, or a user's OAuth `refresh_token`, on behalf of the account."""
    body = _body("code", "refresh_token")
    tenant, app = _open_tenant(app_id, tenant_id, "oauth/token")
    if "code" in body:
        return _exchange(signin.open_oauth_token, _session(), app, tenant, code=body["code"])
    refresh = body["refresh_token"]
    return _exchange(signin.open_oauth_token, _session(), app, tenant, refresh=refresh)


@_route("/apps/<app_id>/tenants/<tenant_id>/oauth/jscode2session", "POST")
def open_jscode2session(app_id: str, tenant_id: str) -> Response:
    """An Open mini program's wx.login code, on behalf of the account."""
    body = _body("js_code")
    tenant, app = _open_tenant(app_id, tenant_id, "oauth/jscode2session")
    return _exchange(signin.open_jscode2session, _session(), app, tenant, body["js_code"])


def _body(*names: str) -> dict[str, Any]:
    """The JSON body, with one of `names` a non-empty string (the first one found is kept)."""
    request.max_content_length = MAX_BODY
    body = request.get_json(force=True, silent=True)
    if isinstance(body, dict):
        for name in names:
            value = body.get(name)
            if isinstance(value, str) and 0 < len(value) <= MAX_CODE:
                return {**{k: v for k, v in body.items() if k not in names}, name: value}
    wanted = " or ".join(f'{{"{name}": "..."}}' for name in names)
    raise ApiError(400, "bad_request", f"send a JSON body {wanted} (at most {MAX_CODE} characters)")


def _wecom_app(app_id: str, path: str):
    app = _app(app_id)
    if app.platform != "wecom":
        raise ApiError(
            400,
            "bad_request",
            f"{path} is for WeCom apps; an Open component signs in on behalf of an account: "
            "tenants/<tenant_id>/oauth/...",
        )
    return app


def _open_tenant(app_id: str, tenant_id: str, path: str):
    tenant, app, _known = _tenant(app_id, tenant_id)
    if app.platform != "open":
        raise ApiError(
            400, "bad_request", f"tenants/<tenant_id>/{path} is for Open components' accounts"
        )
    return tenant, app


def _exchange(exchange: Callable[..., dict], *args, **kwargs) -> Response:
    try:
        return jsonify(exchange(*args, **kwargs))
    except UpstreamError as exc:  # a code (or refresh token) the platform refused
        raise ApiError(
            400, "code_refused", f"the platform refused it: errcode {exc.errcode} {exc.errmsg}"
        ) from None
