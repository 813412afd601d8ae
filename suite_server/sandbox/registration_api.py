"""Open Platform fast registration (isv-capabilities.md §10; rules in `registrations.py`): the
platform APIs and the control actions.

Platform (api.weixin.qq.com), component token as `component_access_token=` or `access_token=`,
each POST only (43002):
* `cgi-bin/component/fastregisterweapp?action=create` `{name, code, code_type (1-3),
  legal_persona_wechat, legal_persona_name, component_phone?}` -> `{errcode: 0, errmsg: "ok"}`;
  89249 while a task of that name is pending; 40097 for a missing or wrong field.
  `action=search` `{name, legal_persona_wechat, legal_persona_name}` -> `{errcode: 0, errmsg}`
  for a known task (pending, done or failed), 89250 otherwise.
* `wxa/component/fastregisterpersonalweapp?action=create` `{idname, wxuser, component_phone?}` ->
  `{errcode: 0, errmsg, taskid, authorize_url, status_msg}`; `action=query` `{taskid}` ->
  `{errcode: 0, errmsg, taskid, status (0 pending, 1 done, -1 failed), status_msg}`, 89250 for
  an unknown taskid.
* `wxa/component/fastregisterbetaweapp` `{name, openid}` -> `{errcode: 0, errmsg, unique_id,
  authorize_url}`.
An unknown or missing `action` is 40097.

Control (under /sandbox/registrations, JSON, 4xx with {"error"}):
* `GET ?app_id=` -> `{registrations: [...]}` (Registration.public), oldest first.
* `GET /<id>` -> `{registration}` (what a personal or beta authorize_url opens).
* `POST /complete {app_id, kind, name?, taskid?, unique_id?, status?, msg?, appid?}` ->
  `{registration, pushes}`.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from suite_server.sandbox import approvals
from suite_server.sandbox import control_input as given
from suite_server.sandbox import openplatform as op
from suite_server.sandbox import registrations as regs
from suite_server.sandbox.api_common import platform_blueprint, post_body
from suite_server.sandbox.authorizations import new_tenant_id
from suite_server.sandbox.control_input import ControlError
from suite_server.sandbox.errors import ApiError
from suite_server.sandbox.runtime import current_sandbox
from suite_server.sandbox.state import OPEN, App, SandboxState

bp = platform_blueprint("sandbox_registration_api", OPEN)
# Named sandbox_control_… so quota/get does not take its paths for platform APIs.
control = Blueprint("sandbox_control_registrations", __name__, url_prefix="/sandbox/registrations")
BOTH = ["GET", "POST"]
STATUS_RANGE = (-1_000_000, 1_000_000)


def _state() -> SandboxState:
    return current_sandbox().state


def _component(body: dict[str, Any]) -> App:
    value = request.args.get("component_access_token") or request.args.get("access_token")
    return op.component_from_token(_state(), value, body)


def _ok(**extra: Any) -> dict[str, Any]:
    return {"errcode": 0, "errmsg": "ok", **extra}


@bp.route("/cgi-bin/component/fastregisterweapp", methods=BOTH)
def fastregisterweapp() -> ResponseReturnValue:
    body = post_body()
    app = _component(body)
    action = request.args.get("action")
    if action == "create":
        regs.create_enterprise(_state(), app, body)
    elif action == "search":
        regs.search_enterprise(_state(), app, body)
    else:
        raise ApiError(40097)
    return jsonify(_ok())


@bp.route("/wxa/component/fastregisterpersonalweapp", methods=BOTH)
def fastregisterpersonalweapp() -> ResponseReturnValue:
    body = post_body()
    app = _component(body)
    action = request.args.get("action")
    if action == "create":
        reg = regs.create_personal(_state(), app, body, request.host_url)
        return jsonify(
            _ok(taskid=reg.taskid, authorize_url=reg.authorize_url, status_msg=regs.PENDING)
        )
    if action == "query":
        reg = regs.query_personal(_state(), app, body)
        with _state().lock:
            status_msg = reg.msg if reg.status == regs.FAILED else reg.status
            return jsonify(
                _ok(taskid=reg.taskid, status=regs.QUERY_STATUS[reg.status], status_msg=status_msg)
            )
    raise ApiError(40097)


@bp.route("/wxa/component/fastregisterbetaweapp", methods=BOTH)
def fastregisterbetaweapp() -> ResponseReturnValue:
    body = post_body()
    app = _component(body)
    reg = regs.create_beta(_state(), app, body, request.host_url)
    return jsonify(_ok(unique_id=reg.unique_id, authorize_url=reg.authorize_url))


# --- control ------------------------------------------------------------------------------------


def _open_app(app_id: str) -> App:
    if not app_id:
        raise ControlError(400, "app_id is required")
    app = given.app(app_id)
    if app.platform != OPEN:
        raise ControlError(400, "registrations are for Open Platform components")
    return app


@control.get("")
def list_registrations() -> ResponseReturnValue:
    app = _open_app(request.args.get("app_id", ""))
    state = _state()
    with state.lock:
        found = [r.public() for r in regs.of_app(state, app.app_id)]
    return jsonify({"registrations": found})


@control.get("/<reg_id>")
def show(reg_id: str) -> ResponseReturnValue:
    state = _state()
    with state.lock:
        reg = state.registrations.get(reg_id)
        if reg is None:
            raise ControlError(404, f"no registration {reg_id!r}")
        return jsonify({"registration": reg.public()})


def _task(app: App, kind: str, data: dict[str, Any]) -> regs.Registration:
    """The pending task the body names: enterprise by name, personal by taskid, beta by
    unique_id or name."""
    keys = {k: given.text(data, k) for k in ("name", "taskid", "unique_id")}
    wanted = {
        regs.ENTERPRISE: ("name",),
        regs.PERSONAL: ("taskid",),
        regs.BETA: ("unique_id", "name"),
    }[kind]
    keys = {k: v for k, v in keys.items() if v and k in wanted}
    if not keys:
        raise ControlError(400, f"a {kind} registration is named by {' or '.join(wanted)}")
    found = regs.find_pending(_state(), app, kind, keys)
    if not found:
        named = ", ".join(f"{k} {v!r}" for k, v in keys.items())
        raise ControlError(404, f"{app.app_id} has no {kind} registration with {named}")
    pending = [r for r in found if r.status == regs.PENDING]
    if not pending:
        raise ControlError(409, f"registration {found[0].reg_id} is {found[0].status} already")
    if len(pending) > 1:
        raise ControlError(409, "several pending registrations match: give unique_id")
    return pending[0]


def _new_appid(app: App, data: dict[str, Any], status: int) -> str:
    appid = given.text(data, "appid")
    if status != 0:
        if appid:
            raise ControlError(400, "appid is for status 0 only: a failure creates no account")
        return ""
    if not appid:
        return new_tenant_id(OPEN)
    if not approvals.TENANT_ID.fullmatch(appid):
        raise ControlError(400, "appid must be 1-64 letters, digits or _.@-")
    state = _state()
    with state.lock:
        taken = state.app(appid) is not None or any(
            t.tenant_id == appid for t in state.tenants.values()
        )
    if taken:
        raise ControlError(409, f"{appid} exists already")
    return appid


@control.post("/complete")
def complete() -> ResponseReturnValue:
    sandbox = current_sandbox()
    data = given.body()
    app = _open_app(given.text(data, "app_id", required=True))
    kind = given.text(data, "kind", required=True)
    if kind not in regs.KINDS:
        raise ControlError(400, f"kind must be one of {', '.join(regs.KINDS)}")
    status = given.whole_number(data, "status", *STATUS_RANGE)
    status = 0 if status is None else status
    msg = given.text(data, "msg")
    if len(msg) > 256:
        raise ControlError(400, "msg must be at most 256 characters")
    msg = msg or ("OK" if status == 0 else "registration failed")
    with sandbox.state.lock:
        reg = _task(app, kind, data)
        appid = _new_appid(app, data, status)
        if reg.authorize_url and sandbox.state.now() >= reg.created_at + regs.AUTHORIZE_URL_TTL:
            raise ControlError(409, "its authorize_url has expired (24 h)")
        # Under the lock with the checks: two completions cannot both take the task or the appid.
        tenant, code = regs.finish(sandbox.state, app, reg, status, msg, appid)
    pushes = regs.push_result(sandbox, app, reg, tenant, code)
    return jsonify({"registration": reg.public(), "pushes": pushes})
