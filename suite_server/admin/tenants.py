"""Tenants in the admin UI: the searchable list, one tenant's page, and the actions on it.

Deactivate and reactivate (docs/tenants.md "Deactivating a tenant"):
- deactivate: the tenant becomes `cancelled` (source `admin`), exactly as if the platform had
  cancelled it: its token is dropped and no longer refreshed or served (the token API answers
  409 tenant_cancelled), and its messages are stored but not dispatched. The authorization
  upstream is untouched, and a new authorization by the corp / account makes it active again.
- reactivate (a `cancelled` or `needs_reauth` tenant that still has its credential): the stored
  credential is tried at once. If the platform gives a token, the tenant is `active` again; if
  it refuses (the corp / account really removed the app, the credential is dead), the tenant
  stays as it was and only a new authorization (the install link on the page) brings it back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session, defer

from suite_server import audit
from suite_server.admin import labels
from suite_server.admin.pages import Page, cut
from suite_server.authorization import capabilities
from suite_server.billing import ledger, licenses
from suite_server.errors import UpstreamError, ValidationError
from suite_server.gateway import errcodes
from suite_server.jobs import runner
from suite_server.models import (
    App,
    InboundEvent,
    Tenant,
    TenantHistory,
    TenantToken,
    WebhookDelivery,
)
from suite_server.tenants import lifecycle, views
from suite_server.tokens.service import (
    Served,
    TokenUnavailable,
    app_token,
    refresh_tenant_token,
)
from suite_server.upstream import api_for

PAGE_SIZE = 50
RECENT = 20


class ActionFailed(Exception):
    """An admin action could not be done; the message is shown on the page."""


# -- the list ----------------------------------------------------------------------------------


def search(
    session: Session,
    *,
    app_id: str | None = None,
    status: str | None = None,
    q: str | None = None,
    before: int | None = None,
    limit: int = PAGE_SIZE,
) -> Page:
    """Tenants newest first, keyset-paginated on id (no OFFSET: a deep page costs what the
    first does). `q` matches a tenant id prefix or a part of the name, ignoring case."""
    query = (
        select(
            Tenant.id,
            App.app_id,
            App.platform,
            App.kind.label("app_kind"),
            Tenant.tenant_id,
            Tenant.name,
            Tenant.status,
            Tenant.status_reason,
            Tenant.authorized_at,
            TenantToken.expires_at,
            TenantToken.obtained_at,
            TenantToken.last_error_at,
        )
        .join(App, App.id == Tenant.app_pk)
        .outerjoin(TenantToken, TenantToken.tenant_pk == Tenant.id)
        .order_by(Tenant.id.desc())
        .limit(limit + 1)
    )
    if app_id:
        query = query.where(App.app_id == app_id)
    if status:
        query = query.where(Tenant.status == status)
    if q:
        query = query.where(Tenant.matching(q))
    if before:
        query = query.where(Tenant.id < before)
    return cut(session.execute(query).all(), limit, lambda row: row.id)


def listing(session: Session, app_id: str | None = None) -> list[dict[str, Any]]:
    """Every tenant (of one app, or of all) in app and tenant id order, as the token API shows
    it, for `suite-server tenants list`. Never a credential."""
    query = views.columns(App.app_id).order_by(App.app_id, Tenant.tenant_id)
    if app_id:
        query = query.where(App.app_id == app_id)
    return [{"app_id": row.app_id, **views.view(row)} for row in session.execute(query)]


# -- one tenant --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TenantPage:
    app: App
    tenant: Tenant
    token: TenantToken | None
    history: list[TenantHistory]
    events: list[InboundEvent]
    deliveries: list[WebhookDelivery]
    install_url: str
    has_credential: bool
    # What the platforms answered to this tenant's calls through the gateway's proxy, failures
    # only (gateway/errcodes.py): path, errcode, count, last_at, last_errmsg.
    proxy_errcodes: list[dict[str, Any]]

    @property
    def credential(self) -> str:
        return "present" if self.has_credential else "missing"


def find(session: Session, app_id: str, tenant_id: str) -> tuple[App, Tenant] | None:
    """The app and tenant, their secrets left encrypted until an action needs one."""
    row = session.execute(
        select(App, Tenant)
        .join(Tenant, Tenant.app_pk == App.id)
        .where(App.app_id == app_id, Tenant.tenant_id == tenant_id)
        .options(
            defer(App.secret),
            defer(App.token),
            defer(App.aes_key),
            defer(App.previous_aes_key),
            defer(App.webhook_secret),
            defer(Tenant.credential),
            defer(Tenant.previous_credential),
        )
    ).first()
    return (row[0], row[1]) if row else None


def page_of(session: Session, app: App, tenant: Tenant) -> TenantPage:
    token = session.scalar(
        select(TenantToken)
        .where(TenantToken.tenant_pk == tenant.id)
        .options(defer(TenantToken.access_token))
    )
    history = session.scalars(
        select(TenantHistory)
        .where(TenantHistory.tenant_pk == tenant.id)
        .order_by(TenantHistory.at.desc(), TenantHistory.id.desc())
        .limit(100)
    ).all()
    events = session.scalars(
        select(InboundEvent)
        .where(InboundEvent.app_pk == app.id, InboundEvent.tenant_id == tenant.tenant_id)
        .order_by(InboundEvent.id.desc())
        .limit(RECENT)
    ).all()
    deliveries = session.scalars(
        select(WebhookDelivery)
        .where(WebhookDelivery.app_pk == app.id, WebhookDelivery.tenant_id == tenant.tenant_id)
        .order_by(WebhookDelivery.id.desc())
        .limit(RECENT)
    ).all()
    # IS NOT NULL in SQL: the credential is shown as present or missing, never decrypted.
    has_credential = session.scalar(
        select(Tenant.credential.is_not(None)).where(Tenant.id == tenant.id)
    )
    return TenantPage(
        app,
        tenant,
        token,
        list(history),
        list(events),
        list(deliveries),
        install_url(app),
        bool(has_credential),
        errcodes.of_tenant(session, app.id, tenant.tenant_id),
    )


def install_url(app: App) -> str:
    """The link that starts a new authorization: what a needs_reauth tenant is sent."""
    return f"{current_app.config['PUBLIC_URL']}/install/{app.app_id}"


def target(app: App, tenant: Tenant) -> str:
    return f"tenant:{app.app_id}/{tenant.tenant_id}"


# -- actions -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Refreshed:
    served: Served
    # The platform answered with the token we already had: WeCom does so while it is valid.
    same_token: bool


def refresh_token(session: Session, actor: str, app: App, tenant: Tenant) -> Refreshed:
    """Ask the platform for a token now, whatever the current one's age, and say whether it
    handed back the one we had."""
    held = session.scalar(
        select(TenantToken.access_token).where(TenantToken.tenant_pk == tenant.id)
    )
    session.commit()  # the read above must not hold a transaction open across the refresh
    try:
        served = refresh_tenant_token(session, tenant, stale_token=None)
    except TokenUnavailable as exc:
        session.rollback()
        _audit(session, actor, "tenant.refresh_token", app, tenant, error=exc.message)
        raise ActionFailed(_("No new token: %(error)s", error=exc.message)) from None
    same = held is not None and served.access_token == held
    _audit(
        session,
        actor,
        "tenant.refresh_token",
        app,
        tenant,
        expires_at=served.expires_at.isoformat(),
        same_token=same,
    )
    return Refreshed(served, same)


def reread_auth_info(session: Session, actor: str, app: App, tenant: Tenant) -> bool:
    """Ask the platform for the tenant's auth info again (WeCom get_auth_info, Open
    api_get_authorizer_info) and store it as a change_auth push would. Returns whether it
    changed; a change is written to the tenant's history (auth_changed, source admin, with what
    changed in its capabilities)."""
    api = api_for(app.platform, current_app.config)
    try:
        token = app_token(session, app, api)
        changed = capabilities.reread(session, app, tenant, api, token, "admin", by=actor)
    except ValidationError as exc:
        session.rollback()
        raise ActionFailed(str(exc)) from None
    except (UpstreamError, TokenUnavailable) as exc:
        session.rollback()
        message = exc.message if isinstance(exc, TokenUnavailable) else str(exc)
        _audit(session, actor, "tenant.reread_auth_info", app, tenant, error=message)
        raise ActionFailed(_("The platform did not answer: %(error)s", error=message)) from None
    _audit(session, actor, "tenant.reread_auth_info", app, tenant, changed=changed is not None)
    return changed is not None


def deactivate(session: Session, actor: str, app: App, tenant: Tenant, reason: str) -> None:
    if tenant.status == "cancelled":
        raise ActionFailed(_("The tenant is already cancelled."))
    previous = tenant.status
    why = f"deactivated by {actor}" + (f": {reason}" if reason else "")
    lifecycle.cancel_tenant(session, tenant, "admin", why)
    _audit(session, actor, "tenant.deactivate", app, tenant, previous=previous, reason=reason)


def reactivate(session: Session, actor: str, app: App, tenant: Tenant) -> Served:
    """Try the stored credential: active again when the platform gives a token with it, else
    back to the state it was in (ActionFailed says why)."""
    if tenant.status == "active":
        raise ActionFailed(_("The tenant is already active."))
    if not tenant.credential:
        raise ActionFailed(_("The tenant has no credential: only a new authorization helps."))
    before = lifecycle.try_reactivating(tenant)
    session.commit()
    try:
        served = refresh_tenant_token(session, tenant, stale_token=None)
    except TokenUnavailable as exc:
        session.rollback()
        lifecycle.reactivation_refused(session, tenant.id, before)
        _audit(session, actor, "tenant.reactivate", app, tenant, error=exc.message)
        session.expire(tenant)
        raise ActionFailed(
            _(
                "The platform refused the stored credential (%(error)s); the tenant stays "
                "%(status)s. Only a new authorization brings it back: %(url)s",
                error=exc.message,
                status=labels.status(before[0]),
                url=install_url(app),
            )
        ) from None
    lifecycle.reactivated(session, tenant, "admin", {"from": before[0], "by": actor})
    _audit(session, actor, "tenant.reactivate", app, tenant, previous=before[0])
    return served


def check_licenses(session: Session, actor: str, app: App, tenant: Tenant) -> bool:
    """Enqueue `licenses.sync_corp` for the tenant's corp under the app's provider: its license
    info and its members' accounts are read again in the background. Returns False when a check
    of the corp is already waiting (that one does it)."""
    if not ledger.licensed_app(app):
        _audit(session, actor, "tenant.check_licenses", app, tenant, error="no licenses")
        raise ActionFailed(_("Only WeCom suites and templates have interface licenses."))
    provider = ledger.provider_of(session, app)
    if provider is None:
        _audit(session, actor, "tenant.check_licenses", app, tenant, error="no provider")
        raise ActionFailed(
            _(
                "No provider account is registered for this app: register it (%(command)s) for "
                "its licenses to be read.",
                command="suite-server providers add",
            )
        )
    job_id = f"licenses:{provider.id}:{tenant.tenant_id}"
    queued = runner.enqueue(
        "licenses.sync_corp",
        provider.id,
        tenant.tenant_id,
        job_id=job_id,
        retries=licenses.RETRIES,
    )
    _audit(
        session,
        actor,
        "tenant.check_licenses",
        app,
        tenant,
        provider=provider.app_id,
        job_id=job_id,
        queued=queued is not None,
    )
    return queued is not None


def _audit(session: Session, actor: str, action: str, app: App, tenant: Tenant, **detail) -> None:
    audit.record(session, actor, action, target(app, tenant), detail or None)
    session.commit()
