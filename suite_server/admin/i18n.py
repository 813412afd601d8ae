"""The admin in English and Simplified Chinese (Flask-Babel), and its clock.

The language is, in order: the one the signed-in admin chose (kept on their account), the one
chosen in this browser before signing in (a cookie set by the same switch), then the browser's
Accept-Language; English when none of these names one we have. Times are shown in the admin's
time zone (their own, else the ADMIN_TIMEZONE setting, Asia/Shanghai by default), with UTC on
hover: the platforms' consoles and the people using them are on Beijing time, our database and
logs on UTC.

The catalog is suite_server/admin/translations/zh/LC_MESSAGES/messages.po, kept up to date with
`python -m suite_server.admin.catalog` (catalog.py), which also compiles the .mo read here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Flask, Response, current_app, g, has_request_context, request
from flask_babel import Babel
from flask_login import current_user
from markupsafe import Markup

LANGUAGES = {"en": "English", "zh": "中文"}  # each named in itself, as language switches are
COOKIE = "admin_lang"
TRANSLATIONS = Path(__file__).parent / "translations"


def init_app(app: Flask) -> None:
    app.config.update(BABEL_DEFAULT_LOCALE="en", BABEL_TRANSLATION_DIRECTORIES=str(TRANSLATIONS))
    Babel(app, locale_selector=locale, timezone_selector=zone_name)
    app.jinja_env.filters["local"] = local
    app.jinja_env.globals.update(LANGUAGES=LANGUAGES, current_locale=locale, time_zone=zone_name)


def locale() -> str:
    if not has_request_context() or not request.path.startswith("/admin"):
        # The CLI, jobs, the token API and callbacks stay in English, whatever a client's
        # Accept-Language: their messages are part of the contract and of the logs.
        return "en"
    chosen = getattr(current_user, "locale", None) if _signed_in() else None
    chosen = chosen or request.cookies.get(COOKIE)
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(LANGUAGES) or "en"


def remember(response: Response, chosen: str | None) -> Response:
    """This browser keeps `chosen` for the pages seen signed out (the sign-in page, after
    signing out); "" forgets it (back to Accept-Language), None keeps what it had."""
    if chosen == "":
        response.delete_cookie(COOKIE, path="/admin")
    elif chosen in LANGUAGES:
        response.set_cookie(
            COOKIE,
            chosen,
            max_age=365 * 86400,
            path="/admin",
            httponly=True,
            samesite="Lax",
            secure=current_app.session_interface.get_cookie_secure(current_app),
        )
    return response


def zone_name() -> str:
    chosen = getattr(current_user, "timezone", None) if _signed_in() else None
    return chosen or current_app.config["ADMIN_TIMEZONE"]


def _signed_in() -> bool:
    return has_request_context() and current_user.is_authenticated


def zone() -> ZoneInfo:
    if has_request_context():
        if "admin_zone" not in g:
            g.admin_zone = ZoneInfo(zone_name())
        return g.admin_zone
    return ZoneInfo(current_app.config["ADMIN_TIMEZONE"])


def valid_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def local(value: datetime | None, seconds: bool = True) -> str:
    """The moment on the admin's clock, "2026-12-01 16:00:05"."""
    if value is None:
        return "-"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(zone()).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def when(value: datetime | None, relative: str = "") -> Markup:
    """A <time> showing the moment on the admin's clock, UTC (and `relative`) on hover."""
    if value is None:
        return Markup("-")
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    utc_text = value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    title = f"{utc_text} · {relative}" if relative else utc_text
    return Markup('<time datetime="{}" title="{}">{}</time>').format(
        value.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        title,
        local(value),
    )
