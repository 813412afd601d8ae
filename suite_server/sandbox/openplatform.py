"""The Open Platform's component APIs (open-platform.md §4): what each one checks and answers.

Functions take the parsed request, raise ApiError with the Open Platform's errcode, and return the
body. Success bodies have no errcode unless the doc shows one.
"""

from __future__ import annotations

from typing import Any

from suite_server.sandbox import authorizations as auth
from suite_server.sandbox.errors import ApiError
from suite_server.sandbox.state import OPEN, App, SandboxState, Tenant
from suite_server.sandbox.tokens import EXPIRED, VALID
from suite_server.sandbox.wecom import text

OK = {"errcode": 0, "errmsg": "ok"}
MAX_LIST_COUNT = 500  # §4.7


def _component(state: SandboxState, appid: str) -> App:
    if not appid:
        raise ApiError(41002)
    app = state.app(appid, OPEN)
    if app is not None:
        return app
    # §4.1: 61011 when an account's appid is passed instead of a component's.
    if any(t.tenant_id == appid for t in state.tenants.values()):
        raise ApiError(61011)
    raise ApiError(40013)


def api_component_token(state: SandboxState, body: dict[str, Any]) -> dict[str, Any]:
    with state.lock:
        app = _component(state, text(body, "component_appid"))
        secret = text(body, "component_appsecret")
        if not secret:
            raise ApiError(41004)
        if secret != app.secret:
            raise ApiError(40125)
        # §4.1/§6: 61006 for a ticket never pushed to this component (null, wrong, another
        # component's); 61005 once it is older than its 12 h.
        age = state.ticket_age(app.app_id, text(body, "component_verify_ticket"))
        if age is None:
            raise ApiError(61006)
        if age >= state.settings.open_ticket_ttl:
            raise ApiError(61005)
        # §4.1: every call mints a new token; the previous one lives 300 s more.
        now = state.now()
        token = state.tokens.rotate("component", app.app_id, None, now, state.settings.token_ttl)
        return {"component_access_token": token.value, "expires_in": token.remaining(now)}


def component_from_token(state: SandboxState, value: str | None, body: dict[str, Any]) -> App:
    """The component a component_access_token belongs to (41001 missing, 42001 expired, 40001
    invalid or not latest); the body's component_appid, when given, must be that component."""
    if not value:
        raise ApiError(41001)
    with state.lock:
        status, token = state.tokens.check(
            value, ("component",), state.now(), state.settings.open_token_grace
        )
        if status == EXPIRED:
            raise ApiError(42001)
        app = state.app(token.app_id, OPEN) if status == VALID and token else None
        if app is None:
            raise ApiError(40001)
        named = text(body, "component_appid")
        if named and named != app.app_id:
            raise ApiError(61011)
        return app


def api_create_preauthcode(state: SandboxState, app: App) -> dict[str, Any]:
    code = auth.issue_pre_auth_code(state, app)
    return {"pre_auth_code": code.value, "expires_in": int(state.settings.open_pre_auth_code_ttl)}


def api_query_auth(state: SandboxState, app: App, body: dict[str, Any]) -> dict[str, Any]:
    value = text(body, "authorization_code")
    if not value:
        raise ApiError(41008)
    status, tenant = auth.redeem_auth_code(state, app, value)
    if status == auth.EXPIRED:
        raise ApiError(61010)
    if status != auth.OK or tenant is None:
        raise ApiError(61009)  # §4.4: reused or wrong (a pre_auth_code is a common mistake)
    with state.lock:
        now = state.now()
        token = state.tokens.rotate(
            "authorizer", app.app_id, tenant.tenant_id, now, state.settings.token_ttl
        )
        return {
            "authorization_info": {
                "authorizer_appid": tenant.tenant_id,
                "authorizer_access_token": token.value,
                "expires_in": token.remaining(now),
                "authorizer_refresh_token": tenant.credential,
                "func_info": func_info(tenant),
            }
        }


def api_authorizer_token(state: SandboxState, app: App, body: dict[str, Any]) -> dict[str, Any]:
    with state.lock:
        tenant = authorizer(state, app, body)
        refresh_token = text(body, "authorizer_refresh_token")
        # §6: 61023 for a null, lost or superseded refresh token (re-authorization replaced it).
        if not refresh_token or refresh_token != tenant.credential:
            raise ApiError(61023)
        if state.settings.strict_refresh:
            # Strict mode: rotate on every call, the old value dead at once (§4.5's worst case).
            tenant.credential = auth.new_credential(app)
        # §4.5: each call mints a new authorizer_access_token; the old one has 300 s of grace.
        now = state.now()
        token = state.tokens.rotate(
            "authorizer", app.app_id, tenant.tenant_id, now, state.settings.token_ttl
        )
        return {
            "authorizer_access_token": token.value,
            "expires_in": token.remaining(now),
            "authorizer_refresh_token": tenant.credential,
        }


def api_get_authorizer_info(state: SandboxState, app: App, body: dict[str, Any]) -> dict[str, Any]:
    with state.lock:
        tenant = authorizer(state, app, body)
        mini = tenant.account_type == "mini_program"
        info: dict[str, Any] = {
            "nick_name": tenant.name,
            "head_img": "http://wx.qlogo.cn/mmopen/sandbox/0",
            "service_type_info": {"id": service_type(tenant)},
            "verify_type_info": {"id": tenant.verify_type},
            "user_name": tenant.user_name,
            "principal_name": f"{tenant.name} Ltd.",
            "alias": "",
            "qrcode_url": "http://mmbiz.qpic.cn/mmbiz/sandbox/0",
            "business_info": {
                "open_pay": 0,
                "open_shake": 0,
                "open_scan": 0,
                "open_card": 0,
                "open_store": 0,
            },
            "account_status": tenant.account_status,
            "signature": "",
        }
        if mini:
            info["MiniProgramInfo"] = {
                "network": {
                    "RequestDomain": [],
                    "WsRequestDomain": [],
                    "UploadDomain": [],
                    "DownloadDomain": [],
                },
                "categories": [],
                "visit_status": 0,
            }
        return {
            "authorizer_info": info,
            "authorization_info": {
                "authorizer_appid": tenant.tenant_id,
                "authorizer_refresh_token": tenant.credential,  # §4.6: usable for recovery
                "func_info": func_info(tenant),
            },
        }


def api_get_authorizer_list(state: SandboxState, app: App, body: dict[str, Any]) -> dict[str, Any]:
    offset, count = body.get("offset", 0), body.get("count", MAX_LIST_COUNT)
    for value in (offset, count):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ApiError(47001)
    if offset < 0 or not 1 <= count <= MAX_LIST_COUNT:
        raise ApiError(40097)
    with state.lock:
        active = sorted(
            (t for t in state.tenants_of(app.app_id) if t.active), key=lambda t: t.authorized_at
        )
        rows = []
        for tenant in active[offset : offset + count]:
            row: dict[str, Any] = {
                "authorizer_appid": tenant.tenant_id,
                "auth_time": int(tenant.authorized_at),
            }
            # §4.7: refresh_token is missing while the authorization's code was never exchanged.
            if tenant.exchanged:
                row["refresh_token"] = tenant.credential
            rows.append(row)
        return {"total_count": len(active), "list": rows}


def api_start_push_ticket(state: SandboxState, body: dict[str, Any]) -> App:
    """§4.10: checks the component and its secret; the caller pushes a ticket."""
    with state.lock:
        app = _component(state, text(body, "component_appid"))
        secret = text(body, "component_secret")
        if not secret:
            raise ApiError(41004)
        if secret != app.secret:
            raise ApiError(40125)
        return app


def authorizer_from_token(state: SandboxState, value: str | None) -> Tenant:
    """The account an authorizer_access_token belongs to (41001 / 42001 / 40001)."""
    if not value:
        raise ApiError(41001)
    with state.lock:
        status, token = state.tokens.check(
            value, ("authorizer",), state.now(), state.settings.open_token_grace
        )
        if status == EXPIRED:
            raise ApiError(42001)
        tenant = (
            state.tenant(token.app_id, token.tenant_id or "") if status == VALID and token else None
        )
        if tenant is None or not tenant.active:
            raise ApiError(40001)
        return tenant


def custom_send(state: SandboxState, tenant: Tenant, body: dict[str, Any]) -> dict[str, Any]:
    """§4.11 customer-service send: recorded so tests (and the release check) can read it."""
    touser, msgtype = text(body, "touser"), text(body, "msgtype")
    if not touser:
        raise ApiError(40003)
    if not msgtype:
        raise ApiError(40008)
    if msgtype == "text":
        content = body.get("text")
        if not isinstance(content, dict) or not isinstance(content.get("content"), str):
            raise ApiError(44004)
    state.record_message(
        {
            "platform": OPEN,
            "app_id": tenant.app_id,
            "tenant_id": tenant.tenant_id,
            "touser": touser,
            "msgtype": msgtype,
            "body": body,
            "at": state.now(),
        }
    )
    return dict(OK)


def authorizer(state: SandboxState, app: App, body: dict[str, Any]) -> Tenant:
    """The active account the body's authorizer_appid names (41002 missing, 61003 not one)."""
    appid = text(body, "authorizer_appid")
    if not appid:
        raise ApiError(41002)
    tenant = state.tenant(app.app_id, appid)
    # §6: 61003 when the account has not authorized (or has revoked) this component.
    if tenant is None or not tenant.active:
        raise ApiError(61003)
    return tenant


def service_type(tenant: Tenant) -> int:
    """§4.6 service_type_info.id: as set from the control API, else 0 for a mini program and 2
    (service account) for an official account."""
    if tenant.service_type is not None:
        return tenant.service_type
    return 0 if tenant.account_type == "mini_program" else 2


def func_info(tenant: Tenant) -> list[dict[str, Any]]:
    return [{"funcscope_category": {"id": fid}} for fid in tenant.func_ids]
