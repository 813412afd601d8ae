"""An Open authorizer's capabilities and account state (isv-capabilities.md §13): the permission
sets it granted (`func_info`), its account status, service and verify types, and its options.

Platform (api.weixin.qq.com), POST only (43002), open-platform.md §4.8:
* `cgi-bin/component/get_authorizer_option?component_access_token=` (or `access_token=`)
  `{component_appid, authorizer_appid, option_name}` -> `{authorizer_appid, option_name,
  option_value}`; `set_authorizer_option` takes `option_value` too -> `{errcode: 0, errmsg:
  "ok"}`. The legacy paths `api_get_authorizer_option` / `api_set_authorizer_option` answer the
  same. An authorizer_access_token works too (WxJava after #3270): the account is then the
  token's own. option_name one of OPTIONS, option_value one of its values (strings; a number is
  taken as its string): 40097 otherwise. 41002 without authorizer_appid, 61003 for an account
  that has not authorized the component.

Control (under /sandbox/), the platform's side changing the account:
* `GET /sandbox/tenants/<component appid>/<authorizer appid>/capabilities` -> the state below.
* `POST` the same `{func_info?: [ids], account_status?: 1|14|16|18|19, service_type?: int,
  verify_type?: int, push?: bool}` -> `{component_appid, authorizer_appid, func_info,
  account_status, service_type, verify_type, options, changed, push}`. A func_info that differs
  from the granted sets, with `push` true (the default), is the merchant changing the grant:
  `updateauthorized` goes to the auth URL with a new AuthorizationCode (a new authorization
  generation, as `/sandbox/push` updateauthorized: the old refresh token dies), whose
  api_query_auth gives the new func_info; `push` is that push's result. Status and type changes
  push nothing, as on the platform. 404 unknown component or account, 409 a revoked account, 400
  bad values.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from suite_server.sandbox import control_input as given
from suite_server.sandbox import events
from suite_server.sandbox import openplatform as op
from suite_server.sandbox.api_common import platform_blueprint, post_body
from suite_server.sandbox.control_input import ControlError
from suite_server.sandbox.errors import ApiError
from suite_server.sandbox.runtime import current_sandbox
from suite_server.sandbox.state import OPEN, App, SandboxState, Tenant
from suite_server.sandbox.wecom import text

bp = platform_blueprint("sandbox_capabilities_api", OPEN)
control = Blueprint("sandbox_capabilities_control", __name__, url_prefix="/sandbox")
BOTH = ["GET", "POST"]

# open-platform.md §4.6: 1 normal, 14 deregistered, 16 banned, 18 warned, 19 frozen.
ACCOUNT_STATUSES = (1, 14, 16, 18, 19)
# The platform's getAuthorizerInfo doc: an official account's service type is 0 subscription,
# 1 upgraded legacy subscription, 2 service account; a mini program's 0 ordinary, 4 mini game,
# 10 小商店 shop, 12 trial (试用). Verify types: -1 unverified, 0 WeChat-verified, 1-5 the
# official accounts' older kinds of verification.
SERVICE_TYPES = {"official_account": (0, 1, 2), "mini_program": (0, 4, 10, 12)}
VERIFY_TYPES = {"official_account": (-1, 0, 1, 2, 3, 4, 5), "mini_program": (-1, 0)}
# §4.8: each option's values (strings) and the value an account has until one is set.
OPTIONS: dict[str, tuple[str, ...]] = {
    "location_report": ("0", "1", "2"),
    "voice_recognize": ("0", "1"),
    "customer_service": ("0", "1"),
}
MAX_FUNC_ID = 999
FIELDS = ("func_info", "account_status", "service_type", "verify_type", "push")


def options(tenant: Tenant) -> dict[str, str]:
    """Every option's value for the account: as set, else "0"."""
    return {name: tenant.options.get(name, "0") for name in OPTIONS}


def public(tenant: Tenant) -> dict[str, Any]:
    return {
        "component_appid": tenant.app_id,
        "authorizer_appid": tenant.tenant_id,
        "func_info": list(tenant.func_ids),
        "account_status": tenant.account_status,
        "service_type": op.service_type(tenant),
        "verify_type": tenant.verify_type,
        "options": options(tenant),
    }


# --- the platform's option calls ------------------------------------------------------------


def _account(state: SandboxState, body: dict[str, Any]) -> Tenant:
    """The account the call is about: the body's authorizer_appid with a component token, or the
    token's own account with an authorizer token (which a different authorizer_appid cannot
    change: 40013)."""
    value = request.args.get("component_access_token") or request.args.get("access_token")
    with state.lock:
        token = state.tokens.owner_of(value) if value else None
    if token is not None and token.kind == "authorizer":
        tenant = op.authorizer_from_token(state, value)
        named = text(body, "authorizer_appid")
        if named and named != tenant.tenant_id:
            raise ApiError(40013)
        return tenant
    app = op.component_from_token(state, value, body)
    with state.lock:
        return op.authorizer(state, app, body)


def _option_name(body: dict[str, Any]) -> str:
    name = text(body, "option_name")
    if name not in OPTIONS:
        raise ApiError(40097)
    return name


@bp.route("/cgi-bin/component/get_authorizer_option", methods=BOTH)
@bp.route("/cgi-bin/component/api_get_authorizer_option", methods=BOTH)
def get_authorizer_option() -> ResponseReturnValue:
    body = post_body()
    state = current_sandbox().state
    tenant = _account(state, body)
    name = _option_name(body)
    with state.lock:
        value = options(tenant)[name]
    return jsonify(
        {"authorizer_appid": tenant.tenant_id, "option_name": name, "option_value": value}
    )


@bp.route("/cgi-bin/component/set_authorizer_option", methods=BOTH)
@bp.route("/cgi-bin/component/api_set_authorizer_option", methods=BOTH)
def set_authorizer_option() -> ResponseReturnValue:
    body = post_body()
    state = current_sandbox().state
    tenant = _account(state, body)
    name = _option_name(body)
    value = body.get("option_value")
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if value not in OPTIONS[name]:
        raise ApiError(40097)
    with state.lock:
        tenant.options[name] = value
    return jsonify(op.OK)


# --- control --------------------------------------------------------------------------------


def _tenant(component_appid: str, authorizer_appid: str) -> tuple[App, Tenant]:
    app = current_sandbox().state.app(component_appid, OPEN)
    if app is None:
        raise ControlError(404, f"unknown Open Platform component {component_appid!r}")
    return app, given.tenant(app, authorizer_appid)


def _func_info(data: dict[str, Any]) -> list[int] | None:
    value = data.get("func_info")
    if value is None:
        return None
    if not isinstance(value, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) and 0 < v <= MAX_FUNC_ID for v in value
    ):
        raise ControlError(400, f"func_info must be a list of permission set ids (1-{MAX_FUNC_ID})")
    return sorted(set(value))


def _one_of(data: dict[str, Any], name: str, allowed: tuple[int, ...], what: str) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value not in allowed:
        listed = ", ".join(str(v) for v in allowed)
        raise ControlError(400, f"{name} must be one of {listed} ({what})")
    return value


@control.get("/tenants/<component_appid>/<authorizer_appid>/capabilities")
def show(component_appid: str, authorizer_appid: str) -> ResponseReturnValue:
    state = current_sandbox().state
    _, tenant = _tenant(component_appid, authorizer_appid)
    with state.lock:
        return jsonify(public(tenant))


@control.post("/tenants/<component_appid>/<authorizer_appid>/capabilities")
def change(component_appid: str, authorizer_appid: str) -> ResponseReturnValue:
    sandbox = current_sandbox()
    state = sandbox.state
    app, tenant = _tenant(component_appid, authorizer_appid)
    data = given.body()
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise ControlError(400, f"unknown field {unknown[0]}; expected {', '.join(FIELDS)}")
    push = data.get("push", True)
    if not isinstance(push, bool):
        raise ControlError(400, "push must be true or false")
    func_ids = _func_info(data)
    kind = tenant.account_type if tenant.account_type in SERVICE_TYPES else "official_account"
    status = _one_of(data, "account_status", ACCOUNT_STATUSES, "open-platform.md §4.6")
    service = _one_of(data, "service_type", SERVICE_TYPES[kind], f"for a {kind}")
    verify = _one_of(data, "verify_type", VERIFY_TYPES[kind], f"for a {kind}")
    changed: list[str] = []
    with state.lock:
        if not tenant.active:
            raise ControlError(409, f"{authorizer_appid} has revoked its authorization")
        for name, value in (
            ("account_status", status),
            ("service_type", service),
            ("verify_type", verify),
        ):
            if value is not None and value != public(tenant)[name]:
                setattr(tenant, name, value)
                changed.append(name)
        regrant = func_ids is not None and set(func_ids) != set(tenant.func_ids)
        if regrant:
            changed.append("func_info")
            if not push:
                tenant.func_ids = func_ids
    result = None
    if regrant and push:
        # Outside the lock: our server answers the push by calling back (api_query_auth).
        result = events.push_reauthorize(state, sandbox.pusher, app, tenant, func_ids)
    with state.lock:
        return jsonify({**public(tenant), "changed": changed, "push": result})
