"""Signing in and out of the admin UI: passwords, the answers (post/redirect/get), CSRF, where a
sign-in leads, the session cookie. Throttling: test_throttle.py; sessions: test_sessions.py."""

from __future__ import annotations

from sqlalchemy import select

from suite_server import db
from suite_server.admin import auth
from suite_server.models import AdminSession, AdminUser, AuditEntry, LoginThrottle
from tests.admin.conftest import PASSWORD, USERNAME, csrf_token, post, sign_in
from tests.conftest import make_app


def user() -> AdminUser:
    db.session().expire_all()
    return db.session().scalar(select(AdminUser).where(AdminUser.username == USERNAME))


def actions() -> list[tuple[str, str]]:
    db.session().expire_all()
    return [(e.actor, e.action) for e in db.session().scalars(select(AuditEntry))]


def test_login_with_the_right_password(client, admin_user):
    response = sign_in(client, address="198.51.100.7")
    assert response.status_code == 303 and response.headers["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    assert user().last_login_at is not None
    assert actions() == [(USERNAME, "login")]
    [row] = db.session().scalars(select(AdminSession))
    assert row.client_address == "198.51.100.7" and row.ended_at is None
    assert db.session().scalars(select(LoginThrottle)).all() == []  # the address starts afresh


def test_a_wrong_password_and_an_unknown_user_get_the_same_answer(client, admin_user):
    wrong = sign_in(client, password="not the password")
    wrong_page = client.get("/admin/login").get_data(as_text=True)
    unknown = sign_in(client, username="nobody")
    unknown_page = client.get("/admin/login").get_data(as_text=True)
    assert wrong.status_code == unknown.status_code == 303
    assert wrong.headers["Location"] == unknown.headers["Location"] == "/admin/login"
    assert str(auth.REFUSED) in wrong_page and str(auth.REFUSED) in unknown_page
    assert client.get("/admin/").status_code == 302  # still signed out
    db.session().expire_all()
    counts = {row.key: row.failures for row in db.session().scalars(select(LoginThrottle))}
    assert counts == {"address:127.0.0.1": 2, f"account:{user().id}": 1}


def test_a_refused_sign_in_is_a_redirect_so_a_reload_sends_nothing(client, admin_user):
    response = sign_in(client, password="typo in it")
    assert response.status_code == 303
    # What the browser shows after the redirect: the message, the username kept, no password.
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert str(auth.REFUSED) in page and f'value="{USERNAME}"' in page
    assert "typo in it" not in page
    # A reload is a GET of that page: nothing is counted again, and the message is gone.
    again = client.get(response.headers["Location"]).get_data(as_text=True)
    assert str(auth.REFUSED) not in again
    db.session().expire_all()
    address = db.session().get(LoginThrottle, "address:127.0.0.1")
    assert address.failures == 1


def test_logout_needs_the_csrf_token_and_ends_the_session(signed_in):
    refused = signed_in.post("/admin/logout")
    assert refused.status_code == 400
    assert signed_in.get("/admin/").status_code == 200  # still signed in

    response = post(signed_in, "/admin/", "/admin/logout")
    assert response.status_code == 303 and response.headers["Location"] == "/admin/login"
    assert signed_in.get("/admin/").status_code == 302
    assert actions()[-1] == (USERNAME, "logout")
    [row] = db.session().scalars(select(AdminSession))
    assert row.end_reason == "logout" and row.ended_at is not None


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
    for elsewhere in ("//evil.example/admin/", "https://evil.example/admin/", "/admin/\\x"):
        data["csrf_token"] = csrf_token(client, "/admin/login")
        away = client.post("/admin/login", query_string={"next": elsewhere}, data=data)
        assert away.headers["Location"] == "/admin/", elsewhere
        post(client, "/admin/", "/admin/logout")


def test_a_next_with_cr_or_lf_leads_to_the_dashboard_not_to_a_500(client, admin_user):
    # (A NUL anywhere in a request is refused with 400 before any view: tests/test_guards.py.)
    for bad in ("/admin/\r\nSet-Cookie: a=b", "/admin/x\ny", "/admin/x\ry"):
        data = {"csrf_token": csrf_token(client, "/admin/login"), "username": USERNAME}
        response = client.post(
            "/admin/login", query_string={"next": bad}, data={**data, "password": PASSWORD}
        )
        assert response.status_code == 303, repr(bad)
        assert response.headers["Location"] == "/admin/"
        assert "Set-Cookie: a=b" not in str(response.headers)
        post(client, "/admin/", "/admin/logout")
        # A refused attempt keeps a safe `next` only.
        refused = client.post(
            "/admin/login",
            query_string={"next": bad},
            data={
                "csrf_token": csrf_token(client, "/admin/login"),
                "username": USERNAME,
                "password": "wrong one",
            },
        )
        assert refused.status_code == 303 and refused.headers["Location"] == "/admin/login"


def test_session_cookie_is_httponly_and_samesite(client, admin_user):
    response = sign_in(client)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # PUBLIC_URL is http:// in tests


def test_session_cookie_is_secure_behind_https(tmp_path):
    app = make_app(
        tmp_path / "instance",
        f"sqlite:///{tmp_path / 'db.sqlite'}",
        PUBLIC_URL="https://suite.example.com",
    )
    response = app.test_client().get("/admin/login")
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
