"""Reconciliation: compare our tenants with what the platform holds, to catch a missed
cancel_auth / unauthorized push and recover a refresh token the platform still has
(open-platform.md §4.7: api_get_authorizer_list is the official recovery path)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import current_app
from sqlalchemy import func, select
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

OnProgress = Callable[[int, int | None], None]


class Tally:
    """The tenants looked at so far out of all the apps' (for a progress bar: the CLI's). The
    total is known up front, but for the tenants an Open app turns out to have lost: those are
    added to it when the platform's list shows them."""

    def __init__(self, total: int, on_progress: OnProgress | None) -> None:
        self.done, self.total, self.on_progress = 0, total, on_progress

    def step(self, count: int = 1) -> None:
        self.done += count
        if self.on_progress is not None:
            self.on_progress(self.done, self.total)

    def more(self, count: int) -> None:
        self.total += count


@task("tenants.reconcile", queue="low")
def reconcile(
    app_id: str | None = None, on_progress: OnProgress | None = None
) -> dict[str, dict[str, int] | str]:
    """Reconcile every app (or one): the daily job and `suite-server tenants reconcile`. An app
    the platform cannot answer for is reported and skipped; the others still run. Returns, per
    app id, its counts or the error. `on_progress(done, total)` is called after each tenant."""
    session = db.session()
    query = select(App).where(App.kind != "provider").order_by(App.id)
    if app_id is not None:
        query = query.where(App.app_id == app_id)
    apps = session.scalars(query).all()
    sizes = dict(
        session.execute(
            select(Tenant.app_pk, func.count())
            .where(Tenant.app_pk.in_([a.id for a in apps]), Tenant.status != "cancelled")
            .group_by(Tenant.app_pk)
        ).all()
    )
    tally = Tally(sum(sizes.values()), on_progress)
    results: dict[str, dict[str, int] | str] = {}
    for app in apps:
        api = api_for(app.platform, current_app.config)
        before, total = tally.done, tally.total
        try:
            token = app_token(session, app, api)
            results[app.app_id] = reconcile_app(session, app, api, token, tally)
        except (UpstreamError, TokenUnavailable) as exc:
            session.rollback()
            log.warning("app %s not reconciled: %s", app.app_id, exc)
            results[app.app_id] = str(exc)
            # The app's tenants not looked at count as done: skipped with it.
            tally.step(before + sizes.get(app.id, 0) + tally.total - total - tally.done)
    return results


def reconcile_app(
    session: Session, app: App, api, app_token: str, tally: Tally | None = None
) -> dict[str, int]:
    """Bring the app's tenants in line with the platform; returns counts of what changed.
    Every change is written to the tenant's history with source "reconcile"."""
    tally = tally or Tally(0, None)
    if app.platform == "open":
        counts = _reconcile_open(session, app, api, app_token, tally)
    else:
        counts = _reconcile_wecom(session, app, api, app_token, tally)
    session.commit()
    log.info("app %s reconciled: %s", app.app_id, counts)
    return counts


def _tenants(session: Session, app: App) -> list[Tenant]:
    return list(
        session.scalars(select(Tenant).where(Tenant.app_pk == app.id, Tenant.status != "cancelled"))
    )


def _reconcile_open(
    session: Session, app: App, api, app_token: str, tally: Tally
) -> dict[str, int]:
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
        tally.step()
    cancelled_here = set(
        session.scalars(
            select(Tenant.tenant_id).where(Tenant.app_pk == app.id, Tenant.status == "cancelled")
        )
    )
    lost = [
        (appid, refresh_token)
        for appid, refresh_token in held.items()
        # a cancelled tenant comes back only through a new authorization
        if appid not in known and appid not in cancelled_here and refresh_token
    ]
    tally.more(len(lost))
    for appid, refresh_token in lost:
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
        tally.step()
    return counts


def _reconcile_wecom(
    session: Session, app: App, api, app_token: str, tally: Tally
) -> dict[str, int]:
    counts = {"cancelled": 0, "updated": 0}
    for tenant in _tenants(session, app):
        if tenant.credential:
            change = _check_wecom(session, tenant, api, app_token)
            if change:
                counts[change] += 1
        tally.step()
    return counts


def _check_wecom(session: Session, tenant: Tenant, api, app_token: str) -> str | None:
    """One tenant against get_auth_info: "cancelled", "updated" or None (nothing changed)."""
    try:
        answer = api.get_auth_info(app_token, tenant.tenant_id, tenant.credential)
    except UpstreamError as exc:
        if exc.kind in ("credential", "revoked"):
            # 40084: the permanent code is no longer valid, the corp removed the app.
            reason = f"get_auth_info: {exc.errcode} {exc.errmsg}"
            lifecycle.cancel_tenant(session, tenant, "reconcile", reason)
            return "cancelled"
        raise
    if lifecycle.merge_auth_info(tenant, answer):
        lifecycle.record(session, tenant, "auth_changed", "reconcile")
        return "updated"
    return None
