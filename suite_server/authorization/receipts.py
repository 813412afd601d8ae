"""The receipt a browser keeps of the install it completed, so reloading the "done" page shows the
result again instead of "start again".

The install state stays single use: a reload never exchanges the code again, and another browser
with the same URL is still refused. Only the browser that completed the install holds the
receipt: a cookie, signed with SECRET_KEY, limited to that app's done page, naming the state it
completed (as a hash), the tenant it created, and the install's context (ref, where the ref came
from, return_to), so a reload
lands where the first answer did, with a fresh assertion (landing.py).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from flask import Response, current_app, request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from suite_server.authorization.context import InstallContext
from suite_server.models import App, Tenant

COOKIE = "suite_server_install"
MAX_AGE = 24 * 3600  # a tab reloaded the next day still shows what happened


@dataclass(frozen=True)
class Receipt:
    tenant: Tenant
    context: InstallContext


def remember(
    response: Response,
    app: App,
    state: str,
    tenant: Tenant,
    context: InstallContext | None = None,
) -> None:
    """Give the browser a receipt of completing `state` with `tenant`."""
    context = context or InstallContext()
    receipt = {
        "state": _digest(state),
        "tenant": tenant.id,
        "ref": context.ref,
        "ref_from": context.ref_from,
        "return_to": context.return_to,
    }
    value = _signer().dumps(receipt)
    response.set_cookie(
        COOKIE,
        value,
        max_age=MAX_AGE,
        path=f"/install/{app.app_id}/done",
        secure=current_app.config["PUBLIC_URL"].startswith("https://"),
        httponly=True,
        # Lax: sent on the top-level navigation back from the platform's page, not cross-site.
        samesite="Lax",
    )


def recall(session: Session, app: App, state: str) -> Receipt | None:
    """What this browser's receipt shows for `state` of `app`, or None."""
    value = request.cookies.get(COOKIE)
    if not value:
        return None
    try:
        receipt = _signer().loads(value, max_age=MAX_AGE)
    except BadSignature:  # altered, another server's, or older than MAX_AGE
        return None
    if not isinstance(receipt, dict) or receipt.get("state") != _digest(state):
        return None
    tenant_pk = receipt.get("tenant")
    tenant = session.get(Tenant, tenant_pk) if isinstance(tenant_pk, int) else None
    if tenant is None or tenant.app_pk != app.id:
        return None
    kept = {k: receipt.get(k) for k in ("ref", "ref_from", "return_to")}
    return Receipt(
        tenant, InstallContext(**{k: v if isinstance(v, str) else None for k, v in kept.items()})
    )


def _signer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="suite_server.install-receipt")


def _digest(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()[:32]
