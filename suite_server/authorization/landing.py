"""Where the browser lands after an install, and the signed statement it carries there.

The landing redirect goes to the install link's `return_to` (when the app's allow-list still
admits it), else to the app's landing URL, with `?install=<assertion>`: an HMAC-SHA256-signed,
expiring statement of (platform, app_id, tenant_id, ref, ref_from, iat, exp, jti), so the ISV's
page knows which tenant was installed, for which of its customers, without trusting the query
string (docs/install.md). The key is the app's landing secret: made when a landing URL or an allowed
prefix is first set (the CLI prints it once), or at the first landing of an app configured
before the secret existed (a warning says to fetch it by rotating).

Format: base64url(compact JSON) "." base64url(HMAC-SHA256(secret, the first part)), without
padding; suite_server/client.py `verify_install` checks it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit, urlunsplit

from flask_babel import gettext as _
from sqlalchemy import update
from sqlalchemy.orm import Session

from suite_server.apps import check_landing_url
from suite_server.authorization.context import InstallContext
from suite_server.errors import ValidationError
from suite_server.models import App, Tenant

log = logging.getLogger(__name__)

ASSERTION_SECONDS = 600
MAX_URL = 500  # apps.landing_url, install_states.return_to and install_links.return_to
MAX_PREFIXES = 50
_DEFAULT_PORTS = {"http": 80, "https": 443}
_UNSET: Any = object()


# -- return_to and the allow-list ----------------------------------------------------------


def check_url(url: str, what: str, *, prefix: bool = False) -> str:
    """An absolute http(s) URL of at most MAX_URL characters, with a host and no user info,
    control characters, backslashes or dot segments (a browser would resolve those to another
    path than the one compared). A prefix has no query or fragment either. ValidationError
    saying what is wrong, naming `what` (in the admin's language on the admin's pages: gettext
    is English everywhere else)."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL:
        raise ValidationError(
            _(
                "%(what)s must be an http(s) URL of at most %(max)s characters",
                what=what,
                max=MAX_URL,
            )
        )
    if any(c <= " " or c in "\\\x7f" for c in url):
        raise ValidationError(
            _("%(what)s must not contain spaces, control characters or '\\'", what=what)
        )
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018  (raises ValueError for a port that is not a number in range)
    except ValueError:
        raise ValidationError(_("%(what)s has an invalid port", what=what)) from None
    if parts.scheme.lower() not in _DEFAULT_PORTS or not parts.hostname:
        raise ValidationError(
            _("%(what)s must start with http:// or https:// and name a host", what=what)
        )
    if "@" in parts.netloc:
        raise ValidationError(_("%(what)s must not carry a user name or password", what=what))
    if any(unquote(s) in (".", "..") for s in parts.path.split("/")):
        raise ValidationError(_("%(what)s must not contain '.' or '..' path segments", what=what))
    if prefix and (parts.query or parts.fragment or "?" in url or "#" in url):
        raise ValidationError(_("%(what)s must not have a query or a fragment", what=what))
    return url


def parse_allow_list(lines: str | list[str] | None) -> list[str]:
    """The allowed return_to prefixes, one per line (blank lines ignored), each checked."""
    if lines is None:
        return []
    if isinstance(lines, str):
        lines = lines.splitlines()
    prefixes = [line.strip() for line in lines if line.strip()]
    if len(prefixes) > MAX_PREFIXES:
        raise ValidationError(_("at most %(max)s return_to prefixes", max=MAX_PREFIXES))
    for line in prefixes:
        check_url(line, _("return_to prefix %(prefix)s", prefix=repr(line[:60])), prefix=True)
    return list(dict.fromkeys(prefixes))


def allowed_prefixes(app: App) -> list[str]:
    return [line for line in (app.return_to_allowed or "").splitlines() if line]


def _origin(parts) -> tuple[str, str, int]:
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS[scheme]


def admits(prefix: str, url: str) -> bool:
    """Whether the allowed `prefix` admits `url`: the same scheme, host and port exactly, and a
    path under the prefix's: `https://a.com/app` admits `/app` and `/app/x`, not `/apple`;
    `https://a.com` admits the whole site and `https://a.com.evil.com` not at all."""
    want, got = urlsplit(prefix), urlsplit(url)
    try:
        if _origin(want) != _origin(got):
            return False
    except ValueError:  # a port out of range
        return False
    base, path = want.path or "/", got.path or "/"
    if base.endswith("/"):
        return path.startswith(base)
    return path == base or path.startswith(base + "/")


def return_to_allowed(app: App, url: str) -> bool:
    """Whether `url` is a well-formed return_to that one of the app's prefixes admits."""
    try:
        check_url(url, "return_to")
    except ValidationError:
        return False
    return any(admits(prefix, url) for prefix in allowed_prefixes(app))


# -- the secret ----------------------------------------------------------------------------


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def configure(
    app: App,
    *,
    url: str | None = _UNSET,
    allow: list[str] | None = None,
    clear_allow: bool = False,
    rotate: bool = False,
) -> str | None:
    """Set the landing URL (None or "" clears it), add allowed prefixes (after clearing them,
    with `clear_allow`), rotate the secret. A secret is made when the app has a landing URL or
    a prefix and none yet. Returns a newly made secret (to be shown once); the caller commits.
    ValidationError for a refused value, before anything changes."""
    landing = app.landing_url
    if url is not _UNSET:
        landing = check_landing_url((url or "").strip())
        if landing:
            check_url(landing, _("landing URL"))
    prefixes = [] if clear_allow else allowed_prefixes(app)
    prefixes = parse_allow_list([*prefixes, *(allow or [])])
    app.landing_url = landing
    app.return_to_allowed = "\n".join(prefixes) or None
    if rotate or (not app.landing_secret and (app.landing_url or app.return_to_allowed)):
        app.landing_secret = new_secret()
        return app.landing_secret
    return None


def secret_for_landing(session: Session, app: App) -> str:
    """The app's landing secret; an app configured before secrets existed gets one now (the
    first process to store it wins), with a warning: the ISV cannot verify until it fetches it
    by rotating. Commits when it makes one."""
    if app.landing_secret:
        return app.landing_secret
    made = session.execute(
        update(App)
        .where(App.id == app.id, App.landing_secret.is_(None))
        .values(landing_secret=new_secret())
        .execution_options(synchronize_session=False)
    ).rowcount
    session.commit()
    session.refresh(app)
    if made:
        log.warning(
            "app %s had no landing secret: one was made for its landing redirect; the ISV's "
            "landing page cannot verify it until someone runs `suite-server apps landing %s "
            "--rotate-secret` and gives it the secret printed",
            app.app_id,
            app.app_id,
        )
    return app.landing_secret


# -- the assertion -------------------------------------------------------------------------


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def sign(secret: str, claims: dict[str, Any]) -> str:
    body = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    mac = hmac.new(secret.encode(), body.encode("ascii"), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


def assertion(secret: str, app: App, tenant: Tenant, found: InstallContext, now: float) -> str:
    iat = int(now)
    claims = {
        "platform": app.platform,
        "app_id": app.app_id,
        "tenant_id": tenant.tenant_id,
        "ref": found.ref,
        "ref_from": found.ref_from,  # "link": the ISV minted it; "query": anyone may have
        "iat": iat,
        "exp": iat + ASSERTION_SECONDS,
        "jti": secrets.token_urlsafe(12),  # lets a landing page refuse a replay
    }
    return sign(secret, claims)


def target(app: App, return_to: str | None) -> str | None:
    """Where this install lands: its return_to while the allow-list still admits it (an admin
    may have removed the prefix since the link was made), else the landing URL, else nowhere
    (the built-in page)."""
    if return_to:
        if return_to_allowed(app, return_to):
            return return_to
        log.warning(
            "app %s: return_to no longer allowed; landing on the landing URL instead", app.app_id
        )
    return app.landing_url or None


def redirect_url(
    session: Session,
    app: App,
    tenant: Tenant,
    found: InstallContext,
    *,
    now: float | None = None,
) -> str | None:
    """The landing URL with `install=<assertion>` added (any `install` parameter it had is
    replaced), or None when the app has nowhere to land."""
    where = target(app, found.return_to)
    if where is None:
        return None
    signed = assertion(secret_for_landing(session, app), app, tenant, found, now or time.time())
    parts = urlsplit(where)
    # The URL's own parameters are kept as they were written, only `install` is replaced.
    kept = [p for p in parts.query.split("&") if p and p.split("=", 1)[0] != "install"]
    query = "&".join([*kept, urlencode({"install": signed})])
    return urlunsplit(parts._replace(query=query))
