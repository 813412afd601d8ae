"""Mini programs registered for merchants through the component (快速注册, isv-capabilities §10).

- `start`: the ISV starts an enterprise, personal or beta (试用) registration through the API; the
  request goes to the platform with the component token and is kept as a `pending` row.
- `process`: the outcome is pushed to the component's auth URL. `notify_third_fasteregister`
  with status 0 carries an `auth_code`, exchanged into a tenant exactly as an authorization's code
  is (once: an `authorized` push with the same code finds the tenant made); another status keeps
  the platform's message. `notify_third_fastregisterbetaapp` names the beta account by the
  request's `unique_id`; its `authorized` push follows and makes the tenant. Each outcome is told
  once as `registration.succeeded` or `registration.failed`.

A push is tied to its request by what both carry (`match_key`): an enterprise's name, code and
legal persona's WeChat; a personal one's WeChat and ID name; a beta one's unique_id. A push no
request here matches (started elsewhere) gets a row of its own.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from suite_server.authorization import flow
from suite_server.authorization.context import InstallContext, check_ref
from suite_server.db import iso, utcnow
from suite_server.errors import ValidationError
from suite_server.models import App, InboundEvent, Registration
from suite_server.models.registrations import KINDS
from suite_server.protocol import xml
from suite_server.tenants import events

# kind -> (required fields, optional fields) of the platform's create call.
FIELDS = {
    "enterprise": (
        ("name", "code", "code_type", "legal_persona_wechat", "legal_persona_name"),
        ("component_phone",),
    ),
    "personal": (("idname", "wxuser"), ("component_phone",)),
    "beta": (("name", "openid"), ()),
}
CODE_TYPES = (1, 2, 3)  # 统一社会信用代码, 组织机构代码, 营业执照注册号
PUSHES = ("notify_third_fasteregister", "notify_third_fastregisterbetaapp")
MAX_FIELD = 128


def check(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    """The create call's fields from the ISV's request; ValidationError with one line."""
    if kind not in KINDS:
        raise ValidationError(f"kind must be one of {', '.join(KINDS)}")
    required, optional = FIELDS[kind]
    unknown = sorted(set(body) - set(required) - set(optional))
    if unknown:
        raise ValidationError(f"unknown field {unknown[0][:40]!r} for a {kind} registration")
    fields: dict[str, Any] = {}
    for name in required + optional:
        value = body.get(name)
        if value is None and name in optional:
            continue
        if name == "code_type":
            if type(value) is not int or value not in CODE_TYPES:
                raise ValidationError("code_type must be 1, 2 or 3")
        elif not isinstance(value, str) or not value.strip() or len(value) > MAX_FIELD:
            raise ValidationError(f"{name} must be a text of 1 to {MAX_FIELD} characters")
        fields[name] = value.strip() if isinstance(value, str) else value
    return fields


def match_key(kind: str, values: dict[str, Any]) -> str:
    if kind == "enterprise":
        parts = (values.get("name"), values.get("code"), values.get("legal_persona_wechat"))
    elif kind == "personal":
        parts = (values.get("wxuser"), values.get("idname"))
    else:
        parts = (values.get("unique_id"),)
    return f"{kind}:" + "|".join(str(part or "") for part in parts)[:240]


def start(
    session: Session, app: App, kind: str, body: dict[str, Any], ref: str | None, api, token: str
) -> Registration:
    """Ask the platform to start a registration and keep it as pending. ValidationError for bad
    fields; UpstreamError when the platform refuses (89249: one of that name is running)."""
    if app.platform != "open":
        raise ValidationError("registrations are the Open Platform's: this app is not a component")
    fields = check(kind, body)
    ref = check_ref(ref)
    answer = api.fastregister(token, kind, fields)
    row = Registration(
        app_pk=app.id,
        kind=kind,
        status="pending",
        name=str(fields.get("name") or fields.get("idname") or "")[:200],
        ref=ref,
        request=fields,
        taskid=_text(answer.get("taskid")),
        unique_id=_text(answer.get("unique_id")),
        authorize_url=_text(answer.get("authorize_url")),
    )
    row.match_key = match_key(kind, {**fields, "unique_id": row.unique_id})
    session.add(row)
    session.commit()
    return row


def process(session: Session, app: App, event: InboundEvent, api, app_token: str) -> str:
    """Act on one stored registration push; returns the event's outcome. The code's exchange
    commits the tenant (flow.exchange_code, once per code); the rest is left for the caller's
    commit. Raises UpstreamError / InstallError like an authorization push."""
    fields = xml.parse(event.payload)
    info = next(iter(xml.items(event.payload, "info")), {})
    kind = _kind_of(event.kind, info)
    status, appid = fields.get("status", "").strip(), fields.get("appid", "").strip()
    values = {**info, "unique_id": info.get("unique_id")}
    row = _find_or_add(session, app, kind, match_key(kind, values), info, fields, status, appid)
    if row.status != "pending":
        return "done"  # told already (the push came twice)
    tenant = None
    if status == "0" and kind != "beta" and fields.get("auth_code"):
        context = InstallContext(ref=row.ref, ref_from="link") if row.ref else None
        tenant = flow.exchange_code(
            session, app, fields["auth_code"], api, app_token, source="push", context=context
        )
        session.refresh(row)
    row.status = _outcome(status)
    row.appid = appid or (tenant.tenant_id if tenant is not None else row.appid)
    row.message = fields.get("msg") or None
    row.completed_at = utcnow()
    if kind == "personal" and fields.get("taskid"):
        row.taskid = row.taskid or fields["taskid"][:100]
    kind_told = "registration.succeeded" if row.status == "succeeded" else "registration.failed"
    events.emit_kind(session, app.id, row.appid or "", kind_told, {"registration": as_json(row)})
    return "done"


def _kind_of(push: str, info: dict[str, str]) -> str:
    if push == "notify_third_fastregisterbetaapp":
        return "beta"
    return "personal" if ("wxuser" in info or "idname" in info) else "enterprise"


def _outcome(status: str) -> str:
    return "succeeded" if status == "0" else "failed"


def _find_or_add(
    session: Session,
    app: App,
    kind: str,
    key: str,
    info: dict[str, str],
    fields: dict[str, str],
    status: str,
    appid: str,
) -> Registration:
    """The pending request with this key; else the one this push already ended (the platform
    sent it twice); else a new row, for a registration started elsewhere."""
    rows = session.scalars(
        select(Registration)
        .where(Registration.app_pk == app.id, Registration.match_key == key)
        .order_by(Registration.id.desc())
    ).all()
    for row in rows:
        if row.status == "pending":
            return row
    for row in rows:
        if row.status == _outcome(status) and row.appid == (appid or None):
            return row
    row = Registration(
        app_pk=app.id,
        kind=kind,
        status="pending",
        match_key=key,
        name=str(info.get("name") or info.get("idname") or "")[:200],
        request=dict(info),
        taskid=_text(fields.get("taskid")),
        unique_id=_text(info.get("unique_id")),
    )
    session.add(row)
    session.flush()
    return row


def recent(session: Session, app_pk: int, limit: int = 20, status: str | None = None) -> list:
    query = select(Registration).where(Registration.app_pk == app_pk)
    if status is not None:
        query = query.where(Registration.status == status)
    return list(session.scalars(query.order_by(Registration.id.desc()).limit(limit)))


def as_json(row: Registration) -> dict[str, Any]:
    """A registration as the API, events and the admin show it."""
    return {
        "id": row.id,
        "kind": row.kind,
        "status": row.status,
        "name": row.name,
        "ref": row.ref,
        "request": row.request,
        "taskid": row.taskid,
        "unique_id": row.unique_id,
        "authorize_url": row.authorize_url,
        "appid": row.appid,
        "message": row.message,
        "created_at": iso(row.created_at),
        "completed_at": iso(row.completed_at),
    }


def _text(value: Any) -> str | None:
    return str(value)[:2000] if value not in (None, "") else None
