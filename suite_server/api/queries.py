"""What the token API reads: the app or tenant a request names, and tenants as JSON-ready dicts,
a keyset page at a time. Never a credential, only whether there is one."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, inspect, select
from sqlalchemy.orm import Session, load_only, make_transient_to_detached

from suite_server.models import App, Tenant, TenantToken
from suite_server.tenants import views
from suite_server.tokens.service import TokenRow, token_columns
from suite_server.whole_numbers import MAX_SMALL_ID, whole_number

PAGE_SIZE, MAX_PAGE = 100, 500

# The app, tenant and token row a token request names, in one plain query of the columns the
# token service reads. ORM-loading the rows instead costs as much as the rest of a served request
# together (bench/tokens.py), and would decrypt the app's secrets and the tenant's credential for
# nothing; reading the token row here saves the service's own first query.
_apps, _tenants, _tokens = App.__table__, Tenant.__table__, TenantToken.__table__
_TENANT_FOR_TOKEN = (
    select(
        _tenants.c.id,
        _tenants.c.app_pk,
        _tenants.c.tenant_id,
        _tenants.c.status,
        _tenants.c.status_reason,
        _apps.c.platform,
        _apps.c.kind,
        *(column.label(f"token_{column.name}") for column in token_columns(_tokens)),
    )
    .join(_apps, _apps.c.id == _tenants.c.app_pk)
    .outerjoin(_tokens, _tokens.c.tenant_pk == _tenants.c.id)
    .where(
        _apps.c.app_id == bindparam("app_id"),
        _apps.c.kind != "provider",
        _tenants.c.tenant_id == bindparam("tenant_id"),
    )
)
_TOKEN_FIELDS = [f"token_{column.name}" for column in token_columns(_tokens)]
_APP_COLUMNS = load_only(App.id, App.platform, App.kind, App.app_id)


def find_app(session: Session, app_id: str, kind: str | None = None) -> App | None:
    """The app (a provider account only when asked for by `kind="provider"`), its encrypted
    columns left unloaded until a refresh needs its secret."""
    which = App.kind != "provider" if kind is None else App.kind == kind
    return session.scalar(select(App).where(App.app_id == app_id, which).options(_APP_COLUMNS))


def find_tenant(
    session: Session, app_id: str, tenant_id: str
) -> tuple[Tenant, App, TokenRow | None] | None:
    """The tenant and its app as session objects holding only what serving a token reads; any
    other attribute (the app's secret, for a refresh) loads when first used, as if expired. And
    the tenant's token row as read now (None before its first token), for serve_tenant_token.

    Keep the app referenced while the token service runs: the session holds it weakly, and the
    service's `session.get(App)` is then answered from the session instead of by a query."""
    row = session.execute(_TENANT_FOR_TOKEN, {"app_id": app_id, "tenant_id": tenant_id}).first()
    if row is None:
        return None
    tenant = _attach(
        session,
        Tenant(
            id=row.id,
            app_pk=row.app_pk,
            tenant_id=row.tenant_id,
            status=row.status,
            status_reason=row.status_reason,
        ),
    )
    app = _attach(session, App(id=row.app_pk, app_id=app_id, platform=row.platform, kind=row.kind))
    token = row._mapping
    known = TokenRow(*(token[name] for name in _TOKEN_FIELDS)) if token["token_id"] else None
    return tenant, app, known


def _attach(session: Session, instance):
    """`instance` (built with its primary key) as a persistent object of `session` without a
    query: the session's own if it already has one, else this one, its unset columns expired."""
    mapper = inspect(type(instance))
    loaded = session.identity_map.get(mapper.identity_key_from_instance(instance))
    if loaded is not None:
        return loaded
    make_transient_to_detached(instance)
    session.add(instance)
    return instance


@dataclass(frozen=True)
class Page:
    tenants: list[dict[str, Any]]
    next_cursor: str | None


def tenant_page(
    session: Session,
    app: App,
    *,
    status: str | None = None,
    q: str | None = None,
    cursor: str | None = None,
    limit: int = PAGE_SIZE,
) -> Page:
    """Tenants of `app` in id order after `cursor` (keyset: stable while tenants come and go).
    `q` matches a tenant id prefix or a name substring, ignoring case on both databases.
    Raises ValueError for a cursor that is not one of ours."""
    query = views.columns().where(Tenant.app_pk == app.id)
    if status:
        query = query.where(Tenant.status == status)
    if q:
        query = query.where(Tenant.matching(q))
    if cursor:
        query = query.where(Tenant.id > decode_cursor(cursor))
    rows = session.execute(query.order_by(Tenant.id).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(
        [views.view(row) for row in rows], encode_cursor(rows[-1].id) if more and rows else None
    )


def tenant_detail(session: Session, app: App, tenant_id: str) -> dict[str, Any] | None:
    """One tenant as in a page, plus what the platform told us at authorization (auth_info
    holds the corp / account details, never the permanent code or a token)."""
    row = session.execute(
        views.columns(Tenant.auth_info).where(
            Tenant.app_pk == app.id, Tenant.tenant_id == tenant_id
        )
    ).first()
    if row is None:
        return None
    return {**views.view(row), "auth_info": row.auth_info}


# The cursor is opaque to clients: the last id of the page, base64url without padding.
def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(str(last_id).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        last_id = whole_number(text, "cursor", minimum=1, maximum=MAX_SMALL_ID)
    except (binascii.Error, UnicodeError, ValueError):  # BadNumber is a ValueError
        last_id = None
    if last_id is None:  # not a number, or nothing at all
        raise ValueError("cursor is not one this API gave out")
    return last_id
