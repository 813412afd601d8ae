"""What is outside every area: `/` leads to the admin UI, unknown URLs get a page in its style
(the token API's stay JSON), and there is a favicon."""

from __future__ import annotations


def test_the_root_leads_to_the_admin(client):
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"] == "/admin/"


def test_an_unknown_url_gets_a_styled_page(client):
    for path in ("/nope", "/callback/nowhere", "/admin/nope", "/install"):
        response = client.get(path)
        assert response.status_code == 404, path
        body = response.get_data(as_text=True)
        assert "There is nothing at this address." in body, path
        assert "/admin/static/admin.css" in body and 'rel="icon"' in body, path


def test_an_unknown_admin_url_keeps_the_admin_menu(client, app):
    from suite_server import accounts, db
    from tests.admin.conftest import BrowserLikeClient, sign_in, signed_in_ok

    with db.transaction() as session:
        accounts.create_admin(session, "ops", "correct horse battery")
    app.test_client_class = BrowserLikeClient
    browser = app.test_client()
    assert signed_in_ok(sign_in(browser))
    response = browser.get("/admin/no/such/page")
    assert response.status_code == 404
    body = response.get_data(as_text=True)
    assert "There is nothing at this address." in body and "Sign out" in body


def test_the_token_api_still_answers_unknown_urls_in_json(client):
    response = client.get("/api/v1/nope")
    assert response.status_code in (401, 404)
    assert response.is_json


def test_a_favicon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response.content_type in ("image/vnd.microsoft.icon", "image/x-icon")
    assert response.data[:4] == b"\x00\x00\x01\x00"  # an ICO file
