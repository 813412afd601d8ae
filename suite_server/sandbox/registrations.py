"""Open Platform fast registration (isv-capabilities.md §10): a component registers mini programs
for its merchants, as an enterprise, a person, or a beta (试用) account. The platform APIs start
a task and let the component look it up (`registration_api.py`); a control action plays the
merchant confirming (or the platform refusing) and sends the result push.

A task is `pending` from its creation until it is completed, then `succeeded` (a new mini
program, authorized to the component like an approval makes it) or `failed` (no account). Only
a pending task can be completed.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from suite_server.sandbox import authorizations as auth
from suite_server.sandbox import events, payloads
from suite_server.sandbox.errors import ApiError
from suite_server.sandbox.pushes import AUTH, wire_time
from suite_server.sandbox.runtime import Sandbox
from suite_server.sandbox.state import App, Code, SandboxState, Tenant

ENTERPRISE, PERSONAL, BETA = "enterprise", "personal", "beta"
KINDS = (ENTERPRISE, PERSONAL, BETA)
PENDING, SUCCEEDED, FAILED = "pending", "succeeded", "failed"
# What personal `action=query` answers as `status` (the sandbox's choice, docs/sandbox.md).
QUERY_STATUS = {PENDING: 0, SUCCEEDED: 1, FAILED: -1}
CODE_TYPES = (1, 2, 3)  # 统一社会信用代码, 组织机构代码, 营业执照注册号
AUTHORIZE_URL_TTL = 24 * 3600  # a personal or beta authorize_url works for 24 h
# Each kind's request fields: (name, required).
FIELDS: dict[str, tuple[tuple[str, bool], ...]] = {
    ENTERPRISE: (
        ("name", True),
        ("code", True),
        ("code_type", True),
        ("legal_persona_wechat", True),
        ("legal_persona_name", True),
        ("component_phone", False),
    ),
    PERSONAL: (("wxuser", True), ("idname", True), ("component_phone", False)),
    BETA: (("name", True), ("openid", True)),
}
ERRMSGS = {89249: "task running", 89250: "task not found"}


@dataclass
class Registration:
    """One registration task of a component."""

    reg_id: str
    app_id: str  # the component
    kind: str
    request: dict[str, Any]  # the fields sent to create it
    created_at: float
    taskid: str = ""  # personal
    unique_id: str = ""  # beta
    authorize_url: str = ""  # personal, beta
    status: str = PENDING
    status_code: int | None = None  # the pushed `status` once completed
    msg: str = ""
    appid: str = ""  # the new mini program, once succeeded
    completed_at: float | None = None
    pushes: list[int] = field(default_factory=list)  # ids of the pushes it sent

    def public(self) -> dict[str, Any]:
        return {
            "id": self.reg_id,
            "app_id": self.app_id,
            "kind": self.kind,
            "request": dict(self.request),
            "taskid": self.taskid or None,
            "unique_id": self.unique_id or None,
            "authorize_url": self.authorize_url or None,
            "authorize_url_expires_at": (
                self.created_at + AUTHORIZE_URL_TTL if self.authorize_url else None
            ),
            "status": self.status,
            "status_code": self.status_code,
            "msg": self.msg or None,
            "appid": self.appid or None,
            "created_at": self.created_at,
            "completed_at": self.completed_at,
        }


def api_error(errcode: int) -> ApiError:
    return ApiError(errcode, ERRMSGS.get(errcode))


def request_fields(kind: str, body: dict[str, Any], fields: tuple[str, ...] = ()) -> dict:
    """The kind's fields from a create (or search) body; 40097 when one is missing or wrong.
    `fields` limits the check to those names (search sends only some)."""
    found: dict[str, Any] = {}
    for name, required in FIELDS[kind]:
        if fields and name not in fields:
            continue
        value = body.get(name)
        if name == "code_type":
            if isinstance(value, str) and value.strip().isdigit():
                value = int(value)
            if isinstance(value, bool) or value not in CODE_TYPES:
                raise ApiError(40097)
            found[name] = value
            continue
        if value is None or value == "":
            if required:
                raise ApiError(40097)
            continue
        if not isinstance(value, str) or len(value) > 256:
            raise ApiError(40097)
        found[name] = value
    return found


def _new(state: SandboxState, app: App, kind: str, request: dict, url_base: str) -> Registration:
    with state.lock:
        reg = Registration(
            reg_id=f"reg{len(state.registrations) + 1:06d}",
            app_id=app.app_id,
            kind=kind,
            request=request,
            created_at=state.now(),
        )
        if kind == PERSONAL:
            reg.taskid = secrets.token_hex(16)
        elif kind == BETA:
            reg.unique_id = secrets.token_hex(16)
        if kind != ENTERPRISE:
            reg.authorize_url = f"{url_base.rstrip('/')}/sandbox/registrations/{reg.reg_id}"
        state.registrations[reg.reg_id] = reg
        return reg


def of_app(state: SandboxState, app_id: str) -> list[Registration]:
    with state.lock:
        return [r for r in state.registrations.values() if r.app_id == app_id]


def create_enterprise(state: SandboxState, app: App, body: dict[str, Any]) -> Registration:
    """`fastregisterweapp?action=create`: 89249 while a task of the same name is pending."""
    request = request_fields(ENTERPRISE, body)
    with state.lock:
        for reg in of_app(state, app.app_id):
            same = reg.kind == ENTERPRISE and reg.request["name"] == request["name"]
            if same and reg.status == PENDING:
                raise api_error(89249)
        return _new(state, app, ENTERPRISE, request, "")


def search_enterprise(state: SandboxState, app: App, body: dict[str, Any]) -> Registration:
    """`fastregisterweapp?action=search`: the newest task with that name, legal persona's
    WeChat id and name (89250 when there is none)."""
    keys = ("name", "legal_persona_wechat", "legal_persona_name")
    wanted = request_fields(ENTERPRISE, body, keys)
    with state.lock:
        for reg in reversed(of_app(state, app.app_id)):
            if reg.kind == ENTERPRISE and all(reg.request.get(k) == wanted[k] for k in keys):
                return reg
    raise api_error(89250)


def create_personal(
    state: SandboxState, app: App, body: dict[str, Any], url_base: str
) -> Registration:
    return _new(state, app, PERSONAL, request_fields(PERSONAL, body), url_base)


def query_personal(state: SandboxState, app: App, body: dict[str, Any]) -> Registration:
    taskid = body.get("taskid")
    if not isinstance(taskid, str) or not taskid:
        raise ApiError(40097)
    with state.lock:
        for reg in of_app(state, app.app_id):
            if reg.kind == PERSONAL and reg.taskid == taskid:
                return reg
    raise api_error(89250)


def create_beta(state: SandboxState, app: App, body: dict[str, Any], url_base: str) -> Registration:
    return _new(state, app, BETA, request_fields(BETA, body), url_base)


def find_pending(state: SandboxState, app: App, kind: str, keys: dict[str, str]) -> list:
    """The component's tasks of `kind` matching every given key (name, taskid, unique_id),
    pending ones first, newest first within each."""
    with state.lock:
        found = [
            r
            for r in of_app(state, app.app_id)
            if r.kind == kind
            and all(
                (r.request.get("name") if k == "name" else getattr(r, k)) == v
                for k, v in keys.items()
            )
        ]
    found.reverse()
    return sorted(found, key=lambda r: r.status != PENDING)


def _info(reg: Registration) -> list[payloads.Field]:
    names = [name for name, _ in FIELDS[reg.kind]]
    return [(name, reg.request.get(name, "")) for name in names]


def finish(
    state: SandboxState, app: App, reg: Registration, status: int, msg: str, appid: str
) -> tuple[Tenant | None, Code | None]:
    """End a pending task (call it under the state lock, with the checks that chose the task
    and the appid). Status 0 creates `appid`, a mini program authorized to the component as an
    approval makes it, and its auth code; a failure creates nothing."""
    with state.lock:
        reg.status = SUCCEEDED if status == 0 else FAILED
        reg.status_code, reg.msg = status, msg
        reg.completed_at = state.now()
        if status != 0:
            return None, None
        name = reg.request.get("name") or reg.request.get("idname") or appid
        tenant = auth.authorize(state, app, appid, name[:128], account_type="mini_program")
        reg.appid = appid
        return tenant, auth.issue_auth_code(state, app, tenant)


def push_result(
    sandbox: Sandbox, app: App, reg: Registration, tenant: Tenant | None, code: Code | None
) -> list[dict[str, Any]]:
    """Send a finished task's pushes, in order; returns the push results. Enterprise and
    personal: notify_third_fasteregister (with the auth code on success). Beta:
    notify_third_fastregisterbetaapp, then on success an ordinary `authorized`."""
    state, pusher = sandbox.state, sandbox.pusher
    status, msg = reg.status_code or 0, reg.msg
    now = wire_time()
    results = []
    if reg.kind == BETA:
        plaintext = payloads.open_fastregisterbetaapp(
            app.app_id, now, reg.appid, status, msg, reg.unique_id, reg.request["name"]
        )
        results.append(pusher.deliver(app, "notify_third_fastregisterbetaapp", AUTH, plaintext))
        if tenant is not None and code is not None:
            # As the platform does: an ordinary `authorized` for the new account follows.
            pre_auth = auth.issue_pre_auth_code(state, app)
            with state.lock:
                pre_auth.used = True
            results.append(
                events.push_install(
                    state, pusher, app, tenant, code, pre_auth.value, info_type="authorized"
                )
            )
    else:
        plaintext = payloads.open_fasteregister(
            app.app_id,
            now,
            reg.appid,
            status,
            code.value if code else "",
            msg,
            _info(reg),
            taskid=reg.taskid or None,
        )
        result = pusher.deliver(app, "notify_third_fasteregister", AUTH, plaintext, tenant)
        results.append({**result, "auth_code": code.value if code else None})
    with state.lock:
        reg.pushes.extend(r["id"] for r in results)
    return results
