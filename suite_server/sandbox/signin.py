"""Sign-in (isv-capabilities.md §7): single-use five-minute codes minted on command or by a
one-click authorize page, and the platforms' exchanges for them.

- Control: `POST /sandbox/signin/code {app_id, kind, tenant_id?, user_id?, scope?}` with kind
  wecom_member | wecom_miniprogram (a WeCom app) or open_web | open_miniprogram (an Open
  component; tenant_id is the account) -> {code, expires_in, tenant_id, user_id}.
- Page: `GET /connect/oauth2/authorize?appid=&redirect_uri=&state=[&component_appid=]` signs in
  at once as `user_id` (default: the corp's installer, or "user1") and redirects back with
  ?code=&state=; the sandbox-only `tenant_id` picks the corp (default: the suite's first).
- WeCom: service/auth/getuserinfo3rd, service/auth/getuserdetail3rd and
  service/miniprogram/jscode2session with a suite token (40082 for another kind of token);
  auth/getuserinfo with the corp token (a 代开发 template's sign-in). A refused code is 40029
  whether used, expired or another app's; getuserinfo3rd refuses 代开发 templates (48001).
- Open, component token only (an account's token: 48001, as observed, newteo #101):
  sns/oauth2/component/access_token (40029 unknown or another account's, 40163 used, 42003
  expired), its refresh_token (40030 unknown, 42002 expired), sns/component/jscode2session.
Identities are fixed per app, corp or account and user (hashes), so a user signs in as the same
open_userid / openid / unionid every time.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, jsonify, redirect, request
from flask.typing import ResponseReturnValue

from suite_server.sandbox import control_input as given
from suite_server.sandbox import openplatform as op
from suite_server.sandbox import wecom
from suite_server.sandbox.api_common import json_body, platform_blueprint
from suite_server.sandbox.control_input import ControlError
from suite_server.sandbox.errors import ApiError
from suite_server.sandbox.runtime import current_sandbox
from suite_server.sandbox.state import OPEN, WECOM, App, SandboxState, Tenant, is_template
from suite_server.sandbox.tokens import VALID

wecom_bp = platform_blueprint("sandbox_wecom_signin", WECOM)
open_bp = platform_blueprint("sandbox_open_signin", OPEN)
control_bp = Blueprint("sandbox_signin_control", __name__)
BOTH = ["GET", "POST"]

CODE_TTL, USER_TICKET_TTL, SESSION_TTL, REFRESH_TTL = 300.0, 1800.0, 7200.0, 30 * 86400.0
KINDS = {
    "wecom_member": WECOM,
    "wecom_miniprogram": WECOM,
    "open_web": OPEN,
    "open_miniprogram": OPEN,
}
ERRMSGS = {
    40029: "invalid code",
    40163: "code been used",
    42003: "code expired",
    40030: "invalid refresh_token",
    42002: "refresh_token expired",
    48001: "api unauthorized",
}


@dataclass
class Grant:
    """A sign-in code, a WeCom user_ticket, or a user's OAuth access or refresh token."""

    value: str
    kind: str  # a KINDS key | user_ticket | oauth_access | oauth_refresh
    app_id: str
    tenant_id: str
    user_id: str
    expires_at: float
    scope: str = "snsapi_base"
    used: bool = False


def _state() -> SandboxState:
    return current_sandbox().state


# -- minting codes -----------------------------------------------------------------------------


@control_bp.post("/sandbox/signin/code")
def mint_code() -> ResponseReturnValue:
    data = given.body()
    app = given.app(given.text(data, "app_id", required=True))
    kind = given.text(data, "kind", required=True)
    if KINDS.get(kind) != app.platform:
        wanted = ", ".join(k for k, p in KINDS.items() if p == app.platform)
        raise ControlError(400, f"kind must be one of {wanted} for this app")
    tenant = _signing_into(app, given.text(data, "tenant_id"))
    user_id = given.text(data, "user_id") or _default_user(tenant)
    scope = given.text(data, "scope") or "snsapi_base"
    code = _grant(_state(), kind, app, tenant, user_id, CODE_TTL, scope)
    return jsonify(
        code=code.value, expires_in=int(CODE_TTL), tenant_id=tenant.tenant_id, user_id=user_id
    )


@control_bp.get("/connect/oauth2/authorize")
def authorize() -> ResponseReturnValue:
    """The platforms' web authorize page, approved at once: back to redirect_uri with a code."""
    args = request.args
    redirect_uri = args.get("redirect_uri") or ""
    if not redirect_uri.startswith(("http://", "https://")):
        raise ControlError(400, "redirect_uri must be an http(s) URL")
    if args.get("component_appid"):  # Open: appid is the account, on behalf of the component
        app = given.app(args["component_appid"])
        tenant, kind = given.tenant(app, args.get("appid") or ""), "open_web"
    else:  # WeCom: appid is the suite
        app = given.app(args.get("appid") or "")
        tenant, kind = _signing_into(app, args.get("tenant_id") or ""), "wecom_member"
    user_id = args.get("user_id") or _default_user(tenant)
    scope = args.get("scope") or "snsapi_base"
    code = _grant(_state(), kind, app, tenant, user_id, CODE_TTL, scope)
    query = urlencode({"code": code.value, "state": args.get("state") or ""})
    return redirect(f"{redirect_uri}{'&' if '?' in redirect_uri else '?'}{query}")


def _signing_into(app: App, tenant_id: str) -> Tenant:
    if tenant_id:
        tenant = given.tenant(app, tenant_id)
    else:
        tenant = next((t for t in _state().tenants_of(app.app_id) if t.active), None)
        if tenant is None:
            raise ControlError(404, f"{app.app_id} has no active tenant to sign in to")
    if not tenant.active:
        raise ControlError(409, f"{tenant.tenant_id} has cancelled its authorization")
    return tenant


def _default_user(tenant: Tenant) -> str:
    return tenant.installer or ("zhangsan" if tenant.app_id.startswith(("ww", "dk")) else "user1")


def _grant(state, kind, app: App, tenant: Tenant, user_id: str, ttl: float, scope="snsapi_base"):
    with state.lock:
        grant = Grant(
            secrets.token_urlsafe(24),
            kind,
            app.app_id,
            tenant.tenant_id,
            user_id,
            state.now() + ttl,
            scope,
        )
        state.signins[grant.value] = grant
        return grant


def _redeem(state, value: str, kind: str, app_id: str, tenant_id: str | None, errcodes) -> Grant:
    """Use the code (or token) `value`: errcodes = (unknown or foreign, used, expired)."""
    unknown, used, expired = errcodes
    with state.lock:
        grant = state.signins.get(value or "")
        if grant is None or grant.kind != kind or grant.app_id != app_id:
            raise ApiError(unknown, ERRMSGS.get(unknown))
        if tenant_id is not None and grant.tenant_id != tenant_id:
            raise ApiError(unknown, ERRMSGS.get(unknown))
        if grant.used:
            raise ApiError(used, ERRMSGS.get(used))
        if state.now() >= grant.expires_at:
            raise ApiError(expired, ERRMSGS.get(expired))
        if kind in KINDS:
            grant.used = True
        return grant


# -- identities --------------------------------------------------------------------------------


def _hashed(prefix: str, *parts: str, size: int = 28) -> str:
    return prefix + hashlib.sha256("|".join(parts).encode()).hexdigest()[:size]


def _open_userid(grant: Grant) -> str:
    return _hashed("wo", grant.app_id, grant.tenant_id, grant.user_id, size=30)


def _openid(grant: Grant) -> str:
    return _hashed("o", grant.tenant_id, grant.user_id, size=27)


def _unionid(grant: Grant) -> str:
    return _hashed("u", grant.app_id, grant.user_id, size=27)


# -- WeCom -------------------------------------------------------------------------------------

WECOM_CODE = (40029, 40029, 40029)


@wecom_bp.route("/cgi-bin/service/auth/getuserinfo3rd", methods=BOTH)
def getuserinfo3rd() -> ResponseReturnValue:
    state, app = _state(), wecom.suite_from_token(_state(), request.args.get("suite_access_token"))
    if is_template(app):  # doc/98179: "不允许代开发自建应用调用"
        raise ApiError(48001, ERRMSGS[48001])
    grant = _redeem(
        state, request.args.get("code", ""), "wecom_member", app.app_id, None, WECOM_CODE
    )
    ticket = _grant(
        state,
        "user_ticket",
        app,
        state.tenant(app.app_id, grant.tenant_id),
        grant.user_id,
        USER_TICKET_TTL,
    )
    return jsonify(
        {
            **wecom.OK,
            "corpid": grant.tenant_id,
            "userid": grant.user_id,
            "user_ticket": ticket.value,
            "expires_in": int(USER_TICKET_TTL),
            "open_userid": _open_userid(grant),
        }
    )


@wecom_bp.route("/cgi-bin/service/auth/getuserdetail3rd", methods=BOTH)
def getuserdetail3rd() -> ResponseReturnValue:
    state, app = _state(), wecom.suite_from_token(_state(), request.args.get("suite_access_token"))
    value = wecom.text(json_body(), "user_ticket")
    grant = _redeem(state, value, "user_ticket", app.app_id, None, WECOM_CODE)
    return jsonify(
        {
            **wecom.OK,
            "corpid": grant.tenant_id,
            "userid": grant.user_id,
            "gender": "1",
            "avatar": "https://wework.qpic.cn/sandbox/avatar/1",
            "qr_code": "https://open.work.weixin.qq.com/sandbox/qr/1",
            "mobile": "13800000000",
            "email": f"{grant.user_id}@example.com",
            "biz_mail": f"{grant.user_id}@corp.example.com",
            "address": "",
        }
    )


@wecom_bp.route("/cgi-bin/auth/getuserinfo", methods=BOTH)
def corp_getuserinfo() -> ResponseReturnValue:
    state = _state()
    tenant = wecom.corp_from_token(state, request.args.get("access_token"))
    code = request.args.get("code", "")
    grant = _redeem(state, code, "wecom_member", tenant.app_id, tenant.tenant_id, WECOM_CODE)
    app = state.app(tenant.app_id)
    ticket = _grant(state, "user_ticket", app, tenant, grant.user_id, USER_TICKET_TTL)
    return jsonify(
        {
            **wecom.OK,
            "userid": grant.user_id,
            "user_ticket": ticket.value,
            "expires_in": int(USER_TICKET_TTL),
        }
    )


@wecom_bp.route("/cgi-bin/service/miniprogram/jscode2session", methods=BOTH)
def wecom_jscode2session() -> ResponseReturnValue:
    state, app = _state(), wecom.suite_from_token(_state(), request.args.get("suite_access_token"))
    if request.args.get("grant_type") != "authorization_code":
        raise ApiError(40097)
    code = request.args.get("js_code", "")
    grant = _redeem(state, code, "wecom_miniprogram", app.app_id, None, WECOM_CODE)
    return jsonify(
        {
            **wecom.OK,
            "corpid": grant.tenant_id,
            "userid": grant.user_id,
            "session_key": secrets.token_urlsafe(18),
        }
    )


# -- Open --------------------------------------------------------------------------------------


def _open_call(grant_type: str) -> tuple[App, Tenant]:
    """The component (by its token: 48001 for an account's token) and the account `appid`
    that authorized it (61003 otherwise)."""
    state, args = _state(), request.args
    value = args.get("component_access_token") or ""
    with state.lock:
        status, token = state.tokens.check(
            value, ("authorizer",), state.now(), state.settings.open_token_grace
        )
    if status == VALID and token is not None:
        raise ApiError(48001, ERRMSGS[48001])
    app = op.component_from_token(state, value, {"component_appid": args.get("component_appid")})
    if args.get("grant_type") != grant_type:
        raise ApiError(40097)
    tenant = state.tenant(app.app_id, args.get("appid") or "")
    if tenant is None or not tenant.active:
        raise ApiError(61003)
    return app, tenant


@open_bp.route("/sns/oauth2/component/access_token", methods=BOTH)
def oauth_access_token() -> ResponseReturnValue:
    app, tenant = _open_call("authorization_code")
    state = _state()
    code = request.args.get("code", "")
    grant = _redeem(state, code, "open_web", app.app_id, tenant.tenant_id, (40029, 40163, 42003))
    refresh = _grant(state, "oauth_refresh", app, tenant, grant.user_id, REFRESH_TTL, grant.scope)
    return jsonify(_oauth_answer(state, app, tenant, refresh))


@open_bp.route("/sns/oauth2/component/refresh_token", methods=BOTH)
def oauth_refresh_token() -> ResponseReturnValue:
    app, tenant = _open_call("refresh_token")
    state = _state()
    value = request.args.get("refresh_token", "")
    refresh = _redeem(
        state, value, "oauth_refresh", app.app_id, tenant.tenant_id, (40030, 40030, 42002)
    )
    return jsonify(_oauth_answer(state, app, tenant, refresh))


def _oauth_answer(state, app: App, tenant: Tenant, refresh: Grant) -> dict[str, Any]:
    access = _grant(state, "oauth_access", app, tenant, refresh.user_id, SESSION_TTL, refresh.scope)
    return {
        "access_token": access.value,
        "expires_in": int(SESSION_TTL),
        "refresh_token": refresh.value,
        "openid": _openid(refresh),
        "scope": refresh.scope,
    }


@open_bp.route("/sns/component/jscode2session", methods=BOTH)
def open_jscode2session() -> ResponseReturnValue:
    app, tenant = _open_call("authorization_code")
    state = _state()
    code = request.args.get("js_code", "")
    grant = _redeem(
        state, code, "open_miniprogram", app.app_id, tenant.tenant_id, (40029, 40163, 42003)
    )
    return jsonify(
        {
            "openid": _openid(grant),
            "session_key": secrets.token_urlsafe(18),
            "unionid": _unionid(grant),
        }
    )
