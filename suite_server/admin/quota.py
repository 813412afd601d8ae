"""An Open Platform tenant's API quota page in the admin: its quota for a path, a reset of the
day's quota (counted against the month's budget), and the request behind an error's rid; each
audited (gateway/quota.py asks the platform)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _
from sqlalchemy.orm import Session

from suite_server import audit
from suite_server.admin.tenants import ActionFailed, target
from suite_server.errors import UpstreamError, ValidationError
from suite_server.gateway import errcodes, quota
from suite_server.models import App, Tenant
from suite_server.tokens.service import TokenUnavailable


@dataclass
class QuotaPage:
    clears_left: int
    over_quota: list[dict[str, Any]]  # the tenant's 45009 rows through the proxy
    quota: dict[str, Any] | None = None
    request: dict[str, Any] | None = None
    errors: list[str] = field(default_factory=list)


def page_of(
    session: Session, actor: str, app: App, tenant: Tenant, cgi_path: str, rid: str
) -> QuotaPage:
    """The page, with the quota of `cgi_path` and the request of `rid` when asked for."""
    page = QuotaPage(
        clears_left=quota.clears_left(session, app, tenant),
        over_quota=[
            row
            for row in errcodes.of_tenant(session, app.id, tenant.tenant_id)
            if row["errcode"] == quota.OVER_QUOTA
        ],
    )
    if cgi_path:
        page.quota = _ask(
            page,
            session,
            actor,
            "tenant.quota_get",
            app,
            tenant,
            {"cgi_path": cgi_path},
            lambda: quota.quota(session, app, tenant, cgi_path),
        )
    if rid:
        page.request = _ask(
            page,
            session,
            actor,
            "tenant.rid_get",
            app,
            tenant,
            {"rid": rid},
            lambda: quota.request_of(session, app, tenant, rid),
        )
    return page


def clear(session: Session, actor: str, app: App, tenant: Tenant) -> str:
    """Reset the tenant's quota of the day; returns how ("token" or "secret")."""
    try:
        via = quota.clear(session, app, tenant, actor)
    except (ValidationError, UpstreamError, TokenUnavailable) as exc:
        session.rollback()
        message = _message(exc)
        _audit(session, actor, "tenant.clear_quota", app, tenant, error=message)
        raise ActionFailed(_("Not reset: %(error)s", error=message)) from None
    _audit(session, actor, "tenant.clear_quota", app, tenant, via=via)
    return via


def _ask(page, session, actor, action, app, tenant, detail, call):
    try:
        answer = call()
    except (ValidationError, UpstreamError, TokenUnavailable) as exc:
        session.rollback()
        page.errors.append(_message(exc))
        _audit(session, actor, action, app, tenant, **detail, error=_message(exc))
        return None
    _audit(session, actor, action, app, tenant, **detail)
    return answer


def _message(exc: Exception) -> str:
    if isinstance(exc, TokenUnavailable):
        return exc.message
    if isinstance(exc, UpstreamError):
        return _(
            "the platform answered %(errcode)s: %(errmsg)s", errcode=exc.errcode, errmsg=exc.errmsg
        )
    return str(exc)


def _audit(session: Session, actor: str, action: str, app: App, tenant: Tenant, **detail) -> None:
    audit.record(session, actor, action, target(app, tenant), detail or None)
    session.commit()
