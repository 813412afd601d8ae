"""Pre-auth codes shared by the installs started while one is valid.

Every anonymous `GET /install/<app_id>` used to ask the platform for a new pre-auth code, so
anyone could spend the app's API quota with a loop. A code is valid for its `expires_in`
(WeCom 1200 s, wecom-suite.md §4; Open 600 s, open-platform.md §4.2), so one is handed to every
install started until MARGIN before it expires: whoever is sent to the platform's page with it
still has that long to approve. The row in the database shares it between processes; two
processes that find none at the same moment each fetch one, which is harmless.

The Open Platform takes a code for one approval only (open-platform.md §4.2 "use each code once";
the sandbox holds WeCom's to the same rule), so a code is retired as soon as an approval went
through with it: when the browser comes back to /done with a state it was handed with, or when
the Open `authorized` push names it (PreAuthCode). Two people on the platform's page with the same
code at the same minute remain possible: the second is told by the platform to start again, and
gets a fresh code once the first one's approval retired it.

An install that carries a context (a `ref`, or an install link: context.py) on the Open Platform
gets a code of its own instead (`dedicated`), handed to no other install: the `authorized` push
names the pre-auth code, not the state, and only a code of one install says whose it was.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from suite_server.db import utcnow
from suite_server.models import App, InstallState, PreAuthCode

MARGIN = timedelta(minutes=5)


def code_for(
    session: Session, app: App, api, app_token: Callable[[], str], *, dedicated: bool = False
) -> PreAuthCode:
    """A code for one more install: the shared one while it has more than MARGIN left, else a
    new one from the platform (`app_token` is called only then). `dedicated`: always a new one,
    never shared. The caller commits."""
    now = utcnow()
    test_mode = bool(app.test_mode)
    shared = None
    if not dedicated:
        shared = session.scalar(
            select(PreAuthCode)
            .where(
                PreAuthCode.app_pk == app.id,
                PreAuthCode.test_mode == test_mode,
                PreAuthCode.dedicated.is_(False),
                PreAuthCode.used_at.is_(None),
                PreAuthCode.expires_at > now + MARGIN,
            )
            .order_by(PreAuthCode.expires_at.desc())
            .limit(1)
        )
    if shared is not None:
        return shared
    token = app_token()
    if app.platform == "wecom":
        fresh = api.get_pre_auth_code(token)
        if test_mode:
            api.set_session_info(token, fresh.code, auth_type=1)  # 1 = test install (§4)
    else:
        fresh = api.create_preauthcode(token, app.app_id)
    row = PreAuthCode(
        app_pk=app.id,
        code=fresh.code,
        test_mode=test_mode,
        obtained_at=now,
        expires_at=now + timedelta(seconds=fresh.expires_in),
        dedicated=dedicated,
    )
    session.add(row)
    session.flush()
    return row


def retire_for_state(session: Session, app: App, state: str) -> None:
    """The browser came back with `state`: the code it was handed went through an approval,
    whatever becomes of this state. The caller commits."""
    handed = (
        select(InstallState.pre_auth_code_id)
        .where(InstallState.app_pk == app.id, InstallState.state == state[:64])
        .scalar_subquery()
    )
    _retire(session, app, PreAuthCode.id == handed)


def retire_code(session: Session, app: App, code: str) -> None:
    """A push named `code` as the one its approval used (Open `authorized`'s PreAuthCode)."""
    if code:
        _retire(session, app, PreAuthCode.code == code)


def _retire(session: Session, app: App, which) -> None:
    session.execute(
        update(PreAuthCode.__table__)
        .where(PreAuthCode.app_pk == app.id, PreAuthCode.used_at.is_(None), which)
        .values(used_at=utcnow())
    )
