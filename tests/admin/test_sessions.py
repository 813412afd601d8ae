"""Admin sessions are rows the server can end: signing out, changing the password and a lockout
end them, a copy of the cookie included, and none outlives 12 hours."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from suite_server import db
from suite_server.admin import auth, throttle
from suite_server.db import utcnow
from suite_server.models import AdminSession, AuditEntry
from tests.admin.conftest import PASSWORD, USERNAME, BrowserLikeClient, post, sign_in, signed_in_ok

NEW_PASSWORD = "a brand new passphrase"


def copy_of(client, app) -> BrowserLikeClient:
    """Another browser holding a copy of `client`'s session cookie, as a thief would."""
    thief = app.test_client()
    thief.set_cookie("session", client.get_cookie("session").value)
    return thief


def test_a_cookie_copied_before_sign_out_opens_nothing_after(app, signed_in):
    thief = copy_of(signed_in, app)
    assert thief.get("/admin/").status_code == 200  # the copy works while the session lives
    post(signed_in, "/admin/", "/admin/logout")
    response = thief.get("/admin/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/admin/login")
    assert "Your session has ended" in thief.get("/admin/login").get_data(as_text=True)
    assert thief.get("/admin/audit").status_code == 302


def test_signing_out_ends_only_that_session(app, signed_in):
    other = app.test_client()
    assert signed_in_ok(sign_in(other))
    post(signed_in, "/admin/", "/admin/logout")
    assert other.get("/admin/").status_code == 200


def test_changing_the_password_ends_every_other_session(app, signed_in):
    other = app.test_client()
    assert signed_in_ok(sign_in(other))
    thief = copy_of(signed_in, app)

    response = post(
        signed_in,
        "/admin/account",
        "/admin/account/password",
        current=PASSWORD,
        new=NEW_PASSWORD,
        repeat=NEW_PASSWORD,
    )
    assert response.status_code == 303 and response.headers["Location"] == "/admin/account"
    assert "Password changed" in signed_in.get("/admin/account").get_data(as_text=True)
    assert signed_in.get("/admin/").status_code == 200  # this browser got a new session
    assert other.get("/admin/").status_code == 302
    assert thief.get("/admin/").status_code == 302  # the copy was of the old session
    assert not signed_in_ok(sign_in(app.test_client()))  # the old password is gone
    assert signed_in_ok(sign_in(app.test_client(), password=NEW_PASSWORD))
    db.session().expire_all()
    entry = db.session().scalar(select(AuditEntry).where(AuditEntry.action == "password_changed"))
    assert entry.actor == USERNAME and entry.detail == {"sessions_ended": 2}


def test_a_wrong_current_password_or_a_short_new_one_changes_nothing(app, signed_in):
    for current, new, repeat in (
        ("not my password", NEW_PASSWORD, NEW_PASSWORD),
        (PASSWORD, "short", "short"),
        (PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "x"),
    ):
        response = post(
            signed_in,
            "/admin/account",
            "/admin/account/password",
            current=current,
            new=new,
            repeat=repeat,
        )
        assert response.status_code == 303
        page = signed_in.get("/admin/account").get_data(as_text=True)
        assert "Not changed" in page, (current, new, repeat)
    assert signed_in.get("/admin/").status_code == 200
    assert signed_in_ok(sign_in(app.test_client()))


def test_a_lockout_ends_the_sessions(app, client, signed_in):
    thief = copy_of(signed_in, app)
    guesser = app.test_client()
    for n in range(throttle.ACCOUNT_FREE):  # one guess from each of many places
        sign_in(guesser, password="guess", address=f"10.1.{n}.1")
    assert signed_in.get("/admin/").status_code == 302
    assert thief.get("/admin/").status_code == 302
    db.session().expire_all()
    ended = db.session().scalars(select(AdminSession.end_reason)).all()
    assert ended == ["account_locked"]


def test_a_session_ends_twelve_hours_after_sign_in(signed_in, monkeypatch):
    later = utcnow() + timedelta(hours=11, minutes=59)
    monkeypatch.setattr(auth, "utcnow", lambda: later)
    assert signed_in.get("/admin/").status_code == 200
    later += timedelta(minutes=1, seconds=1)
    response = signed_in.get("/admin/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/admin/login")
    assert signed_in.get("/admin/").status_code == 302
