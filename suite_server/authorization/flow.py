"""The authorization flow: start an install, and exchange an auth code exactly once (from the
redirect back or a push, whichever comes first) for the tenant's credential and first token.
The tenant's states and history are tenants/lifecycle.py.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode, urlsplit

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from suite_server.authorization import answers, preauth
from suite_server.authorization import context as install_context
from suite_server.authorization.context import InstallContext
from suite_server.db import insert_ignoring_conflict, utcnow
from suite_server.errors import InstallError, UpstreamError
from suite_server.models import App, AuthCodeClaim, InstallState, Tenant
from suite_server.tenants.lifecycle import upsert_tenant
from suite_server.tokens.service import TokenUnavailable, serve_tenant_token, store_first_token
from suite_server.upstream.results import seconds

log = logging.getLogger(__name__)

STATE_LIFETIME = timedelta(minutes=20)
QR_LIFETIME = timedelta(days=7)
# How long a claimed code may stay unfinished before another process may take it over (the
# claimant died). Longer than any exchange: upstream calls time out after 10 s.
CLAIM_LEASE = timedelta(seconds=60)
CLAIM_WAIT_SECONDS = 15.0


@dataclass(frozen=True)
class InstallUrls:
    public_url: str
    wecom_install_url: str
    open_auth_url: str


# -- start ---------------------------------------------------------------------------------


def start_install(
    session: Session,
    app: App,
    api,
    app_token: Callable[[], str],
    urls: InstallUrls,
    *,
    client: str,
    mobile: bool = False,
    auth_type: int = 3,
    biz_appid: str | None = None,
    context: InstallContext | None = None,
) -> str:
    """A pre-auth code (shared while valid, preauth.py) and a one-time state for `client` (its
    starts are counted, starts.py), keeping the install's `context` (context.py; an Open install
    with one gets a code of its own); returns the platform page to send the browser to."""
    state = secrets.token_hex(16)  # WeCom: state is at most 128 of [a-zA-Z0-9] (wecom-suite.md §4)
    dedicated = context is not None and app.platform == "open"
    shared = preauth.code_for(session, app, api, app_token, dedicated=dedicated)
    code, code_id = shared.code, shared.id
    session.add(
        InstallState(
            app_pk=app.id,
            state=state,
            expires_at=utcnow() + STATE_LIFETIME,
            client_addr=client,
            pre_auth_code_id=code_id,
            ref=context.ref if context else None,
            ref_from=context.ref_from if context else None,
            return_to=context.return_to if context else None,
        )
    )
    install_context.use_link(session, context)
    session.commit()
    redirect_uri = f"{urls.public_url}/install/{app.app_id}/done"
    if app.platform == "wecom":
        query = {
            "suite_id": app.app_id,
            "pre_auth_code": code,
            "redirect_uri": redirect_uri,
            "state": state,
        }
        return f"{urls.wecom_install_url}?{urlencode(query)}"
    # The Open Platform sends back only auth_code and expires_in (open-platform.md §4.3), so the
    # state rides inside redirect_uri.
    query = {
        "component_appid": app.app_id,
        "pre_auth_code": code,
        "redirect_uri": f"{redirect_uri}?{urlencode({'state': state})}",
        "auth_type": str(auth_type),
    }
    if biz_appid:
        query["biz_appid"] = biz_appid
    if not mobile:
        return f"{urls.open_auth_url}?{urlencode(query)}"
    # The H5 page inside WeChat, legacy form on the PC page's host; it fails without auth_type
    # (open-platform.md §4.3, easywechat#1842).
    parts = urlsplit(urls.open_auth_url)
    query = {"action": "bindcomponent", "no_scan": "1", **query}
    return f"{parts.scheme}://{parts.netloc}/safe/bindcomponent?{urlencode(query)}#wechat_redirect"


def start_customized_install(
    session: Session,
    app: App,
    api,
    with_provider_token: Callable,
    *,
    client: str,
    context: InstallContext | None = None,
) -> str:
    """A customized-app template is installed by scanning a QR code (isv-capabilities §1): its
    link comes from get_customized_auth_url with the provider's token (`with_provider_token(call)`
    runs `call` with it, refreshing a refused one once). No redirect comes back: the corp's
    approval arrives as a create_auth push, carrying the state (at most 32 of [a-zA-Z0-9]). The
    state lives as long as the QR code (at most QR_LIFETIME), so a later scan keeps its ref."""
    state = secrets.token_hex(16)
    answer = with_provider_token(
        lambda token: api.get_customized_auth_url(token, state, [app.app_id])
    )
    lifetime = timedelta(seconds=seconds(answer, default=0))
    session.add(
        InstallState(
            app_pk=app.id,
            state=state,
            expires_at=utcnow() + max(STATE_LIFETIME, min(lifetime, QR_LIFETIME)),
            client_addr=client,
            ref=context.ref if context else None,
            ref_from=context.ref_from if context else None,
        )
    )
    install_context.use_link(session, context)
    session.commit()
    return answer["qrcode_url"]


def consume_state(session: Session, app: App, state: str) -> None:
    """Mark the state used; InstallError when it is unknown, expired, reused or another app's."""
    now = utcnow()
    used = session.execute(
        update(InstallState.__table__)
        .where(
            InstallState.state == state[:64],
            InstallState.app_pk == app.id,
            InstallState.used_at.is_(None),
            InstallState.expires_at > now,
        )
        .values(used_at=now)
    )
    session.commit()
    if used.rowcount != 1:
        raise InstallError(
            "This install link is unknown, expired or already used. Start the install again."
        )


# -- exchange ------------------------------------------------------------------------------


def exchange_code(
    session: Session,
    app: App,
    code: str,
    api,
    app_token: str,
    *,
    source: str,
    action: str = "",
    context: InstallContext | None = None,
    authorizer: str = "",
) -> Tenant:
    """Exchange an auth code for the tenant's credential and first token, once: a second caller
    with the same code (the redirect and the push racing) waits for the first one's tenant.
    `context`: the install's (context.py), its ref kept on the tenant; WeCom's answer names the
    state, which finds it when the caller could not. `authorizer`: the account an Open push
    names, for recovering a code spent by a caller that died (`answers.recover`)."""
    code_hash = _code_hash(code)
    claim_id, taken_over = _claim(session, app, code_hash)
    if claim_id is None:
        return _wait_for_claim(session, app, code_hash)
    try:
        try:
            exchanged = answers.exchange(app, code, api, app_token)
        except UpstreamError as exc:
            if not (taken_over and exc.kind == "code" and app.platform == "open" and authorizer):
                raise
            exchanged = answers.recover(app, api, app_token, authorizer, exc)
        tenant_id, name, credential, token, auth_info = exchanged
    except answers.NoTenant as exc:
        # The code is spent and the answer names no corp: keep its credential on the claim
        # (encrypted) rather than lose it, and refuse the code from now on.
        session.execute(
            update(AuthCodeClaim.__table__)
            .where(AuthCodeClaim.id == claim_id)
            .values(error=exc.reason, credential=exc.credential)
        )
        session.commit()
        log.error("app %s: %s; its credential is kept on the claim", app.app_id, exc.reason)
        raise InstallError(f"The authorization could not be completed ({exc.reason}).") from None
    except UpstreamError as exc:
        if exc.retryable:
            # Busy or no answer: the code may still be good, or spent already (Open: when
            # api_get_authorizer_info failed after api_query_auth answered). The retry takes the
            # claim over at once, and as a takeover it can recover a spent code (`answers.recover`).
            session.execute(
                update(AuthCodeClaim.__table__)
                .where(AuthCodeClaim.id == claim_id)
                .values(claimed_at=utcnow() - 2 * CLAIM_LEASE)
            )
        else:
            session.execute(
                update(AuthCodeClaim.__table__)
                .where(AuthCodeClaim.id == claim_id)
                .values(error=f"{exc.errcode} {exc.errmsg}"[:500])
            )
        session.commit()
        raise
    if (context is None or context.ref is None) and app.platform == "wecom":
        context = install_context.of_answer(session, app, auth_info)
    tenant = upsert_tenant(
        session,
        app,
        tenant_id,
        name=name,
        credential=credential,
        auth_info=auth_info,
        source=source,
        action=action,
        ref=context.ref if context else None,
        ref_from=context.ref_from if context else None,
    )
    if auth_info.get("is_customized_app") and app.kind == "suite":
        # The platform says so though the id does not start with dk: a template from now on.
        app.kind = "template"
        log.warning("app %s: the platform calls it a customized app; kept as one", app.app_id)
    store_first_token(session, tenant, token)
    session.execute(
        update(AuthCodeClaim.__table__)
        .where(AuthCodeClaim.id == claim_id)
        .values(tenant_pk=tenant.id)
    )
    # One transaction: the tenant, its credential, its first token, its history and the claim.
    session.commit()
    if token is None and tenant.status == "active":
        _first_token(session, tenant)
    return tenant


def _first_token(session: Session, tenant: Tenant) -> None:
    """An answer without a token (customized apps never carry one): get it now, after the
    credential is safe. A failure here loses nothing: the sweep fetches it."""
    try:
        serve_tenant_token(session, tenant)
    except TokenUnavailable as exc:
        log.warning(
            "tenant %s: no first token yet (%s); the sweep will get it", tenant.tenant_id, exc.code
        )


def release_failed_claim(session: Session, app: App, code: str) -> None:
    """Forget a refused exchange of `code` (its claim with an error); the caller commits."""
    session.execute(
        delete(AuthCodeClaim.__table__).where(
            AuthCodeClaim.app_pk == app.id,
            AuthCodeClaim.code_hash == _code_hash(code),
            AuthCodeClaim.error.is_not(None),
        )
    )


def _code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def _claim(session: Session, app: App, code_hash: str) -> tuple[int | None, bool]:
    """(the claim's id, or None when another caller holds it; whether it was taken over from a
    caller that died holding it)."""
    claim_id = insert_ignoring_conflict(
        session, AuthCodeClaim, {"app_pk": app.id, "code_hash": code_hash}, ["app_pk", "code_hash"]
    )
    if claim_id is not None:
        session.commit()  # visible to the other process at once
        return claim_id, False
    # Take over a claim whose holder died before finishing (no tenant, no error, old).
    taken = session.execute(
        update(AuthCodeClaim.__table__)
        .where(
            AuthCodeClaim.app_pk == app.id,
            AuthCodeClaim.code_hash == code_hash,
            AuthCodeClaim.tenant_pk.is_(None),
            AuthCodeClaim.error.is_(None),
            AuthCodeClaim.claimed_at < utcnow() - CLAIM_LEASE,
        )
        .values(claimed_at=utcnow())
        .returning(AuthCodeClaim.id)
    )
    claim_id = taken.scalar()
    session.commit()
    return claim_id, claim_id is not None


def _wait_for_claim(session: Session, app: App, code_hash: str) -> Tenant:
    deadline = time.monotonic() + CLAIM_WAIT_SECONDS
    while True:
        claim = session.execute(
            select(AuthCodeClaim.tenant_pk, AuthCodeClaim.error).where(
                AuthCodeClaim.app_pk == app.id, AuthCodeClaim.code_hash == code_hash
            )
        ).first()
        session.rollback()  # a fresh snapshot on the next read
        if claim is None:
            raise UpstreamError("exchange", None, "exchange released, retry", "busy")
        if claim.tenant_pk is not None:
            return session.get(Tenant, claim.tenant_pk)
        if claim.error:
            raise InstallError(f"The authorization could not be completed ({claim.error}).")
        if time.monotonic() > deadline:
            raise UpstreamError("exchange", None, "exchange still in progress", "busy")
        time.sleep(0.1)
