"""Apps in the admin UI: settings (secrets write-only), AES key rotation, the webhook, and the
exact URLs to paste into the platform's console. The WeCom provider account is kept as an app row
of kind `provider` (suite_server.providers), so it has a page here too: its system event URL,
token and linked apps instead of tickets and tenants."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from sqlalchemy import select
from sqlalchemy.orm import Session

from suite_server import apps as app_rules
from suite_server import audit, providers
from suite_server.admin.tenants import ActionFailed
from suite_server.authorization import landing as landing_rules
from suite_server.crypto.msgcrypt import generate_aes_key
from suite_server.dispatch import webhooks
from suite_server.errors import ValidationError
from suite_server.models import App, AppToken
from suite_server.tenants.views import TENANT_KINDS

# How the pages name an app's platform and kind (models.apps.KINDS) and the kind of tenant it
# makes, in the admin's language; the raw values stay in ids, classes and the API.
PLATFORMS = {"wecom": lazy_gettext("wecom"), "open": lazy_gettext("open")}
APP_KINDS = {
    "suite": lazy_gettext("third-party suite"),
    "template": lazy_gettext("customized template"),
    "provider": lazy_gettext("provider account"),
    "component": lazy_gettext("component"),
}
TENANT_KIND_LABELS = {
    "third_party": lazy_gettext("third-party"),
    "customized": lazy_gettext("customized"),
    "account": lazy_gettext("account"),
}


def platform_label(platform: str) -> str:
    return str(PLATFORMS.get(platform, platform))


def kind_label(kind: str) -> str:
    return str(APP_KINDS.get(kind, kind))


def tenant_kind_label(app_kind: str) -> str:
    """The kind of tenant an app of `app_kind` has: customized (代开发) or third-party (WeCom), or
    an Open Platform account."""
    kind = TENANT_KINDS.get(app_kind, app_kind)
    return str(TENANT_KIND_LABELS.get(kind, kind))


def app_ids(session: Session) -> list[str]:
    """For the app filters of the lists (a provider's system events are listed under it)."""
    return list(session.scalars(select(App.app_id).order_by(App.app_id)))


def find(session: Session, app_id: str) -> App | None:
    """An app or a provider account (`apps webhook` and the app page take both)."""
    return session.scalar(select(App).where(App.app_id == app_id))


def provider_accounts(session: Session) -> list[dict[str, Any]]:
    """The Apps page's "Provider accounts": providers.overview with the system event URL to
    paste into the console. Never a secret."""
    base = current_app.config["PUBLIC_URL"]
    return [
        {
            **row,
            "url": f"{base}/callback/wecom/provider/{row['corpid']}",
            "token_expires": (
                datetime.fromisoformat(row["token_expires_at"]) if row["token_expires_at"] else None
            ),
        }
        for row in providers.overview(session)
    ]


@dataclass(frozen=True)
class Links:
    """What an app page shows of the app's relations: a provider's linked apps and its token,
    or the provider account a suite or template names."""

    linked_apps: list[App]
    token: AppToken | None
    provider: App | None


def links(session: Session, app: App) -> Links:
    if app.is_provider:
        linked = session.scalars(
            select(App)
            .where(App.provider_corpid == app.app_id, App.kind != "provider")
            .order_by(App.app_id)
        ).all()
        token = session.scalar(select(AppToken).where(AppToken.app_pk == app.id))
        return Links(list(linked), token, None)
    provider = providers.provider_of(session, app) if app.platform == "wecom" else None
    return Links([], None, provider)


@dataclass(frozen=True)
class ConsoleUrl:
    label: str  # what the console calls the field
    url: str


def console_urls(app: App) -> list[ConsoleUrl]:
    """What to paste into the platform's console for this app (contract.md "Callback URLs")."""
    base = current_app.config["PUBLIC_URL"]
    host = urlsplit(base).netloc
    install = f"{base}/install/{app.app_id}"
    if app.is_provider:
        # Its own Token and key; WeCom encrypts for the provider's corpid (docs/providers.md).
        return [
            ConsoleUrl(
                _("System event URL (系统事件接收URL, 通用开发参数)"),
                f"{base}/callback/wecom/provider/{app.app_id}",
            )
        ]
    if app.is_template:
        # Installed from a QR code (get_customized_auth_url): no redirect comes back, so there is
        # no redirect domain to enter.
        callback = f"{base}/callback/wecom/{app.app_id}"
        return [
            ConsoleUrl(_("Command callback URL (指令回调URL)"), f"{callback}/command"),
            ConsoleUrl(_("Data callback URL (数据回调URL)"), f"{callback}/data"),
            ConsoleUrl(_("QR install link for corps (代开发授权链接)"), install),
        ]
    if app.platform == "wecom":
        callback = f"{base}/callback/wecom/{app.app_id}"
        return [
            ConsoleUrl(_("Command callback URL (指令回调URL)"), f"{callback}/command"),
            ConsoleUrl(_("Data callback URL (数据回调URL)"), f"{callback}/data"),
            ConsoleUrl(_("Install link for corps (安装链接)"), install),
            ConsoleUrl(_("Trusted redirect domain (可信域名)"), host),
        ]
    callback = f"{base}/callback/open/{app.app_id}"
    return [
        ConsoleUrl(_("Authorization event URL (授权事件接收URL)"), f"{callback}/auth"),
        # Entered literally: the platform puts each account's appid in place of $APPID$.
        ConsoleUrl(_("Message and event URL (消息与事件接收URL)"), f"{callback}/msg/$APPID$"),
        ConsoleUrl(_("Authorization start page domain (授权发起页域名)"), host),
        ConsoleUrl(_("Authorization link for accounts"), install),
    ]


def update_settings(
    session: Session,
    actor: str,
    app: App,
    *,
    name: str,
    landing_url: str,
    test_mode: bool,
    secret: str = "",
    token: str = "",
    aes_key: str = "",
    return_to_allowed: str | None = None,
    required_func_info: str | None = None,
) -> list[str]:
    """Save the form; empty secret, token and key fields keep the stored values. A new AES key
    typed in keeps the current one as the previous (pushes still decrypt while the console
    switches). A landing URL or an allowed return_to prefix gives the app a landing secret if it
    has none (shown once on the next page).
    Returns the names of what changed; ActionFailed for a refused value."""
    changed: list[str] = []
    try:
        landing = app_rules.check_landing_url(landing_url.strip())
        if landing:
            landing_rules.check_url(landing, _("landing URL"))
        prefixes = None
        if return_to_allowed is not None:
            prefixes = "\n".join(landing_rules.parse_allow_list(return_to_allowed)) or None
        required = None
        if required_func_info is not None:
            required = app_rules.parse_func_info(required_func_info)
        if token:
            app_rules.check_token(token.strip())
        if aes_key:
            app_rules.check_aes_key(aes_key.strip())
    except ValidationError as exc:
        raise ActionFailed(str(exc)) from None
    if app.is_provider and bool(token.strip() or app.token) != bool(aes_key.strip() or app.aes_key):
        # Either alone would leave a system event URL that refuses every push.
        raise ActionFailed(
            _("the system event URL needs both its Token and its EncodingAESKey: enter both")
        )
    detail: dict[str, Any] = {}
    fields: list[tuple[str, Any]] = [
        ("name", name.strip() or app.app_id),
        ("landing_url", landing),
        ("test_mode", test_mode),
    ]
    if prefixes is not None or return_to_allowed is not None:
        fields.append(("return_to_allowed", prefixes))
    if required_func_info is not None:
        fields.append(("required_func_info", required))
    for field, value in fields:
        if getattr(app, field) != value:
            setattr(app, field, value)
            changed.append(field)
            detail[field] = value
    if not app.is_provider and landing_rules.configure(app):
        detail["landing_secret_made"] = True
    if secret.strip():
        app.secret = secret.strip()
        changed.append("secret")
    if token.strip():
        app.token = token.strip()
        changed.append("token")
    if aes_key.strip() and aes_key.strip() != app.aes_key:
        app.previous_aes_key, app.aes_key = app.aes_key, aes_key.strip()
        changed.append("aes_key")
    if changed or detail:
        # Secrets are named in the log, never written to it.
        audit.record(
            session, actor, "app.update", f"app:{app.app_id}", {"changed": changed, **detail}
        )
    session.commit()
    return changed


def key_fingerprint(aes_key: str) -> str:
    """Names a key on a confirmation page without showing it: 64 bits of its SHA-256, which
    tell nothing of a 256-bit random key."""
    return hashlib.sha256(aes_key.encode()).hexdigest()[:16]


def rotate_aes_key(session: Session, actor: str, app: App, confirmed_key: str) -> str:
    """A new EncodingAESKey; the current one becomes the previous, so pushes encrypted with it
    still decrypt until the console has the new one. Returns the new key, to be shown once.

    `confirmed_key` is the fingerprint of the key the admin confirmed rotating away from: if
    another key is current by now (the confirmation was sent twice, or from a stale page), the
    rotation is refused. A second rotation would push out of "previous" the key the console
    still sends with, and every push would then be refused."""
    if not app.aes_key:
        # A provider registered without its system event URL's key: nothing to rotate away from.
        raise ActionFailed(
            _("Not rotated: there is no EncodingAESKey yet; set one in the settings.")
        )
    if not hmac.compare_digest(key_fingerprint(app.aes_key), confirmed_key or ""):
        raise ActionFailed(
            _(
                "Not rotated: the key was rotated since that confirmation page was shown (a "
                "second click, another tab or another admin). Paste the current key into the "
                "console before rotating again."
            )
        )
    new_key = generate_aes_key()
    app.previous_aes_key, app.aes_key = app.aes_key, new_key
    audit.record(session, actor, "app.rotate_aes_key", f"app:{app.app_id}")
    session.commit()
    return new_key


def configure_webhook(
    session: Session, actor: str, app: App, *, url: str, off: bool, rotate: bool
) -> str | None:
    """Set the webhook URL, turn it off, or rotate its secret; returns a new secret (shown once)."""
    try:
        secret = webhooks.configure_app(
            session, app, url=url.strip() or None, off=off, rotate=rotate
        )
    except ValidationError as exc:
        session.rollback()
        raise ActionFailed(str(exc)) from None
    detail = {"url": app.webhook_url, "off": off, "new_secret": secret is not None}
    audit.record(session, actor, "app.webhook", f"app:{app.app_id}", detail)
    session.commit()
    return secret


def rotate_landing_secret(session: Session, actor: str, app: App) -> None:
    """A new landing secret, shown once on the next page: assertions signed with the old one
    stop verifying at once (a leaked secret is dead)."""
    if app.is_provider:
        raise ActionFailed(_("A provider account has no installs, so no landing secret."))
    app.landing_secret = landing_rules.new_secret()
    audit.record(session, actor, "app.rotate_landing_secret", f"app:{app.app_id}")
    session.commit()
