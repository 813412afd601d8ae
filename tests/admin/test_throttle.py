"""Sign-in throttling per client address and per account, with growing delays: guesses from one
place never keep the real admin out, guesses from many places do not keep them out of the places
they sign in from, and the address is the one the deployment's proxies report, never a header
believed by default. The clock is patched; requests go through the test client."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from suite_server import db
from suite_server.admin import auth, throttle
from suite_server.db import utcnow
from suite_server.models import AdminSession, AuditEntry, LoginThrottle
from tests.admin.conftest import USERNAME, BrowserLikeClient, sign_in, signed_in_ok
from tests.conftest import make_app

ATTACKER, OFFICE, HOTEL = "203.0.113.66", "198.51.100.7", "192.0.2.44"


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self):
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(auth, "utcnow", clock)
    return clock


def guess(client, address: str, n: int = 1, username: str = USERNAME) -> None:
    for i in range(n):
        response = sign_in(client, username=username, password=f"guess {i}", address=address)
        assert not signed_in_ok(response)


def can_sign_in(app, address: str) -> bool:
    """The right password from `address`, in a browser of its own."""
    return signed_in_ok(sign_in(app.test_client(), address=address))


def test_five_failures_from_one_place_hold_it_back_a_minute(app, client, admin_user, clock):
    guess(client, ATTACKER, throttle.ADDRESS_FREE)
    # Held back: even the right password is refused, with the same answer as a wrong one.
    assert not can_sign_in(app, ATTACKER)
    clock.advance(timedelta(seconds=59))
    assert not can_sign_in(app, ATTACKER)
    clock.advance(timedelta(seconds=2))
    assert can_sign_in(app, ATTACKER)
    # A success starts the address afresh.
    guess(client, ATTACKER, throttle.ADDRESS_FREE - 1)
    assert can_sign_in(app, ATTACKER)


def test_failures_are_forgotten_a_day_after_the_last(app, client, admin_user, clock):
    guess(client, ATTACKER, throttle.ADDRESS_FREE - 1)
    clock.advance(throttle.FORGET_AFTER + timedelta(seconds=1))
    guess(client, ATTACKER, throttle.ADDRESS_FREE - 1)
    assert can_sign_in(app, ATTACKER)


def test_the_delays_grow_as_documented(app, client, admin_user, clock):
    guess(client, ATTACKER, throttle.ADDRESS_FREE)
    for minutes in (1, 2, 4, 8, 15, 15):
        wait = timedelta(minutes=minutes)
        assert _blocked_for() == wait
        clock.advance(wait - timedelta(seconds=1))
        before = _address_failures()
        guess(client, ATTACKER)  # a second early: refused unchecked, and not counted
        assert _address_failures() == before
        clock.advance(timedelta(seconds=1))
        guess(client, ATTACKER)  # on time: checked (wrong), counted, and the next wait is longer
        assert _address_failures() == before + 1


def _row():
    db.session().expire_all()
    return db.session().get(LoginThrottle, throttle.address_key(ATTACKER))


def _address_failures() -> int:
    row = _row()
    return row.failures if row else 0


def _blocked_for() -> timedelta:
    row = _row()
    return row.blocked_until - row.last_failure_at


def test_guesses_from_one_place_never_keep_the_admin_out(app, client, admin_user, clock):
    assert can_sign_in(app, OFFICE)  # where the admin usually signs in from
    # Guessing from one place as fast as the delays let it, more than ACCOUNT_FREE times.
    for _ in range(throttle.ACCOUNT_FREE + 2):
        guess(client, ATTACKER)
        clock.advance(timedelta(minutes=15, seconds=1))
    assert _address_failures() == throttle.ACCOUNT_FREE + 2  # every guess was let through
    # The admin gets in from their usual place and from a new one alike.
    assert can_sign_in(app, OFFICE)
    assert can_sign_in(app, HOTEL)
    assert not any(
        a == "account_locked" for (a,) in db.session().execute(select(AuditEntry.action))
    )


def test_guesses_from_many_places_hold_back_new_places_only(app, client, admin_user, clock):
    assert can_sign_in(app, OFFICE)
    signed_in = app.test_client()
    assert signed_in_ok(sign_in(signed_in, address=OFFICE))
    # Two guesses from each of many places: the account's delays begin at ACCOUNT_FREE.
    for n in range(throttle.ACCOUNT_FREE // 2):
        guess(client, f"10.0.{n}.1", 2)
    assert not can_sign_in(app, HOTEL)  # a place the admin never signed in from waits too
    assert can_sign_in(app, OFFICE)  # a place they did is never held back by others' guesses
    db.session().expire_all()
    [locked] = (
        db.session().scalars(select(AuditEntry).where(AuditEntry.action == "account_locked")).all()
    )
    assert locked.actor == USERNAME and locked.detail["failures"] == throttle.ACCOUNT_FREE
    # The lockout ended the sessions open then (the one just opened from the office is new).
    assert signed_in.get("/admin/").status_code == 302
    # The account's wait passes like an address's.
    clock.advance(timedelta(minutes=1, seconds=1))
    assert can_sign_in(app, HOTEL)


def test_unknown_usernames_count_on_the_address(app, client, admin_user, clock):
    for n in range(throttle.ADDRESS_FREE):
        guess(client, ATTACKER, username=f"nobody{n}")
    assert not can_sign_in(app, ATTACKER)
    assert can_sign_in(app, OFFICE)


def test_x_forwarded_for_is_not_believed_by_default(app, client, admin_user, clock):
    for n in range(throttle.ADDRESS_FREE):
        sign_in(client, password="guess", address=ATTACKER)
        client.environ_base["HTTP_X_FORWARDED_FOR"] = f"10.9.9.{n}"  # a new "address" each time
    assert not can_sign_in(app, ATTACKER)


def test_behind_a_trusted_proxy_the_forwarded_address_counts(app, admin_user, clock, tmp_path):
    proxied = make_app(tmp_path / "proxied", app.config["DATABASE_URL"], TRUSTED_PROXIES=1)
    proxied.test_client_class = BrowserLikeClient
    try:
        proxy = "10.0.0.2"  # every request comes from the proxy's socket
        attacker = proxied.test_client()
        attacker.environ_base["HTTP_X_FORWARDED_FOR"] = ATTACKER
        guess(attacker, proxy, throttle.ADDRESS_FREE)
        assert not signed_in_ok(sign_in(attacker, address=proxy))
        admin = proxied.test_client()
        admin.environ_base["HTTP_X_FORWARDED_FOR"] = f"{ATTACKER}, {OFFICE}"  # the proxy's is last
        assert signed_in_ok(sign_in(admin, address=proxy))
        db.session().expire_all()
        [row] = db.session().scalars(select(AdminSession))
        assert row.client_address == OFFICE
    finally:
        db.dispose(proxied)
