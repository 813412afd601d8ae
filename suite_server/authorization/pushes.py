"""Authorization pushes, processed after `success` from the stored event: WeCom create_auth,
change_auth, cancel_auth, reset_permanent_code; Open authorized, updateauthorized,
unauthorized (wecom-suite.md §3, open-platform.md §2)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from suite_server.authorization import context, flow, preauth
from suite_server.models import App, InboundEvent
from suite_server.protocol import kinds, xml
from suite_server.tenants import lifecycle


def handles(app: App, kind: str) -> bool:
    return kind in kinds.AUTHORIZATIONS[app.platform]


def _code(fields: dict[str, str]) -> str:
    # A registration push names its code in lower case (registrations.py).
    return (
        fields.get("AuthCode") or fields.get("AuthorizationCode") or fields.get("auth_code") or ""
    )


def allow_rerun(session: Session, app: App, event: InboundEvent) -> None:
    """Before a failed push is run again by hand: forget the refusal recorded for its code, so
    the code is tried once more instead of failing on the old answer. The caller commits."""
    code = _code(xml.parse(event.payload))
    if code:
        flow.release_failed_claim(session, app, code)


def process(session: Session, app: App, event: InboundEvent, api, app_token: str) -> str:
    """Act on one stored push; returns the event's outcome ("done" or "ignored"). Raises
    UpstreamError for the caller to retry or fail, flow.InstallError when the code is refused.
    Idempotent: running it twice leaves the same state (a code is exchanged once)."""
    fields = xml.parse(event.payload)
    kind = event.kind
    if kind in ("create_auth", "authorized", "updateauthorized", "reset_permanent_code"):
        code = _code(fields)
        if not code:
            return "ignored"
        # open-platform.md §2: the push names the pre-auth code its approval used up; stop
        # handing it out even if the browser never comes back to /done.
        preauth.retire_code(session, app, fields.get("PreAuthCode", ""))
        action = {"updateauthorized": "auth_changed", "reset_permanent_code": "credential_reset"}
        # The install's ref, when it was started with one (context.py): by the push's State
        # (WeCom) or its dedicated PreAuthCode (Open).
        found = context.of_push(session, app, fields)
        flow.exchange_code(
            session,
            app,
            code,
            api,
            app_token,
            source="push",
            action=action.get(kind, ""),
            context=found,
            authorizer=fields.get("AuthorizerAppid", ""),
        )
        return "done"
    tenant_id = fields.get("AuthCorpId") or fields.get("AuthorizerAppid")
    tenant = lifecycle.find_tenant(session, app, tenant_id)
    if tenant is None:
        return "ignored"  # never installed here, or already gone
    if kind in ("cancel_auth", "unauthorized"):
        lifecycle.cancel_tenant(session, tenant, "push", f"{kind} pushed by the platform")
    elif kind == "change_auth" and tenant.status == "active":
        # Visibility, permissions or auth mode changed: re-read the auth info (wecom-suite.md §3).
        answer = api.get_auth_info(app_token, tenant.tenant_id, tenant.credential)
        lifecycle.merge_auth_info(tenant, answer)
        lifecycle.record(session, tenant, "auth_changed", "push")
    session.commit()
    return "done"
