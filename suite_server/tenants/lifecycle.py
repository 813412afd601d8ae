"""Every change of a tenant's state, with its history row: created or authorized again, cancelled,
given up as `needs_reauth`, its credential rotated, its auth info merged.

Lifecycle (docs/tenants.md): a tenant is `active` once a code is exchanged; `cancelled` by
cancel_auth / unauthorized or reconciliation (tokens dropped, refreshes stop, history kept);
`needs_reauth` when its credential is dead; any new authorization makes it `active` again.

Every history line the ISV is told of also writes a lifecycle event (events.py), in the same
transaction. A tenant that stops being active is announced to every process's token cache once
the caller commits (invalidations.py). Nothing here calls a platform or commits: the caller
does, with the rest of its unit of work.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from suite_server import invalidations
from suite_server.db import insert_ignoring_conflict, utcnow
from suite_server.models import App, Tenant, TenantHistory, TenantToken
from suite_server.tenants import events


def find_tenant(session: Session, app: App, tenant_id: str | None) -> Tenant | None:
    """The app's tenant with this tenant id (WeCom corpid, Open authorizer appid), if any."""
    if not tenant_id:
        return None
    return session.scalar(
        select(Tenant).where(Tenant.app_pk == app.id, Tenant.tenant_id == tenant_id)
    )


def upsert_tenant(
    session: Session,
    app: App,
    tenant_id: str,
    *,
    name: str,
    credential: str | None,
    auth_info: dict[str, Any],
    source: str,
    action: str = "",
    ref: str | None = None,
    ref_from: str | None = None,
) -> Tenant:
    """Create the tenant or bring it back to `active` with the new credential; the caller stores
    its first token (tokens.service.store_first_token) and commits. One row per (app, tenant id)
    whatever the order of redirect and push. `ref`: the install's context, kept on the tenant
    with where it came from, `ref_from` (a later authorization without one keeps the old one)."""
    now = utcnow()
    inserted = insert_ignoring_conflict(
        session,
        Tenant,
        {"app_pk": app.id, "tenant_id": tenant_id, "name": name, "status": "active"},
        ["app_pk", "tenant_id"],
    )
    tenant = find_tenant(session, app, tenant_id)
    session.refresh(tenant)
    if not action:
        if inserted:
            action = "authorized"
        elif tenant.status != "active" or tenant.credential != credential:
            action = "reauthorized"
        else:
            action = "authorized_again"
    previous_status = tenant.status
    if credential and credential != tenant.credential:
        # A new authorization kills the old credential (open-platform.md §4.4, §7.5).
        tenant.credential, tenant.previous_credential = credential, None
        tenant.credential_version += 1
    tenant.name = name or tenant.name
    tenant.auth_info = auth_info
    if ref:
        tenant.install_ref, tenant.install_ref_from = ref, ref_from
    tenant.authorized_at, tenant.cancelled_at = now, None
    if tenant.credential:
        tenant.status, tenant.status_reason = "active", None
    else:
        # open-platform.md §4.4: no refresh token when the account granted no API permissions.
        tenant.status, tenant.status_reason = "needs_reauth", "no credential was granted"
        _stopped(session, tenant.id)
    record(session, tenant, action, source, {"from": previous_status} if not inserted else None)
    return tenant


def cancel_tenant(session: Session, tenant: Tenant, source: str, reason: str) -> None:
    """Authorization cancelled: drop its tokens, stop its refreshes, keep the row and history.
    The credential is dead upstream; it is kept only as a record. The caller commits."""
    if tenant.status == "cancelled":
        return
    previous = tenant.status
    tenant.status, tenant.status_reason, tenant.cancelled_at = "cancelled", reason, utcnow()
    session.execute(delete(TenantToken.__table__).where(TenantToken.tenant_pk == tenant.id))
    _stopped(session, tenant.id)
    record(session, tenant, "cancelled", source, {"from": previous, "reason": reason})


def needs_reauth(
    session: Session, tenant_pk: int, reason: str, source: str, seen_version: int | None = None
) -> bool:
    """The credential is dead: an active tenant needs a new authorization. Its token is dropped
    and its refreshes stop; the reason shows in its status and history. `seen_version`: only if
    the credential refused is still the stored one (its credential_version). The caller commits;
    returns whether the tenant changed (it was active)."""
    condition = [Tenant.id == tenant_pk, Tenant.status == "active"]
    if seen_version is not None:
        condition.append(Tenant.credential_version == seen_version)
    changed = session.execute(
        update(Tenant.__table__)
        .where(*condition)
        .values(status="needs_reauth", status_reason=reason)
    ).rowcount
    if changed:
        session.execute(delete(TenantToken.__table__).where(TenantToken.tenant_pk == tenant_pk))
        _stopped(session, tenant_pk)
        _history(session, tenant_pk, "needs_reauth", source, {"reason": reason})
    return bool(changed)


def rotate_credential(
    session: Session,
    tenant_pk: int,
    seen_version: int,
    *,
    credential: str,
    previous: str | None,
    recovered: str | None = None,
) -> bool:
    """Store a new credential (an Open refresh token handed back with a token) and keep
    `previous` beside it. Compare-and-set on credential_version (`seen_version`), so a
    re-authorization that happened meanwhile is never overwritten. `recovered`: the reason the
    stored one was replaced, written to the history. The caller commits; returns whether it was
    stored."""
    changed = session.execute(
        update(Tenant.__table__)
        .where(Tenant.id == tenant_pk, Tenant.credential_version == seen_version)
        .values(
            credential=credential,
            previous_credential=previous,
            credential_version=seen_version + 1,
        )
    ).rowcount
    if changed and recovered:
        _history(session, tenant_pk, "credential_recovered", "token", {"reason": recovered})
    return bool(changed)


def recover_credential(session: Session, tenant: Tenant, credential: str, source: str) -> None:
    """The platform holds a live credential other than ours (ours was lost or rotated): it
    becomes the credential, ours the previous one, and the tenant is active. The caller commits."""
    previous = tenant.status
    tenant.previous_credential, tenant.credential = tenant.credential, credential
    tenant.credential_version += 1
    tenant.status, tenant.status_reason = "active", None
    record(session, tenant, "credential_recovered", source)
    if previous != "active":
        record(session, tenant, "reactivated", source, {"from": previous})


def try_reactivating(tenant: Tenant) -> tuple[str, str | None, int]:
    """Mark a cancelled or needs_reauth tenant active, before its stored credential is tried
    (the caller commits, then asks for a token); returns what to restore if it is refused."""
    before = (tenant.status, tenant.status_reason, tenant.credential_version)
    tenant.status, tenant.status_reason = "active", None
    return before


def reactivation_refused(
    session: Session, tenant_pk: int, before: tuple[str, str | None, int]
) -> None:
    """The platform refused the stored credential: back to the state it was in, unless a new
    authorization arrived meanwhile (its credential_version moved on)."""
    session.execute(
        update(Tenant.__table__)
        .where(Tenant.id == tenant_pk, Tenant.credential_version == before[2])
        .values(status=before[0], status_reason=before[1])
    )
    _stopped(session, tenant_pk)


def reactivated(session: Session, tenant: Tenant, source: str, detail: dict | None) -> None:
    """The stored credential gave a token: the tenant stays active, with its history row."""
    tenant.cancelled_at = None
    record(session, tenant, "reactivated", source, detail)


def merge_auth_info(tenant: Tenant, answer: dict[str, Any]) -> bool:
    """Merge what the platform answered about the authorization (its errcode and errmsg left
    out) into the tenant's auth_info; returns whether anything changed."""
    fresh = {k: v for k, v in answer.items() if k not in ("errcode", "errmsg")}
    if not any((tenant.auth_info or {}).get(k) != v for k, v in fresh.items()):
        return False
    tenant.auth_info = {**(tenant.auth_info or {}), **fresh}
    return True


def record(
    session: Session, tenant: Tenant, action: str, source: str, detail: dict | None = None
) -> None:
    """A line of the tenant's history; the caller commits."""
    _history(session, tenant.id, action, source, detail)


def _stopped(session: Session, tenant_pk: int) -> None:
    """The tenant is no longer active: every process's token cache drops it at the commit."""
    invalidations.after_commit(session, invalidations.name("tenant", tenant_pk))


def _history(session: Session, tenant_pk: int, action: str, source: str, detail: dict | None):
    session.add(TenantHistory(tenant_pk=tenant_pk, action=action, source=source, detail=detail))
    events.emit(session, tenant_pk, action, source, detail)
