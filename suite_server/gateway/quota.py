"""An Open Platform account's daily API quota, its resets and the request behind an error's rid
(isv-capabilities §14), asked with the account's own token.

- `quota`: `openapi/quota/get` for one API path: the day's limit, what is used, what remains.
- `clear`: `clear_quota` with the account's token; when no token can be had (the refresh token
  is dead, the platform refuses one), `component/clear_quota/v2` with the component's secret.
  The platform allows CLEARS_A_MONTH a calendar month (Beijing time) per account and does not
  say how many are left, so each reset made here is kept (`quota_clears`) and counted; a reset
  past the budget is refused here before the platform is asked (it would answer 48006).
- `request_of`: `openapi/rid/get`: what the platform recorded of a call that failed, found by
  the `rid` in its errmsg.

A 45009 ("daily quota reached") answered through the proxy is counted per tenant and path in
`proxy_errcodes` (errcodes.py), like every errcode.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from suite_server.db import utcnow
from suite_server.errors import ValidationError
from suite_server.models import App, ProxyErrcode, QuotaClear, Tenant
from suite_server.tokens.service import TokenUnavailable, app_token, serve_tenant_token
from suite_server.upstream import api_for

CLEARS_A_MONTH = 10
BEIJING = timedelta(hours=8)
OVER_QUOTA = 45009
_PATH = re.compile(r"/[\x21-\x7e]{1,199}")
_RID = re.compile(r"[0-9A-Za-z-]{1,64}")


def month_start(now: datetime) -> datetime:
    """The start (in UTC) of the Beijing calendar month `now` is in."""
    local = (now.astimezone(UTC) + BEIJING).replace(day=1, hour=0, minute=0, second=0)
    return local.replace(microsecond=0) - BEIJING


def day_start(now: datetime) -> datetime:
    """The start (in UTC) of the Beijing day `now` is in: when daily quotas start again."""
    local = (now.astimezone(UTC) + BEIJING).replace(hour=0, minute=0, second=0, microsecond=0)
    return local - BEIJING


def over_quota(session: Session, now: datetime | None = None, limit: int = 100) -> list[dict]:
    """Tenants refused for their daily quota (45009) through the proxy since the Beijing day
    began, per path, the latest first: down for that API until midnight unless reset."""
    since = day_start(now or utcnow())
    rows = session.execute(
        select(
            App.app_id,
            ProxyErrcode.tenant_id,
            Tenant.name,
            ProxyErrcode.path,
            ProxyErrcode.count,
            ProxyErrcode.last_at,
        )
        .join(App, App.id == ProxyErrcode.app_pk)
        .outerjoin(
            Tenant,
            (Tenant.app_pk == ProxyErrcode.app_pk) & (Tenant.tenant_id == ProxyErrcode.tenant_id),
        )
        .where(ProxyErrcode.errcode == OVER_QUOTA, ProxyErrcode.last_at >= since)
        .order_by(ProxyErrcode.last_at.desc())
        .limit(limit)
    )
    return [row._asdict() for row in rows]


def clears_left(session: Session, app: App, account: Tenant | None, now: datetime | None = None):
    """How many resets this account has left this month, as far as the ones made here tell."""
    since = month_start(now or utcnow())
    made = session.scalar(
        select(func.count()).where(
            QuotaClear.app_pk == app.id,
            QuotaClear.tenant_id == _account_id(app, account),
            QuotaClear.cleared_at >= since,
        )
    )
    return max(0, CLEARS_A_MONTH - (made or 0))


def check_path(cgi_path: str) -> str:
    path = (cgi_path or "").strip()
    if not _PATH.fullmatch(path):
        raise ValidationError(
            _("cgi_path must be an API path such as /cgi-bin/message/custom/send")
        )
    return path


def check_rid(rid: str) -> str:
    value = (rid or "").strip()
    if not _RID.fullmatch(value):
        raise ValidationError(
            _("a rid is up to 64 letters, digits and -, as in an errmsg's rid: …")
        )
    return value


def quota(session: Session, app: App, account: Tenant | None, cgi_path: str) -> dict[str, Any]:
    """The account's quota of one path: {daily_limit, used, remain} and the rate limits.
    Raises UpstreamError (76021: no such path) or TokenUnavailable."""
    path = check_path(cgi_path)
    answer = _api(app).quota_get(_token(session, app, account), path)
    return {
        "cgi_path": path,
        **(answer.get("quota") or {}),
        "rate_limit": answer.get("rate_limit"),
        "component_rate_limit": answer.get("component_rate_limit"),
    }


def clear(session: Session, app: App, account: Tenant | None, actor: str) -> str:
    """Reset the account's quota of the day; returns how ("token" or "secret"). Commits the
    reset's row. ValidationError when no reset is left this month; UpstreamError when the
    platform refuses (48006: none left)."""
    if clears_left(session, app, account) <= 0:
        raise ValidationError(
            _(
                "no quota reset left this month: %(count)s were made from here already",
                count=CLEARS_A_MONTH,
            )
        )
    api, appid = _api(app), _account_id(app, account) or app.app_id
    try:
        token = _token(session, app, account)
    except TokenUnavailable:
        api.clear_quota_v2(app.app_id, app.secret, appid)
        via = "secret"
    else:
        api.clear_quota(token, appid)
        via = "token"
    tenant_id = _account_id(app, account)
    session.add(QuotaClear(app_pk=app.id, tenant_id=tenant_id, via=via, actor=actor[:200]))
    session.commit()
    return via


def request_of(session: Session, app: App, account: Tenant | None, rid: str) -> dict[str, Any]:
    """What the platform recorded of the failed call `rid` of this account."""
    value = check_rid(rid)
    return _api(app).rid_get(_token(session, app, account), value)


def _api(app: App):
    if app.platform != "open":
        raise ValidationError(_("API quotas are the Open Platform's: WeCom has no quota API"))
    return api_for(app.platform, current_app.config)


def _account_id(app: App, account: Tenant | None) -> str:
    return account.tenant_id if account is not None else ""


def _token(session: Session, app: App, account: Tenant | None) -> str:
    """The account's own token: an authorizer's, or the component's (commits, as the token
    service does)."""
    if account is None:
        return app_token(session, app, _api(app))
    return serve_tenant_token(session, account).access_token  # 409 for a tenant not active
