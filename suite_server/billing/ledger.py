"""Interface licenses as the admin reads them (licenses.py writes them): license orders per
provider, per app (those of the corps that are the app's tenants) and per corp, the members of a
corp holding an account, and a tenant's calls the platform refused for a license (its
`proxy_errcodes` rows of the 701xxx family). Every list is bounded and newest first; nothing here
writes or calls a platform.

License orders and accounts belong to the provider account (licenses are bought by the provider
for a corp, whichever of its apps the corp installed), so an app reaches them through its
provider: `App.provider_corpid` names the provider row (kind `provider`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from suite_server import providers
from suite_server.models import (
    App,
    LicenseAccount,
    LicenseOrder,
    ProxyErrcode,
    Tenant,
    TenantLicense,
)
from suite_server.tenants import views

LIMIT = 50  # rows a list shows
# license/get_order's order_status and order_type (isv-capabilities §4).
ORDER_STATUSES = {
    0: "unpaid",
    1: "paid",
    2: "cancelled",
    3: "expired unpaid",
    4: "refund requested",
    5: "refunded",
    6: "refund refused",
}
ORDER_TYPES = {1: "buy", 2: "renew"}
ACCOUNT_TYPES = {1: "basic", 2: "interop"}
# The errcodes of the license family: a call refused for a license (701016: the member has no
# active license account, after the corp's trial).
LICENSE_ERRCODES = range(701000, 702000)
NO_ACCOUNT = 701016


def status_name(value: int | None) -> str:
    """A license order's status by name: "paid", "refunded", ..."""
    return ORDER_STATUSES.get(value, str(value)) if value is not None else "-"


def type_name(value: int | None) -> str:
    return ORDER_TYPES.get(value, str(value)) if value is not None else "-"


def account_type_name(value: int | None) -> str:
    return ACCOUNT_TYPES.get(value, str(value)) if value is not None else "-"


def licensed_app(app: App) -> bool:
    """Whether the app's tenants need interface licenses: WeCom suites and templates."""
    return app.platform == "wecom" and app.kind in ("suite", "template")


def provider_of(session: Session, app: App) -> App | None:
    """The registered provider row of a suite or template, or the app itself if it is one."""
    if app.kind == "provider":
        return app
    return providers.find_provider(session, app.provider_corpid)


def _newest_first(query):
    # An order read back without a create_time sorts by when we stored it.
    return query.order_by(
        func.coalesce(LicenseOrder.create_time, LicenseOrder.created_at).desc(),
        LicenseOrder.id.desc(),
    )


def orders_of_provider(
    session: Session, provider_pk: int, limit: int = LIMIT
) -> list[LicenseOrder]:
    """The provider's license orders, of every corp."""
    query = select(LicenseOrder).where(LicenseOrder.provider_pk == provider_pk)
    return list(session.scalars(_newest_first(query).limit(limit)))


def orders_of_corp(
    session: Session, provider_pk: int, corpid: str, limit: int = LIMIT
) -> list[LicenseOrder]:
    query = select(LicenseOrder).where(
        LicenseOrder.provider_pk == provider_pk, LicenseOrder.corpid == corpid
    )
    return list(session.scalars(_newest_first(query).limit(limit)))


def orders_of_app(session: Session, app: App, limit: int = LIMIT) -> list[LicenseOrder]:
    """The license orders of the corps that are the app's tenants (whatever their status),
    through the app's provider; none when it has no registered provider."""
    provider = provider_of(session, app)
    if provider is None:
        return []
    if provider.id == app.id:
        return orders_of_provider(session, provider.id, limit)
    tenants = select(Tenant.tenant_id).where(Tenant.app_pk == app.id)
    query = select(LicenseOrder).where(
        LicenseOrder.provider_pk == provider.id, LicenseOrder.corpid.in_(tenants)
    )
    return list(session.scalars(_newest_first(query).limit(limit)))


def accounts_of_corp(
    session: Session, provider_pk: int, corpid: str, limit: int = LIMIT
) -> list[LicenseAccount]:
    """The corp's members holding an account of the provider, latest activated first."""
    query = (
        select(LicenseAccount)
        .where(LicenseAccount.provider_pk == provider_pk, LicenseAccount.corpid == corpid)
        .order_by(
            func.coalesce(LicenseAccount.active_time, LicenseAccount.updated_at).desc(),
            LicenseAccount.id.desc(),
        )
        .limit(limit)
    )
    return list(session.scalars(query))


def refused_calls(
    session: Session, app_pk: int, tenant_id: str, limit: int = LIMIT
) -> list[dict[str, Any]]:
    """The tenant's proxied calls the platform refused for a license (701xxx), per path and
    errcode, latest first: path, errcode, count, last_at, last_errmsg."""
    rows = session.execute(
        select(
            ProxyErrcode.path,
            ProxyErrcode.errcode,
            ProxyErrcode.count,
            ProxyErrcode.last_at,
            ProxyErrcode.last_errmsg,
        )
        .where(
            ProxyErrcode.app_pk == app_pk,
            ProxyErrcode.tenant_id == tenant_id,
            ProxyErrcode.errcode >= LICENSE_ERRCODES.start,
            ProxyErrcode.errcode < LICENSE_ERRCODES.stop,
        )
        .order_by(ProxyErrcode.last_at.desc(), ProxyErrcode.id.desc())
        .limit(limit)
    )
    return [dict(row._mapping) for row in rows]


@dataclass(frozen=True)
class TenantLicenses:
    """What a WeCom tenant's page shows of its licenses."""

    provider: App | None  # None: no registered provider, so nothing can be read
    state: str  # tenants.views.license_state
    row: TenantLicense | None  # None: never checked, and no member refused
    refused: list[dict[str, Any]] = field(default_factory=list)
    accounts: list[LicenseAccount] = field(default_factory=list)
    orders: list[LicenseOrder] = field(default_factory=list)


def of_tenant(
    session: Session, app: App, tenant: Tenant, now: datetime | None = None
) -> TenantLicenses:
    """The tenant's license state, refused calls, and its corp's accounts and orders of the
    app's provider."""
    row = session.get(TenantLicense, tenant.id)
    state = (
        views.license_state(row.license_status, row.trial_end, row.active_accounts, now)
        if row is not None
        else "unknown"
    )
    refused = refused_calls(session, app.id, tenant.tenant_id)
    provider = provider_of(session, app)
    if provider is None:
        return TenantLicenses(None, state, row, refused)
    return TenantLicenses(
        provider,
        state,
        row,
        refused,
        accounts_of_corp(session, provider.id, tenant.tenant_id),
        orders_of_corp(session, provider.id, tenant.tenant_id),
    )
