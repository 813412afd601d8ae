"""Admin UI fixtures: a signed-in test client (CSRF kept on, as in production), and the
sandbox-backed apps of the authorization tests for the pages that show real tenants."""

from __future__ import annotations

import re

import pytest
from flask import g
from flask.testing import FlaskClient

from suite_server import accounts, db
from tests.admin.browsing import browser, page  # noqa: F401
from tests.admin.queueing import on_rq, receiver  # noqa: F401
from tests.authorization.conftest import component, platform, suite  # noqa: F401

USERNAME, PASSWORD = "ops", "correct horse battery"
_TOKEN = re.compile(
    r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"'
)


class BrowserLikeClient(FlaskClient):
    """A test client whose requests start with a fresh `g`, as every real request does.

    The `app` fixture keeps one app context open for the whole test, and requests made from the
    test's thread reuse it, `g` included; Flask-WTF keeps the request's CSRF token in `g` and
    Flask-Login the signed-in user, Flask-Babel the language and time zone (and admin/i18n.py
    the zone), so without this a request would see the previous one's."""

    def open(self, *args, **kwargs):
        for name in ("csrf_token", "_login_user", "_flask_babel", "admin_zone"):
            g.pop(name, None)
        return super().open(*args, **kwargs)


@pytest.fixture
def client(app):
    app.test_client_class = BrowserLikeClient
    return app.test_client()


def csrf_token(client: FlaskClient, url: str) -> str:
    """The CSRF token of the forms on the page at `url` (GET), as a browser would read it."""
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    found = _TOKEN.search(response.get_data(as_text=True))
    assert found, f"no CSRF token on {url}"
    return found.group(1) or found.group(2)


def post(client: FlaskClient, at: str, action: str, address: str = "127.0.0.1", **data):
    """Submit a form of the page at `at` to `action` with its CSRF token, from `address`."""
    return client.post(
        action,
        data={"csrf_token": csrf_token(client, at), **data},
        environ_base={"REMOTE_ADDR": address},
    )


def sign_in(
    client: FlaskClient,
    username: str = USERNAME,
    password: str = PASSWORD,
    address: str = "127.0.0.1",
):
    """Post the login form from `address`; a success is a 303 to the page asked for."""
    return post(
        client, "/admin/login", "/admin/login", address, username=username, password=password
    )


def signed_in_ok(response) -> bool:
    return response.status_code == 303 and not response.headers["Location"].startswith(
        "/admin/login"
    )


@pytest.fixture
def admin_user(app):
    with db.transaction() as session:
        accounts.create_admin(session, USERNAME, PASSWORD)
    return USERNAME


@pytest.fixture
def signed_in(client, admin_user) -> FlaskClient:
    response = sign_in(client)
    assert signed_in_ok(response), response.headers.get("Location")
    return client
