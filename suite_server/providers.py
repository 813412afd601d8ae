"""The ISV's WeCom provider account (服务商): registered once, linked to suites and templates by
their `provider_corpid`. It is kept as an app row of kind `provider`, so its token is kept fresh
and served by the same engine as app tokens, and its system event URL stores and dispatches
pushes like the other callback URLs (docs/providers.md)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from suite_server.apps import check_aes_key, check_id, check_secret, check_token, check_unused
from suite_server.errors import ValidationError
from suite_server.models import App, AppToken


def register_provider(
    session: Session,
    *,
    corpid: str,
    secret: str,
    token: str | None = None,
    aes_key: str | None = None,
    name: str = "",
) -> App:
    """Validate and add the provider account; the caller commits. Token and AES key are the
    system event URL's (应用管理 → 通用开发参数); without them that URL answers 404."""
    check_id("provider corpid", corpid)
    secret = check_secret(secret)
    if bool(token) != bool(aes_key):
        raise ValidationError("--token and --aes-key go together (the system event URL's)")
    if token:
        check_token(token)
        check_aes_key(aes_key or "")
    check_unused(session, corpid)
    provider = App(
        platform="wecom",
        kind="provider",
        app_id=corpid,
        name=name or corpid,
        secret=secret,
        token=token or "",
        aes_key=aes_key or "",
    )
    session.add(provider)
    return provider


def find_provider(session: Session, corpid: str | None) -> App | None:
    if not corpid:
        return None
    return session.scalar(select(App).where(App.app_id == corpid[:64], App.kind == "provider"))


def provider_of(session: Session, app: App) -> App | None:
    """The provider account a suite or template is linked to, if it is registered."""
    return find_provider(session, app.provider_corpid)


def overview(session: Session) -> list[dict[str, Any]]:
    """Each provider with its token's expiry and the apps linked to it. Never a secret."""
    linked = aliased(App)
    count = (
        select(func.count(linked.id))
        .where(linked.provider_corpid == App.app_id, linked.kind != "provider")
        .scalar_subquery()
    )
    rows = session.execute(
        select(App, AppToken.expires_at, count)
        .outerjoin(AppToken, AppToken.app_pk == App.id)
        .where(App.kind == "provider")
        .order_by(App.app_id)
    )
    return [
        {
            "corpid": provider.app_id,
            "name": provider.name,
            "system_event_url": bool(provider.token),
            "linked_apps": apps,
            "token_expires_at": expires_at.isoformat() if expires_at else None,
        }
        for provider, expires_at, apps in rows
    ]
