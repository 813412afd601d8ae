"""The install context: the ISV's `ref` (its own reference of the customer installing) carried
from the start of an install to the tenant it makes, and one-time install links (docs/install.md).

An install is started with `/install/<app_id>?ref=<ref>` or with an install link minted through
the API (`?link=<token>`, which carries a ref and a return_to the caller cannot change). The
context is kept on the install's state; whichever arrival exchanges the auth code first finds it
there and hands the ref to the tenant (tenants.lifecycle.upsert_tenant), so its lifecycle event
`tenant.authorized` carries it:

* the redirect back names the state (WeCom `state`; Open ours, inside redirect_uri);
* a WeCom create_auth push names it too (`State`), and get_permanent_code answers it (`state`);
* an Open `authorized` push names only the pre-auth code: an install with a context gets a code
  of its own (preauth.dedicated_code), so the code leads to exactly one state.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from suite_server.db import utcnow
from suite_server.errors import InstallError, ValidationError
from suite_server.models import App, InstallLink, InstallState, PreAuthCode

REF = re.compile(r"[A-Za-z0-9._~:@+=/-]{1,128}")
LINK_SECONDS = 86400  # how long an install link is valid unless asked otherwise
MAX_LINK_SECONDS = 7 * 86400
MIN_LINK_SECONDS = 60
MAX_TOKEN = 100  # ours are 43 characters

REF_RULE = "ref must be 1 to 128 characters of A-Z a-z 0-9 . _ ~ : @ + = / -"
LINK_REFUSED = "This install link is unknown, expired or already used. Ask for a new one."


@dataclass(frozen=True)
class InstallContext:
    """What an install carries from its start: the ISV's ref, where the browser goes back to,
    and the install link it came from (used up when the install starts)."""

    ref: str | None = None
    return_to: str | None = None
    link_id: int | None = None
    # "link" for an install link's ref (the ISV minted it), "query" for `?ref=` (anyone may
    # write one): kept with the ref, shown with it in the tenant, its events and the assertion.
    ref_from: str | None = None


def check_ref(ref: str | None) -> str | None:
    """`ref` if it is well formed (None stays None); ValidationError otherwise."""
    if ref is None:
        return None
    if not isinstance(ref, str) or not REF.fullmatch(ref):
        raise ValidationError(REF_RULE)
    return ref


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# -- starting an install -------------------------------------------------------------------


def for_start(
    session: Session, app: App, *, ref: str | None, link: str | None
) -> InstallContext | None:
    """The context of `GET /install/<app_id>?ref=...` or `?link=...`; None for a plain install.
    InstallError (the 400 page) for a malformed ref, a link that cannot be used, or both: a
    link's ref is the one it was minted with, and the person holding it may not change it."""
    if ref is not None and link is not None:
        raise InstallError("An install link carries its own ref: open it without ?ref=.")
    if link is not None:
        row = _usable_link(session, app, link)
        if row is None:
            raise InstallError(LINK_REFUSED)
        ref_from = "link" if row.ref is not None else None
        return InstallContext(row.ref, row.return_to, link_id=row.id, ref_from=ref_from)
    if ref is not None:
        try:
            return InstallContext(ref=check_ref(ref), ref_from="query")
        except ValidationError as exc:
            raise InstallError(f"This install link is malformed: {exc}.") from None
    return None


def _usable_link(session: Session, app: App, token: str) -> InstallLink | None:
    if not token or len(token) > MAX_TOKEN:
        return None
    return session.scalar(
        select(InstallLink).where(
            InstallLink.token_hash == _token_hash(token),
            InstallLink.app_pk == app.id,
            InstallLink.used_at.is_(None),
            InstallLink.expires_at > utcnow(),
        )
    )


def use_link(session: Session, context: InstallContext | None) -> None:
    """Mark the context's install link used, in the transaction that writes the install's state
    (flow.py), so a start that fails before it leaves the link usable. InstallError when it
    was used meanwhile (opened twice at once) or has expired; the caller's writes are rolled
    back."""
    if context is None or context.link_id is None:
        return
    now = utcnow()
    used = session.execute(
        update(InstallLink.__table__)
        .where(
            InstallLink.id == context.link_id,
            InstallLink.used_at.is_(None),
            InstallLink.expires_at > now,
        )
        .values(used_at=now)
    ).rowcount
    if used != 1:
        session.rollback()
        raise InstallError(LINK_REFUSED)


# -- finding the context again -------------------------------------------------------------


def of_state(session: Session, app: App, state: str | None) -> InstallContext | None:
    """The context of the install with this state (used or not: the redirect back may have
    consumed it before the push is processed), or None."""
    if not state or len(state) > 64:
        return None
    row = session.execute(
        select(InstallState.ref, InstallState.return_to, InstallState.ref_from).where(
            InstallState.app_pk == app.id, InstallState.state == state
        )
    ).first()
    if row is None:
        return None
    return InstallContext(ref=row.ref, return_to=row.return_to, ref_from=row.ref_from)


def of_push(session: Session, app: App, fields: dict[str, str]) -> InstallContext | None:
    """The context of the install a create_auth / authorized push completes: by its State
    (WeCom), or by its PreAuthCode when that code was dedicated to one install (Open)."""
    context = of_state(session, app, fields.get("State"))
    if context is not None:
        return context
    code = fields.get("PreAuthCode")
    if not code:
        return None
    row = session.execute(
        select(InstallState.ref, InstallState.ref_from)
        .join(PreAuthCode, PreAuthCode.id == InstallState.pre_auth_code_id)
        .where(
            PreAuthCode.app_pk == app.id,
            PreAuthCode.code == code,
            PreAuthCode.dedicated.is_(True),
        )
        .limit(1)
    ).first()
    return InstallContext(ref=row.ref, ref_from=row.ref_from) if row else None


def of_answer(session: Session, app: App, auth_info: dict) -> InstallContext | None:
    """WeCom's get_permanent_code answers the install's state: its context when nothing else
    said it (a create_auth push without State)."""
    state = auth_info.get("state")
    return of_state(session, app, state) if isinstance(state, str) else None


# -- install links -------------------------------------------------------------------------


@dataclass(frozen=True)
class MintedLink:
    url: str
    expires_at: datetime
    ref: str | None
    return_to: str | None


def mint_link(
    session: Session,
    app: App,
    public_url: str,
    *,
    ref: str | None,
    return_to: str | None,
    seconds: int = LINK_SECONDS,
) -> MintedLink:
    """A one-time install link: a random token, of which only the SHA-256 is stored. The caller
    checks `return_to` against the app's allow-list first (landing.return_to_allowed); commits."""
    check_ref(ref)
    if return_to is not None and app.is_template:
        raise ValidationError(
            "a customized template is installed from a QR code and no browser comes back: "
            "return_to cannot be used"
        )
    token = secrets.token_urlsafe(32)
    expires_at = utcnow() + timedelta(seconds=seconds)
    session.add(
        InstallLink(
            app_pk=app.id,
            token_hash=_token_hash(token),
            ref=ref,
            return_to=return_to,
            expires_at=expires_at,
        )
    )
    session.commit()
    url = f"{public_url}/install/{app.app_id}?link={token}"
    return MintedLink(url, expires_at, ref, return_to)
