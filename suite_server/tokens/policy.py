"""When a token may be served and when it is refreshed.

- A token is served only while at least TOKEN_MIN_REMAINING seconds remain, capped at half its
  lifetime (`margin`). Background jobs refresh it earlier, at its `refresh_at`: a random point in
  the last quarter of its useful life (at most 30 minutes), so tokens obtained together spread out.
- Except on WeCom, which hands back the token it already issued until that one expires
  (wecom-suite.md §4 "Token semantics"): asking earlier costs a call and returns the same token.
  A WeCom token is served down to its last LAST_SECONDS, and refreshed once, just after it
  expires; callers in between wait for that refresh.
"""

from __future__ import annotations

import random
import time
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy.orm import Session

from suite_server.db import utcnow
from suite_server.tokens.rows import TokenRow

AHEAD_SHARE, AHEAD_CAP = 0.25, 1800.0  # background refresh window: share of lifetime, capped
STALE_DEBOUNCE = timedelta(seconds=10)  # a token this fresh is not refreshed again on request
SAME_UNTIL_EXPIRY = frozenset({"wecom"})  # platforms whose token stays the same until it expires
LAST_SECONDS = 5  # such a token is served while this many seconds remain
AFTER_EXPIRY = 1.0  # and asked for again this long after our copy expires (which rounds down)


def margin(lifetime: float, min_remaining: float) -> float:
    """Seconds that must remain for a token to be served (contract.md TOKEN_MIN_REMAINING)."""
    return min(min_remaining, lifetime / 2)


def refresh_time(obtained_at: datetime, expires_at: datetime, min_remaining: int) -> datetime:
    """When the background refresh is due: before the serving margin, at a random point of the
    last AHEAD_SHARE of the token's useful life."""
    lifetime = (expires_at - obtained_at).total_seconds()
    useful = lifetime - margin(lifetime, min_remaining)
    ahead = min(useful * AHEAD_SHARE, AHEAD_CAP)
    return obtained_at + timedelta(seconds=useful - random.uniform(0, ahead))


def usable_until(obtained_at: datetime, expires_at: datetime, same: bool) -> datetime:
    """The last moment a token may be served: while TOKEN_MIN_REMAINING remains (capped at half
    its lifetime), or, when `same` (its platform hands back the current token until it expires,
    SAME_UNTIL_EXPIRY), to its last LAST_SECONDS."""
    if same:
        return expires_at - timedelta(seconds=LAST_SECONDS)
    lifetime = (expires_at - obtained_at).total_seconds()
    keep = margin(lifetime, current_app.config["TOKEN_MIN_REMAINING"])
    return expires_at - timedelta(seconds=keep)


def next_refresh(same: bool, obtained_at: datetime, expires_at: datetime) -> datetime:
    """When the background refresh is due: refresh_time, or just after expiry on WeCom."""
    if same:
        return expires_at + timedelta(seconds=AFTER_EXPIRY)
    return refresh_time(obtained_at, expires_at, current_app.config["TOKEN_MIN_REMAINING"])


# -- what a caller needs: one of these is the `need(row, now, same)` of store.obtain -----------


def unusable(row: TokenRow, now: datetime, same: bool) -> bool:
    """No token to serve now."""
    if not row.access_token or row.obtained_at is None or row.expires_at is None:
        return True
    return now > usable_until(row.obtained_at, row.expires_at, same)


def refresh_due(row: TokenRow, now: datetime, same: bool) -> bool:
    """No token to serve now, or its background refresh time has come."""
    return unusable(row, now, same) or row.refresh_at is None or row.refresh_at <= now


def stale(stale_token: str | None):
    """A caller saw 40001/42001 with `stale_token`: refresh only if it is still the current
    token (and was not obtained in the last STALE_DEBOUNCE)."""

    def need(row: TokenRow, now: datetime, same: bool) -> bool:
        if unusable(row, now, same) or not stale_token:
            return True
        # WeCom hands back the same token while it is valid, so "still the stale one" is also
        # true right after a refresh: one obtained in the last few seconds is the answer.
        return row.access_token == stale_token and row.obtained_at < now - STALE_DEBOUNCE

    return need


# -- WeCom: the same token until it expires ---------------------------------------------------


def wait_out(session: Session, expires_at: datetime | None, same: bool) -> None:
    """On WeCom, a token in its last seconds is only renewed once it has expired: sleep until
    then (holding no connection) rather than spend a call on getting the same token back. A
    token refused earlier, with more time left, is asked about at once."""
    if not same or expires_at is None:
        return
    pause = (expires_at - utcnow()).total_seconds() + AFTER_EXPIRY
    if 0 < pause <= LAST_SECONDS + AFTER_EXPIRY:
        session.commit()
        time.sleep(pause)


def still_the_old_one(row: TokenRow, access_token: str, expires_in: int, same: bool) -> bool:
    """WeCom answered with the token we had, in its last seconds: the platform's clock is a
    little behind ours (our copy's expiry rounds its answer down), so ask once more after it."""
    return same and access_token == row.access_token and expires_in < LAST_SECONDS
