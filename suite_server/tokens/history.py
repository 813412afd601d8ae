"""The history of token refreshes the admin charts and lists (models/activity.py TokenRefresh):
one row per refresh of an app token or a tenant token, written in the transaction that records
its outcome, so a refresh is in the history exactly when its outcome is in the token row.

JS-SDK tickets are refreshed by the same engine but are not tokens a tenant's calls depend on;
they are left out of the history (and of the charts). So is a tenant's first token, which
comes with its install rather than from a refresh (tenant_tokens.store_first_token)."""

from __future__ import annotations

from sqlalchemy import insert, literal, select
from sqlalchemy.orm import Session

from suite_server.db import utcnow
from suite_server.models import AppToken, Tenant, TenantToken, TokenRefresh

ERROR_LENGTH = 200
_COLUMNS = ["app_pk", "tenant_id", "at", "ok", "errcode", "error"]


def record(
    session: Session, table, row_id: int, error: str | None = None, errcode: int | None = None
) -> None:
    """Append the outcome of refreshing row `row_id` of `table` (ok when `error` is None) to the
    session's transaction: one INSERT ... SELECT that finds the row's app and tenant."""
    ok = error is None
    outcome = (
        literal(utcnow(), TokenRefresh.at.type),
        literal(ok),
        literal(None if ok else errcode, TokenRefresh.errcode.type),
        literal(None if ok else error[:ERROR_LENGTH], TokenRefresh.error.type),
    )
    if table is AppToken.__table__:
        values = select(AppToken.app_pk, literal(""), *outcome).where(AppToken.id == row_id)
    elif table is TenantToken.__table__:
        values = (
            select(Tenant.app_pk, Tenant.tenant_id, *outcome)
            .join(TenantToken, TenantToken.tenant_pk == Tenant.id)
            .where(TenantToken.id == row_id)
        )
    else:
        return  # a JS-SDK ticket
    session.execute(insert(TokenRefresh).from_select(_COLUMNS, values))
