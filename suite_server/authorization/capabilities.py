"""Reading a tenant's authorization again (isv-capabilities §13): an Open account's permission sets,
account status, service and verify types (`api_get_authorizer_info`), a WeCom corp's agents and
privileges (`get_auth_info`). A change is merged into the tenant's auth info and written to its
history as `auth_changed` with what changed (`{"changes": {...}}`, tenants/capabilities.py), which
tells the ISV `tenant.updated`.

The pushes re-read on their own (`updateauthorized` exchanges its new code, `change_auth` reads
get_auth_info: pushes.py); the slow job `capabilities.sync` (hourly, a bounded batch) re-reads each
active tenant read more than CHECK_EVERY ago, for what no push tells (a banned or frozen account);
the admin's "Re-read auth info" does it at once.
"""

from __future__ import annotations

import copy
import logging
from datetime import timedelta
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from suite_server import db
from suite_server.db import json_number, utcnow
from suite_server.errors import UpstreamError, ValidationError
from suite_server.jobs import runner
from suite_server.jobs.tasks import task
from suite_server.models import App, Tenant
from suite_server.tenants import capabilities, lifecycle
from suite_server.tokens.service import TokenUnavailable, with_app_token
from suite_server.upstream import api_for

log = logging.getLogger(__name__)

CHECK_EVERY = timedelta(days=7)
BATCH = 500
RETRIES = 5


def reread(
    session: Session, app: App, tenant: Tenant, api, token: str, source: str, **detail: Any
) -> dict[str, Any] | None:
    """Ask the platform for the tenant's authorization again and merge it; returns what changed
    in its capabilities ({} for another change, None when nothing changed). A change is written
    to the history (source `source`, with `detail`). Does not commit."""
    before = copy.deepcopy(tenant.auth_info)
    if app.platform == "wecom":
        if not tenant.credential:
            raise ValidationError(_("The tenant has no permanent code to ask with."))
        fresh = api.get_auth_info(token, tenant.tenant_id, tenant.credential)
        name = (fresh.get("auth_corp_info") or {}).get("corp_name")
    else:
        details = api.get_authorizer_info(token, app.app_id, tenant.tenant_id)
        authorizer = details.get("authorizer_info") or {}
        # authorization_info also carries the refresh token: never copied into auth_info.
        granted = (details.get("authorization_info") or {}).get("func_info")
        fresh = {"authorizer_info": authorizer}
        if granted is not None:
            fresh["func_info"] = granted
        name = authorizer.get("nick_name")
    tenant.capabilities_checked_at = utcnow()
    if not lifecycle.merge_auth_info(tenant, fresh):
        return None
    tenant.name = name or tenant.name
    changed = capabilities.changes(app.platform, before, tenant.auth_info)
    lifecycle.record(session, tenant, "auth_changed", source, {**detail, "changes": changed})
    return changed


@task("capabilities.sync", queue="low")
def sync(limit: int = BATCH) -> int:
    """Enqueue a re-read of each active tenant not read for CHECK_EVERY, at most `limit`, the
    longest unread first; returns how many."""
    session = db.session()
    due = utcnow() - CHECK_EVERY
    pks = session.scalars(
        select(Tenant.id)
        .join(App, App.id == Tenant.app_pk)
        .where(
            Tenant.status == "active",
            App.kind != "provider",
            or_(Tenant.capabilities_checked_at.is_(None), Tenant.capabilities_checked_at < due),
        )
        .order_by(Tenant.capabilities_checked_at.is_not(None), Tenant.capabilities_checked_at)
        .limit(limit)
    ).all()
    session.rollback()
    for pk in pks:
        runner.enqueue("capabilities.sync_tenant", pk, job_id=f"capabilities:{pk}", retries=RETRIES)
    return len(pks)


@task("capabilities.sync_tenant", queue="low")
def sync_tenant(tenant_pk: int) -> bool:
    """Re-read one tenant; returns whether its auth info changed. Trouble that may pass raises
    for a retry; a refusal (the account gone, the code dead) is logged and waits CHECK_EVERY."""
    session = db.session()
    tenant = session.get(Tenant, tenant_pk)
    if tenant is None or tenant.status != "active":
        return False
    app = session.get(App, tenant.app_pk)
    api = api_for(app.platform, current_app.config)
    try:
        changed = with_app_token(
            session, app, api, lambda token: reread(session, app, tenant, api, token, "sync")
        )
    except (UpstreamError, TokenUnavailable, ValidationError) as exc:
        session.rollback()
        if getattr(exc, "retryable", False) or getattr(exc, "kind", "") in ("busy", "token"):
            raise
        log.warning("tenant %s: capabilities not read: %s", tenant.tenant_id, exc)
        tenant = session.get(Tenant, tenant_pk)
        tenant.capabilities_checked_at = utcnow()
        session.commit()
        return False
    session.commit()
    return changed is not None


# -- what needs a person (the "at risk" page) ----------------------------------------------------


def accounts_at_risk(session: Session, limit: int = 100) -> list[dict[str, Any]]:
    """Active Open accounts the platform says are deregistered, banned or frozen, as last read."""
    status = json_number(session, Tenant.auth_info[("authorizer_info", "account_status")])
    rows = session.execute(
        select(
            App.app_id,
            Tenant.tenant_id,
            Tenant.name,
            status.label("account_status"),
            Tenant.capabilities_checked_at,
        )
        .join(App, App.id == Tenant.app_pk)
        .where(
            App.platform == "open",
            Tenant.status == "active",
            status.in_(capabilities.AT_RISK_STATES),
        )
        .order_by(Tenant.id.desc())
        .limit(limit)
    )
    return [
        {**row._asdict(), "account_state": capabilities.ACCOUNT_STATES[row.account_status]}
        for row in rows
    ]


def missing_sets(session: Session, limit: int = 100, scan: int = 20_000) -> list[dict[str, Any]]:
    """Active accounts of apps that name the permission sets they need (required_func_info)
    and did not grant all of them; at most `scan` tenants read per app."""
    found: list[dict[str, Any]] = []
    for app in session.scalars(
        select(App).where(App.platform == "open", App.required_func_info.is_not(None))
    ):
        needed = app.required_func_info or []
        if not needed:
            continue
        rows = session.execute(
            select(Tenant.tenant_id, Tenant.name, Tenant.auth_info["func_info"].label("func"))
            .where(Tenant.app_pk == app.id, Tenant.status == "active")
            .order_by(Tenant.id.desc())
            .limit(scan)
        )
        for row in rows:
            granted = capabilities.granted(row.func)
            missing = [n for n in sorted(set(needed)) if n not in granted]
            if missing:
                found.append(
                    {
                        "app_id": app.app_id,
                        "tenant_id": row.tenant_id,
                        "name": row.name,
                        "missing": missing,
                    }
                )
                if len(found) >= limit:
                    return found
    return found
