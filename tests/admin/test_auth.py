"""Signing in and out of the admin UI: passwords, lockout, CSRF, session cookie and lifetime."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from suite_server import db
from suite_server.admin import auth
from suite_server.db import utcnow
from suite_server.models import AdminUser, AuditEntry
from tests.admin.conftest import PASSWORD, USERNAME, csrf_token, post, sign_in
from tests.conftest import make_app


def user() -> AdminUser:
    db.session().expire_all()
    return db.session().scalar(select(AdminUser).where(AdminUser.username == USERNAME))


def actions() -> list[tuple[str, str]]:
    db.session().expire_all()
    return [(e.actor, e.action) for e in db.session().scalars(select(AuditEntry))]


def test_login_with_the_right_password(client, admin_user):
    response = sign_in(client)
    assert response.status_code == 302 and response.headers["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    assert user().last_login_at is not None and user().failed_logins == 0
    assert actions() == [(USERNAME, "login")]


def test_a_wrong_password_and_an_unknown_user_get_the_same_answer(client, admin_user):
    wrong = sign_in(client, password="not the password")
    unknown = sign_in(client, username="nobody")
    assert wrong.status_code == unknown.status_code == 401
    assert auth.REFUSED in wrong.get_data(as_text=True)
    assert auth.REFUSED in unknown.get_data(as_text=True)
    assert user().failed_logins == 1
    assert client.get("/admin/").status_code == 302  # still signed out


def test_five_failures_lock_the_account_for_fifteen_minutes(client, admin_user):
    for _ in range(auth.LOCK_AFTER):
        assert sign_in(client, password="guess").status_code == 401
    locked_until = user().locked_until
    assert locked_until is not None
    assert timedelta(minutes=14) < locked_until - utcnow() <= timedelta(minutes=15)
    assert (USERNAME, "account_locked") in actions()

    # Locked: the right password is refused too, with the same message as any failure.
    refused = sign_in(client)
    assert refused.status_code == 401 and auth.REFUSED in refused.get_data(as_text=True)
    assert "locked for 15 minutes" in refused.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302

    # Fifteen minutes later it opens again.
    row = user()
    row.locked_until = utcnow() - timedelta(seconds=1)
    db.session().commit()
    assert sign_in(client).status_code == 302
    assert user().locked_until is None and user().failed_logins == 0


def test_a_success_resets_the_count(client, admin_user):
    for _ in range(auth.LOCK_AFTER - 1):
        sign_in(client, password="guess")
    assert sign_in(client).status_code == 302
    assert user().failed_logins == 0 and user().locked_until is None


def test_logout_needs_the_csrf_token_and_ends_the_session(signed_in):
    refused = signed_in.post("/admin/logout")
    assert refused.status_code == 400
    assert signed_in.get("/admin/").status_code == 200  # still signed in

    response = post(signed_in, "/admin/", "/admin/logout")
    assert response.status_code == 302 and response.headers["Location"] == "/admin/login"
    assert signed_in.get("/admin/").status_code == 302
    assert actions()[-1] == (USERNAME, "logout")


def test_login_without_the_csrf_token_is_refused(client, admin_user):
    response = client.post("/admin/login", data={"username": USERNAME, "password": PASSWORD})
    assert response.status_code == 400
    assert "security token" in response.get_data(as_text=True)
    assert user().last_login_at is None


def test_a_token_from_another_session_is_refused(client, app, admin_user):
    other = app.test_client()
    token = csrf_token(other, "/admin/login")
    response = client.post(
        "/admin/login", data={"csrf_token": token, "username": USERNAME, "password": PASSWORD}
    )
    assert response.status_code == 400


def test_after_login_the_page_asked_for_is_shown_but_never_another_site(client, admin_user):
    response = client.get("/admin/audit?actor=x")
    assert response.headers["Location"] == "/admin/login?next=/admin/audit?actor%3Dx"
    token = csrf_token(client, "/admin/login")
    data = {"csrf_token": token, "username": USERNAME, "password": PASSWORD}
    back = client.post("/admin/login?next=/admin/audit?actor%3Dx", data=data)
    assert back.headers["Location"] == "/admin/audit?actor=x"
    post(client, "/admin/", "/admin/logout")
    data["csrf_token"] = csrf_token(client, "/admin/login")
    away = client.post("/admin/login?next=//evil.example/admin/", data=data)
    assert away.headers["Location"] == "/admin/"


def test_session_cookie_is_httponly_and_samesite(client, admin_user):
    response = sign_in(client)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # PUBLIC_URL is http:// in tests


def test_session_cookie_is_secure_behind_https(tmp_path):
    app = make_app(
        tmp_path / "instance", f"sqlite:///{tmp_path / 'db.sqlite'}",
        PUBLIC_URL="https://suite.example.com",
    )  # fmt: skip
    response = app.test_client().get("/admin/login")
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_a_session_ends_after_twelve_hours(signed_in):
    with signed_in.session_transaction("/admin/") as session:
        session["signed_in_at"] -= 12 * 3600 + 1
    response = signed_in.get("/admin/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/admin/login")
    assert signed_in.get("/admin/").status_code == 302
