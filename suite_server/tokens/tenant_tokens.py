"""Tenant tokens (WeCom corp access_token, Open authorizer_access_token), obtained with the app
token and the tenant's credential.

The Open refresh token returned with a new access token is stored in the same transaction; the
one used stays as `previous_credential` until the new one has been used once. A dead Open
refresh token (61023) is recovered from the previous one, api_get_authorizer_info and
api_get_authorizer_list (open-platform.md §4.6, §4.7) before the tenant is given up as
`needs_reauth`; a dead WeCom permanent code (40084; a customized app's secret refused by gettoken:
40001) or a revoked authorization is given up at once, unless a new credential was stored
meanwhile. Busy answers and timeouts leave the tenant alone: the job retries with backoff.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from suite_server import invalidations
from suite_server.db import utcnow
from suite_server.errors import TokenUnavailable, UpstreamError
from suite_server.models import App, Tenant, TenantToken
from suite_server.tenants import lifecycle
from suite_server.tokens import policy, store
from suite_server.tokens.app_tokens import with_app_token
from suite_server.tokens.rows import Served, TokenRow
from suite_server.tokens.store import unavailable
from suite_server.upstream import api_for

log = logging.getLogger(__name__)

AUTHORIZER_PAGE = 500  # api_get_authorizer_list's maximum count


def serve_tenant_token(
    session: Session, tenant: Tenant, *, due: bool = False, known: TokenRow | None = None
) -> Served:
    """The tenant's token; `due` also refreshes one whose background refresh time has come.
    `known`: its token row, read by the caller in this request (saves the first query)."""
    return _tenant_token(session, tenant, policy.refresh_due if due else policy.unusable, known)


def refresh_tenant_token(session: Session, tenant: Tenant, stale_token: str | None) -> Served:
    """A caller saw 40001/42001 with `stale_token`: refresh only if it is still the current
    token, else hand back the current one. Many such callers cause one upstream refresh."""
    return _tenant_token(session, tenant, policy.stale(stale_token))


def store_first_token(session: Session, tenant: Tenant, token: tuple[str, int] | None) -> None:
    """The token an authorization came with (or an empty row the sweep fills); the caller
    commits, with the tenant."""
    row = session.scalar(select(TenantToken).where(TenantToken.tenant_pk == tenant.id))
    if row is None:
        row = TenantToken(tenant_pk=tenant.id, version=0)
        session.add(row)
    if token is None:
        return
    invalidations.after_commit(session, invalidations.name("tenant", tenant.id))
    now = utcnow()
    row.access_token = token[0]
    row.obtained_at, row.expires_at = now, now + timedelta(seconds=token[1])
    platform = session.get(App, tenant.app_pk).platform
    row.refresh_at = policy.next_refresh(platform in policy.SAME_UNTIL_EXPIRY, now, row.expires_at)
    row.last_error = row.last_error_at = None
    row.version += 1


def _tenant_token(session: Session, tenant: Tenant, need, known: TokenRow | None = None) -> Served:
    if tenant.status != "active":
        raise TokenUnavailable(
            f"tenant_{tenant.status}",
            f"tenant is {tenant.status}"
            + (f": {tenant.status_reason}" if tenant.status_reason else ""),
            409,
        )
    app = session.get(App, tenant.app_pk)
    api = api_for(app.platform, current_app.config)
    fetch = {"suite": _fetch_corp_token, "template": _fetch_customized_token}.get(
        app.kind, _fetch_authorizer_token
    )
    return store.obtain(
        session,
        TenantToken,
        "tenant_pk",
        tenant.id,
        need,
        lambda row: fetch(session, app, tenant.id, api),
        app.platform in policy.SAME_UNTIL_EXPIRY,
        known,
        app_id=app.app_id,
    )


def _credentials(session: Session, tenant_pk: int):
    """The tenant's credential columns as committed now (another process may have changed them)."""
    return session.execute(
        select(
            Tenant.tenant_id,
            Tenant.status,
            Tenant.credential,
            Tenant.previous_credential,
            Tenant.credential_version,
        ).where(Tenant.id == tenant_pk)
    ).one()


def _fetch_corp_token(session: Session, app: App, tenant_pk: int, api):
    current = _credentials(session, tenant_pk)
    if current.status != "active" or not current.credential:
        raise TokenUnavailable(f"tenant_{current.status}", "tenant is not active", 409)
    try:
        token = with_app_token(
            session,
            app,
            api,
            lambda suite: api.get_corp_token(suite, current.tenant_id, current.credential),
        )
    except UpstreamError as exc:
        if exc.kind in ("credential", "revoked"):
            raise _give_up(session, tenant_pk, exc, current.credential_version) from None
        raise unavailable(exc) from None
    return token.access_token, token.expires_in, None


def _fetch_customized_token(session: Session, app: App, tenant_pk: int, api):
    """A customized app's token: gettoken with the corp id and its permanent code, which is the
    app's secret; no suite token is involved (isv-capabilities §1)."""
    current = _credentials(session, tenant_pk)
    if current.status != "active" or not current.credential:
        raise TokenUnavailable(f"tenant_{current.status}", "tenant is not active", 409)
    session.commit()  # hold no transaction open during the call
    try:
        token = api.gettoken(current.tenant_id, current.credential)
    except UpstreamError as exc:
        if exc.kind == "credential":
            raise _give_up(session, tenant_pk, exc, current.credential_version) from None
        raise unavailable(exc) from None
    return token.access_token, token.expires_in, None


def _fetch_authorizer_token(session: Session, app: App, tenant_pk: int, api):
    current = _credentials(session, tenant_pk)
    if current.status != "active" or not current.credential:
        raise TokenUnavailable(f"tenant_{current.status}", "tenant is not active", 409)
    tried: list[str] = []
    dead: UpstreamError | None = None
    try:
        for candidate in _refresh_tokens(session, app, api, current):
            if not candidate or candidate in tried:
                continue
            tried.append(candidate)
            try:
                answer = with_app_token(
                    session,
                    app,
                    api,
                    lambda component_token, rt=candidate: api.authorizer_token(
                        component_token, app.app_id, current.tenant_id, rt
                    ),
                )
            except UpstreamError as exc:
                if exc.kind != "credential":
                    raise
                dead = exc  # 61023: try the next candidate
                continue
            extra = _keep_refresh_token(
                tenant_pk, current, used=candidate, new=answer.refresh_token
            )
            return answer.access_token, answer.expires_in, extra
    except UpstreamError as exc:
        if exc.kind == "revoked":
            raise _give_up(session, tenant_pk, exc, current.credential_version) from None
        raise unavailable(exc) from None
    raise _give_up(session, tenant_pk, dead, current.credential_version)


def _refresh_tokens(session: Session, app: App, api, current):
    """Refresh tokens to try, best first: ours, the previous one, then what the platform holds
    (only asked for when the ones before have failed)."""
    yield current.credential
    yield current.previous_credential
    log.warning(
        "tenant %s: refresh token refused; recovering it from the platform", current.tenant_id
    )
    info = with_app_token(
        session,
        app,
        api,
        lambda token: api.get_authorizer_info(token, app.app_id, current.tenant_id),
    )
    yield (info.get("authorization_info") or {}).get("authorizer_refresh_token")
    offset = 0
    while True:
        page = with_app_token(
            session,
            app,
            api,
            lambda token, at=offset: api.get_authorizer_list(
                token, app.app_id, at, AUTHORIZER_PAGE
            ),
        )
        for item in page.get("list") or []:
            if item.get("authorizer_appid") == current.tenant_id:
                yield item.get("refresh_token")
                return
        offset += AUTHORIZER_PAGE
        if offset >= int(page.get("total_count") or 0):
            return


def _keep_refresh_token(tenant_pk: int, current, *, used: str, new: str):
    """The extra writes of an Open refresh: `new` becomes the credential and `used` stays as the
    previous one until the new one has been used once (lifecycle.rotate_credential)."""
    previous = used if new != used else None
    if (new, previous) == (current.credential, current.previous_credential):
        return None
    recovered = None
    if used != current.credential:
        recovered = "the stored refresh token was refused (61023)"

    def write(session: Session) -> None:
        lifecycle.rotate_credential(
            session,
            tenant_pk,
            current.credential_version,
            credential=new,
            previous=previous,
            recovered=recovered,
        )

    return write


def _give_up(
    session: Session, tenant_pk: int, exc: UpstreamError, seen_version: int
) -> TokenUnavailable:
    """The credential of version `seen_version` is dead: the tenant needs a new authorization
    (lifecycle.needs_reauth), unless a new credential arrived meanwhile (a reset_permanent_code
    push, a re-authorization): then trying again uses that one."""
    reason = f"{exc.endpoint}: {exc.errcode} {exc.errmsg}"[:500]
    session.rollback()
    lifecycle.needs_reauth(session, tenant_pk, reason, source="token", seen_version=seen_version)
    session.commit()
    current = session.scalar(select(Tenant.credential_version).where(Tenant.id == tenant_pk))
    session.rollback()
    if current not in (None, seen_version):
        log.info("tenant %s: an old credential was refused; a new one is stored", tenant_pk)
        return TokenUnavailable(
            "credential_replaced", "the credential was replaced meanwhile", 503, retryable=True
        )
    log.warning("tenant %s needs a new authorization: %s", tenant_pk, reason)
    return TokenUnavailable("tenant_needs_reauth", reason, 409, errcode=exc.errcode)
