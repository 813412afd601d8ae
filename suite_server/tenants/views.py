"""A tenant as the outside sees it (the token API, `suite-server tenants list`): its columns,
read without the credential, and the JSON object made of them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, select

from suite_server.db import iso, utcnow
from suite_server.models import App, Tenant, TenantLicense, TenantToken
from suite_server.tenants import capabilities

# What kind of tenant an app's kind makes (models.apps.KINDS): a WeCom corp that installed a
# third-party app or a customized one (its token from gettoken), or an Open Platform account.
TENANT_KINDS = {"suite": "third_party", "template": "customized", "component": "account"}


def kind_of(app: App) -> str:
    return TENANT_KINDS.get(app.kind, app.kind)


# A WeCom tenant's license state (billing/licenses.py keeps it), as `license_<name>` columns.
LICENSE_COLUMNS = tuple(
    getattr(TenantLicense, name).label(f"license_{name}")
    for name in (
        "license_status",
        "trial_start",
        "trial_end",
        "check_time",
        "active_accounts",
        "checked_at",
        "check_error",
        "unlicensed_count",
        "unlicensed_userid",
        "unlicensed_at",
    )
)


def columns(*extra) -> Select:
    """The tenant's columns with its token's expiry; `extra` columns are added at the end."""
    return (
        select(
            Tenant.id,
            Tenant.tenant_id,
            Tenant.name,
            Tenant.status,
            Tenant.status_reason,
            Tenant.authorized_at,
            Tenant.cancelled_at,
            Tenant.install_ref,
            Tenant.install_ref_from,
            # IS NOT NULL in SQL: the credential is neither read nor decrypted.
            Tenant.credential.is_not(None).label("has_credential"),
            TenantToken.expires_at.label("token_expires_at"),
            App.kind.label("app_kind"),
            Tenant.auth_info["edition_info"].label("edition_info"),
            # What capabilities.py reads: Open's account and sets, WeCom's agents.
            App.platform.label("app_platform"),
            App.required_func_info,
            Tenant.auth_info["authorizer_info"].label("authorizer_info"),
            Tenant.auth_info["func_info"].label("func_info"),
            Tenant.auth_info["auth_info"].label("agents_info"),
            *LICENSE_COLUMNS,
            *extra,
        )
        .join(App, App.id == Tenant.app_pk)
        .outerjoin(TenantToken, TenantToken.tenant_pk == Tenant.id)
        .outerjoin(TenantLicense, TenantLicense.tenant_pk == Tenant.id)
    )


def view(row) -> dict[str, Any]:
    """A row of `columns()` as JSON: never the credential, only whether there is one."""
    return {
        "tenant_id": row.tenant_id,
        "kind": TENANT_KINDS.get(row.app_kind, row.app_kind),
        "name": row.name,
        "status": row.status,
        "status_reason": row.status_reason,
        "authorized_at": iso(row.authorized_at),
        "cancelled_at": iso(row.cancelled_at),
        "token_expires_at": iso(row.token_expires_at),
        "credential": "present" if row.has_credential else "missing",
        "ref": row.install_ref,  # the ISV's reference of the install (/install/<app_id>?ref=)
        "ref_from": row.install_ref_from,  # "link" (an install link's) or "query" (anyone's)
        "edition": edition(row.edition_info),
        "license": license_view(row),
        "capabilities": capabilities_view(row),
    }


def capabilities_view(row) -> dict[str, Any] | None:
    """What the tenant may do (capabilities.py), or None before the platform said."""
    if row.app_platform == "open":
        if row.authorizer_info is None and row.func_info is None:
            return None
        return capabilities.of_open(row.authorizer_info, row.func_info, row.required_func_info)
    return capabilities.of_wecom(row.agents_info) if row.agents_info is not None else None


def edition(edition_info: Any) -> dict[str, Any] | None:
    """A WeCom paid app's edition from auth_info.edition_info (its first agent), or None: not a
    WeCom suite, or the platform told of none."""
    agents = edition_info.get("agent") if isinstance(edition_info, dict) else None
    if not agents or not isinstance(agents[0], dict):
        return None
    agent = agents[0]
    expired = agent.get("expired_time")
    return {
        "edition_id": agent.get("edition_id"),
        "edition_name": agent.get("edition_name"),
        "app_status": agent.get("app_status"),
        "user_limit": agent.get("user_limit"),
        "expired_time": (
            iso(datetime.fromtimestamp(expired, UTC)) if isinstance(expired, int) else None
        ),
    }


def license_state(license_status, trial_end, active_accounts, now=None) -> str:
    """`licensed` (members hold accounts), `trial` (the 90 days are not over), `unlicensed` (the
    trial is over and no member holds an account), `not_required` (the platform does not check
    this app: license_status 0), or `unknown` (not read yet)."""
    now = now or utcnow()
    if license_status is None:
        return "unknown"
    if license_status == 0:
        return "not_required"
    if active_accounts:
        return "licensed"
    if trial_end is not None and now < trial_end:
        return "trial"
    return "unlicensed"


def license_view(row, now=None) -> dict[str, Any] | None:
    """A row's `license_*` columns as JSON, or None: never read (not a WeCom tenant, or the
    provider account is not registered here)."""
    if row.license_checked_at is None and not row.license_unlicensed_count:
        return None
    return {
        "state": license_state(
            row.license_license_status, row.license_trial_end, row.license_active_accounts, now
        ),
        "license_status": row.license_license_status,
        "trial_start": iso(row.license_trial_start),
        "trial_end": iso(row.license_trial_end),
        "check_time": iso(row.license_check_time),
        "active_accounts": row.license_active_accounts or 0,
        "checked_at": iso(row.license_checked_at),
        "check_error": row.license_check_error,
        "unlicensed_count": row.license_unlicensed_count or 0,
        "unlicensed_userid": row.license_unlicensed_userid,
        "unlicensed_at": iso(row.license_unlicensed_at),
    }
