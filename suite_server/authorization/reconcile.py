"""Reconciliation: compare our tenants with what the platform holds, to catch a missed
cancel_auth / unauthorized push and recover a refresh token the platform still has
(open-platform.md §4.7: api_get_authorizer_list is the official recovery path)."""

from __future__ import annotations

import logging

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from suite_server import db
from suite_server.errors import UpstreamError
from suite_server.jobs.tasks import task
from suite_server.models import App, Tenant
from suite_server.tenants import lifecycle
from suite_server.tokens.service import TokenUnavailable, app_token, store_first_token
from suite_server.upstream import api_for

log = logging.getLogger(__name__)
PAGE = 500  # api_get_authorizer_list's maximum count


@task("tenants.reconcile", queue="low")
def reconcile(app_id: str | None = None) -> dict[str, dict[str, int] | str]:
    """Reconcile every app (or one): the daily job and `suite-server tenants reconcile`. An app
    the platform cannot answer for is reported and skipped; the others still run. Returns, per
    app id, its counts or the error."""
    session = db.session()
    query = select(App).where(App.kind != "provider").order_by(App.id)
    if app_id is not None:
        query = query.where(App.app_id == app_id)
    results: dict[str, dict[str, int] | str] = {}
    for app in session.scalars(query).all():
        api = api_for(app.platform, current_app.config)
        try:
            token = app_token(session, app, api)
            results[app.app_id] = reconcile_app(session, app, api, token)
        except (UpstreamError, TokenUnavailable) as exc:
            session.rollback()
            log.warning("app %s not reconciled: %s", app.app_id, exc)
            results[app.app_id] = str(exc)
    return results


def reconcile_app(session: Session, app: App, api, app_token: str) -> dict[str, int]:
    """Bring the app's tenants in line with the platform; returns counts of what changed.
    Every change is written to the tenant's history with source "reconcile"."""
    if app.platform == "open":
        counts = _reconcile_open(session, app, api, app_token)
    else:
        counts = _reconcile_wecom(session, app, api, app_token)
    session.commit()
    log.info("app %s reconciled: %s", app.app_id, counts)
    return counts


def _tenants(session: Session, app: App) -> list[Tenant]:
    return list(
        session.scalars(select(Tenant).where(Tenant.app_pk == app.id, Tenant.status != "cancelled"))
    )


def _reconcile_open(session: Session, app: App, api, app_token: str) -> dict[str, int]:
    held: dict[str, str | None] = {}
    offset = 0
    while True:
        page = api.get_authorizer_list(app_token, app.app_id, offset, PAGE)
        for item in page.get("list") or []:
            held[item["authorizer_appid"]] = item.get("refresh_token") or None
        offset += PAGE
        if offset >= int(page.get("total_count") or 0):
            break
    counts = {"cancelled": 0, "recovered": 0, "added": 0}
    known = set()
    for tenant in _tenants(session, app):
        known.add(tenant.tenant_id)
        if tenant.tenant_id not in held:
            lifecycle.cancel_tenant(session, tenant, "reconcile", "not in api_get_authorizer_list")
            counts["cancelled"] += 1
        elif held[tenant.tenant_id] and held[tenant.tenant_id] != tenant.credential:
            # The platform's refresh token is the live one (ours was lost or rotated).
            lifecycle.recover_credential(session, tenant, held[tenant.tenant_id], "reconcile")
            counts["recovered"] += 1
    cancelled_here = set(
        session.scalars(
            select(Tenant.tenant_id).where(Tenant.app_pk == app.id, Tenant.status == "cancelled")
        )
    )
    for appid, refresh_token in held.items():
        if appid in known or appid in cancelled_here or not refresh_token:
            continue  # a cancelled tenant comes back only through a new authorization
        details = api.get_authorizer_info(app_token, app.app_id, appid)
        authorizer = details.get("authorizer_info") or {}
        tenant = lifecycle.upsert_tenant(
            session,
            app,
            appid,
            name=authorizer.get("nick_name", ""),
            credential=refresh_token,
            auth_info={"authorizer_info": authorizer},
            source="reconcile",
            action="recovered",
        )
        store_first_token(session, tenant, None)  # an empty row: the sweep fills it
        counts["added"] += 1
    return counts


def _reconcile_wecom(session: Session, app: App, api, app_token: str) -> dict[str, int]:
    counts = {"cancelled": 0, "updated": 0}
    for tenant in _tenants(session, app):
        if not tenant.credential:
            continue
        try:
            answer = api.get_auth_info(app_token, tenant.tenant_id, tenant.credential)
        except UpstreamError as exc:
            if exc.kind in ("credential", "revoked"):
                # 40084: the permanent code is no longer valid, the corp removed the app.
                reason = f"get_auth_info: {exc.errcode} {exc.errmsg}"
                lifecycle.cancel_tenant(session, tenant, "reconcile", reason)
                counts["cancelled"] += 1
                continue
            raise
        if lifecycle.merge_auth_info(tenant, answer):
            lifecycle.record(session, tenant, "auth_changed", "reconcile")
            counts["updated"] += 1
    return counts
