"""Who receives webhooks and with which secret, for the CLI and the admin: the app's URL and
secret (`configure_app`), a tenant's own URL (`configure_tenant`), the URL check, and the listing
of deliveries (`overview`). The app's other receivers, each with its own secret, are in
receivers.py."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session, defer

from suite_server.errors import ValidationError
from suite_server.models import App, Tenant, WebhookDelivery, WebhookReceiver


def check_url(url: str) -> str:
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > 500:
        raise ValidationError(
            _("webhook URL must be an http:// or https:// URL of at most 500 chars")
        )
    return url


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def _not_a_receivers(session: Session, app: App, url: str) -> str:
    # Deliveries are kept and ordered per URL: one URL, one receiver and one secret.
    name = session.scalar(
        select(WebhookReceiver.name).where(
            WebhookReceiver.app_pk == app.id, WebhookReceiver.url == url
        )
    )
    if name is not None:
        raise ValidationError(
            _(
                "that URL is receiver %(receiver)s's (suite-server webhooks receivers): use "
                "another one",
                receiver=repr(name),
            )
        )
    return url


def configure_app(
    session: Session, app: App, *, url: str | None = None, off: bool = False, rotate: bool = False
) -> str | None:
    """Set the app's webhook URL (a secret is generated when it has none), turn its webhook off
    (URL and secret cleared), or rotate its secret. Returns the new secret, if one was made; the
    caller commits."""
    if off:
        if url or rotate:
            raise ValidationError(_("--off cannot be combined with --url or --rotate-secret"))
        tenants = session.scalar(
            select(func.count()).where(Tenant.app_pk == app.id, Tenant.webhook_url.is_not(None))
        )
        if tenants:
            raise ValidationError(
                _(
                    "%(count)s tenant(s) of %(app)s have their own webhook, signed with the "
                    "app's secret: turn those off first (suite-server tenants webhook APP TENANT "
                    "--off)",
                    count=tenants,
                    app=app.app_id,
                )
            )
        app.webhook_url = app.webhook_secret = None
        return None
    if url is not None:
        app.webhook_url = _not_a_receivers(session, app, check_url(url))
    if rotate or not app.webhook_secret:
        app.webhook_secret = new_secret()
        return app.webhook_secret
    return None


def configure_tenant(
    session: Session, app: App, tenant: Tenant, *, url: str | None = None, off: bool = False
) -> str | None:
    """Set or clear a tenant's own webhook URL. Its deliveries are signed with the app's secret,
    which is generated (and returned) when the app has none yet; the caller commits."""
    if off:
        tenant.webhook_url = None
        return None
    tenant.webhook_url = _not_a_receivers(session, app, check_url(url or ""))
    if not app.webhook_secret:
        app.webhook_secret = new_secret()
        return app.webhook_secret
    return None


def overview(
    session: Session,
    app_id: str | None = None,
    status: str | None = None,
    limit: int = 50,
    receiver_pk: int | None = None,
) -> list[dict[str, Any]]:
    """Deliveries, newest first, for `webhooks list` and the admin pages, with the name of the
    receiver each goes to (None: the app's or the tenant's webhook URL). Never the body."""
    query = (
        select(App.app_id, WebhookReceiver.name, WebhookDelivery)
        .join(App, App.id == WebhookDelivery.app_pk)
        .outerjoin(WebhookReceiver, WebhookReceiver.id == WebhookDelivery.receiver_pk)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit)
    )
    if app_id:
        query = query.where(App.app_id == app_id)
    if status:
        query = query.where(WebhookDelivery.status == status)
    if receiver_pk is not None:
        query = query.where(WebhookDelivery.receiver_pk == receiver_pk)
    return [
        {
            "id": delivery.id,
            "app_id": owner,
            "tenant_id": delivery.tenant_id,
            "event_id": delivery.event_pk,
            "url": delivery.url,
            "receiver": receiver,
            "status": delivery.status,
            "attempts": delivery.attempts,
            "created_at": _iso(delivery.created_at),
            "next_attempt_at": _iso(delivery.next_attempt_at),
            "delivered_at": _iso(delivery.delivered_at),
            "last_error": delivery.last_error,
        }
        # The body stays unread (and undecrypted) for a listing.
        for owner, receiver, delivery in session.execute(query.options(defer(WebhookDelivery.body)))
    ]


def _iso(value) -> str | None:
    return value.isoformat() if value else None
