"""The landing side of an install: the assertion and its check by the client helper (and by the
documented recipe), the return_to allow-list's matching, and setting it all up from the command
line and the admin (the secret printed once by the CLI, never shown by the admin)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
from sqlalchemy import select

from suite_server import accounts, db
from suite_server.authorization import landing
from suite_server.cli import cli
from suite_server.client import InstallAssertionError, verify_install
from suite_server.errors import ValidationError
from suite_server.models import App, AuditEntry
from tests import factories
from tests.admin.conftest import PASSWORD, USERNAME, BrowserLikeClient, post, sign_in

SECRET = "s3cr3t-of-the-landing"
NOW = 1_800_000_000


def claims(**changes) -> dict:
    base = {
        "platform": "wecom",
        "app_id": "wwapp",
        "tenant_id": "wwcorp",
        "ref": "cust-1",
        "iat": NOW,
        "exp": NOW + 600,
        "jti": "abc",
    }
    return {**base, **changes}


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def signed_raw(body: bytes, secret: str = SECRET) -> str:
    """An assertion of any bytes, signed as the recipe of docs/install.md says."""
    part = b64(body)
    return f"{part}.{b64(hmac.new(secret.encode(), part.encode(), hashlib.sha256).digest())}"


# -- the assertion -------------------------------------------------------------------------


def test_the_servers_assertion_verifies_by_the_helper_and_by_the_recipe():
    signed = landing.sign(SECRET, claims())
    assert verify_install(signed, SECRET, app_id="wwapp", now=NOW + 599) == claims()
    assert verify_install(signed, SECRET.encode(), now=NOW) == claims()  # bytes work too
    # docs/install.md "In any language": HMAC over the first part, base64url without padding.
    body, signature = signed.split(".")
    expected = hmac.new(SECRET.encode(), body.encode(), hashlib.sha256).digest()
    assert signature == b64(expected)
    assert json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))) == claims()


def flip(text: str, at: int) -> str:
    return text[:at] + ("A" if text[at] != "A" else "B") + text[at + 1 :]


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda s: flip(s, 5), "signature"),  # the claims altered
        (lambda s: flip(s, len(s) - 3), "signature"),  # the signature altered
        (lambda s: landing.sign("another secret", claims()), "signature"),
        (
            lambda s: (
                landing.sign(SECRET, claims(ref="cust-2")).split(".")[0] + "." + s.split(".")[1]
            ),
            "signature",
        ),  # fmt: skip
        (lambda s: landing.sign(SECRET, claims(exp=NOW)), "expired"),
        (lambda s: landing.sign(SECRET, claims(exp=NOW - 1)), "expired"),
        (lambda s: landing.sign(SECRET, claims(app_id="wwother")), "app"),
        (lambda s: "", "malformed"),
        (lambda s: "nodot", "malformed"),
        (lambda s: s + ".more", "malformed"),
        (lambda s: s.replace(".", ".!"), "malformed"),
        (lambda s: "x" * 5000, "malformed"),
        (lambda s: None, "malformed"),
        (lambda s: signed_raw(b"not json"), "malformed"),
        (lambda s: signed_raw(b"\xff\xfe"), "malformed"),
        (lambda s: signed_raw(b"[1, 2]"), "malformed"),
        (lambda s: signed_raw(json.dumps(claims(exp=str(NOW + 600))).encode()), "malformed"),
        (lambda s: signed_raw(json.dumps(claims(exp=True)).encode()), "malformed"),
        (lambda s: signed_raw(json.dumps(claims(ref=7)).encode()), "malformed"),
        (
            lambda s: signed_raw(json.dumps({"tenant_id": "x", "exp": NOW + 9}).encode()),
            "malformed",
        ),  # fmt: skip
    ],
)
def test_a_bad_assertion_is_refused_with_its_reason(make, reason):
    bad = make(landing.sign(SECRET, claims()))
    with pytest.raises(InstallAssertionError) as refused:
        verify_install(bad, SECRET, app_id="wwapp", now=NOW)
    assert refused.value.reason == reason
    assert isinstance(refused.value, ValueError)


def test_a_null_ref_is_fine():
    assert verify_install(landing.sign(SECRET, claims(ref=None)), SECRET, now=NOW)["ref"] is None


# -- the allow-list ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "prefix, url, admitted",
    [
        ("https://a.com", "https://a.com/", True),
        ("https://a.com", "https://a.com", True),
        ("https://a.com", "https://a.com/x/y?z=1#f", True),
        ("https://a.com", "https://A.COM:443/x", True),
        ("https://a.com", "https://a.com.evil.com/", False),
        ("https://a.com", "https://evil.com/https://a.com", False),
        ("https://a.com", "http://a.com/", False),
        ("https://a.com", "https://a.com:444/", False),
        ("http://a.com:8080", "http://a.com:8080/x", True),
        ("http://a.com:8080", "http://a.com/x", False),
        ("https://a.com/app", "https://a.com/app", True),
        ("https://a.com/app", "https://a.com/app/x", True),
        ("https://a.com/app", "https://a.com/app?x=1", True),
        ("https://a.com/app", "https://a.com/apple", False),
        ("https://a.com/app", "https://a.com/", False),
        ("https://a.com/app/", "https://a.com/app/x", True),
        ("https://a.com/app/", "https://a.com/app", False),
    ],
)
def test_a_prefix_admits_its_origin_and_paths_under_it(prefix, url, admitted):
    app = App(return_to_allowed=prefix)
    assert landing.return_to_allowed(app, url) is admitted


@pytest.mark.parametrize(
    "url",
    [
        "https://a.com/app/../admin",
        "https://a.com/app/%2e%2e/admin",
        "https://user:pw@a.com/app",
        "https://a.com\\@evil.com/app",
        "https://a.com/app with space",
        "javascript:alert(1)",
        "//a.com/app",
        "https:///app",
        "https://a.com:99999/app",
        "https://a.com/" + "x" * 500,
    ],
)
def test_a_malformed_return_to_is_never_admitted(url):
    assert landing.return_to_allowed(App(return_to_allowed="https://a.com"), url) is False


@pytest.mark.parametrize(
    "line",
    ["https://a.com/?q=1", "https://a.com/#f", "ftp://a.com", "a.com", "https://u@a.com", ""],
)
def test_a_bad_prefix_is_refused(line):
    with pytest.raises(ValidationError):
        landing.parse_allow_list([line or "https://"])


def test_the_allow_list_takes_lines_and_drops_blanks_and_repeats():
    assert landing.parse_allow_list("https://a.com\n\n  https://b.com/x \nhttps://a.com\n") == [
        "https://a.com",
        "https://b.com/x",
    ]
    with pytest.raises(ValidationError, match="at most 50"):
        landing.parse_allow_list([f"https://a{i}.com" for i in range(51)])


# -- the command line ----------------------------------------------------------------------


def run(runner, *args):
    return runner.invoke(cli, list(args))


def stored(app_id: str) -> App:
    db.session().expire_all()
    return db.session().scalar(select(App).where(App.app_id == app_id))


def test_apps_landing_sets_url_and_prefixes_and_prints_a_new_secret_once(runner, app):
    factories.wecom_app(db.session(), app_id="wwcli")
    shown = run(runner, "apps", "landing", "wwcli")
    assert shown.exit_code == 0 and "landing secret: none" in shown.stdout

    result = run(
        runner, "apps", "landing", "wwcli", "--url", "https://app.example.com/in",
        "--allow", "https://app.example.com/welcome", "--allow", "https://b.example.com",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    secret = stored("wwcli").landing_secret
    assert f"new landing secret: {secret}" in result.stdout
    assert "not shown again" in result.stderr
    assert stored("wwcli").landing_url == "https://app.example.com/in"
    assert stored("wwcli").return_to_allowed == (
        "https://app.example.com/welcome\nhttps://b.example.com"
    )

    again = run(runner, "apps", "landing", "wwcli", "--allow", "https://c.example.com")
    assert secret not in again.output and "new landing secret" not in again.output
    assert stored("wwcli").landing_secret == secret  # adding a prefix keeps it

    listed = run(runner, "apps", "landing", "wwcli", "--json")
    assert json.loads(listed.stdout) == {
        "app_id": "wwcli",
        "landing_url": "https://app.example.com/in",
        "return_to_allowed": [
            "https://app.example.com/welcome",
            "https://b.example.com",
            "https://c.example.com",
        ],
        "landing_secret": "set",
        "new_landing_secret": None,
    }

    rotated = run(runner, "apps", "landing", "wwcli", "--rotate-secret", "--json")
    new = json.loads(rotated.stdout)["new_landing_secret"]
    assert new and new != secret and stored("wwcli").landing_secret == new

    replaced = run(
        runner, "apps", "landing", "wwcli", "--clear-allow", "--allow", "https://d.example.com"
    )
    assert replaced.exit_code == 0
    assert stored("wwcli").return_to_allowed == "https://d.example.com"
    cleared = run(runner, "apps", "landing", "wwcli", "--clear-allow", "--url", "")
    assert cleared.exit_code == 0 and "none (the built-in page)" in cleared.stdout
    assert (stored("wwcli").landing_url, stored("wwcli").return_to_allowed) == (None, None)


@pytest.mark.parametrize(
    "args, message",
    [
        (["wwnobody"], "no app 'wwnobody'"),
        (["wwbad", "--allow", "https://a.com/?x=1"], "must not have a query"),
        (["wwbad", "--allow", "a.com"], "must start with http:// or https://"),
        (["wwbad", "--url", "ftp://a.com"], "landing URL must start with http"),
        (["wwbad", "--url", "https://a.com/" + "x" * 500], "at most 500"),
        (["wwbadprovider"], "provider account"),
    ],
)
def test_apps_landing_refuses_with_one_line(runner, app, args, message):
    factories.wecom_app(db.session(), app_id="wwbad")
    factories.provider(db.session(), corpid="wwbadprovider")
    result = run(runner, "apps", "landing", *args)
    assert result.exit_code == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("Error: ") and message in line
    assert "Traceback" not in result.output
    assert stored("wwbad").landing_secret is None and stored("wwbad").return_to_allowed is None


def test_apps_add_with_a_landing_url_prints_its_secret(runner, app):
    result = run(
        runner, "apps", "add", "open", "--appid", "wxlanding", "--secret", "s", "--token", "tok",
        "--aes-key", factories.AES_KEY, "--landing-url", "https://app.example.com/in",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"new landing secret: {stored('wxlanding').landing_secret}" in result.stdout
    plain = run(
        runner, "apps", "add", "open", "--appid", "wxplain", "--secret", "s", "--token", "tok",
        "--aes-key", factories.AES_KEY,
    )  # fmt: skip
    assert "landing secret" not in plain.output and stored("wxplain").landing_secret is None


# -- the admin -----------------------------------------------------------------------------


@pytest.fixture
def admin(app):
    app.test_client_class = BrowserLikeClient
    browser = app.test_client()
    with db.transaction() as session:
        accounts.create_admin(session, USERNAME, PASSWORD)
    assert sign_in(browser).status_code == 303
    return browser


def test_the_admin_saves_the_allow_list_and_shows_the_secret_it_made_once(admin):
    factories.wecom_app(db.session(), app_id="wwadmin")
    page = "/admin/apps/wwadmin"
    assert 'name="return_to_allowed"' in admin.get(page).get_data(as_text=True)
    saved = post(
        admin, page, f"{page}/settings", name="Admin App",
        landing_url="https://app.example.com/in",
        return_to_allowed="https://app.example.com/welcome\r\n\r\nhttps://b.example.com",
    )  # fmt: skip
    assert saved.status_code == 303
    app = stored("wwadmin")
    assert app.return_to_allowed == "https://app.example.com/welcome\nhttps://b.example.com"
    secret = app.landing_secret
    body = admin.get(page).get_data(as_text=True)
    assert secret and secret in body and "New landing secret" in body  # once
    body = admin.get(page).get_data(as_text=True)
    assert secret not in body
    assert "https://b.example.com" in body  # the list is shown in its field
    entry = db.session().scalars(select(AuditEntry).where(AuditEntry.action == "app.update")).one()
    assert "return_to_allowed" in entry.detail["changed"] and secret not in str(entry.detail)

    refused = post(
        admin, page, f"{page}/settings", name="Admin App", landing_url="",
        return_to_allowed="https://evil.example/?x=1",
    )  # fmt: skip
    assert refused.status_code == 303
    assert "Not saved" in admin.get(page).get_data(as_text=True)
    assert stored("wwadmin").return_to_allowed.startswith("https://app.example.com/welcome")


def test_the_admin_rotates_the_landing_secret_shows_it_once_and_audits_it(admin):
    factories.wecom_app(db.session(), app_id="wwrotate")
    page = "/admin/apps/wwrotate"
    rotated = post(admin, page, f"{page}/rotate-landing-secret")
    assert rotated.status_code == 303 and rotated.headers["Location"] == page
    secret = stored("wwrotate").landing_secret
    body = admin.get(page).get_data(as_text=True)
    assert secret and secret in body and "Landing secret rotated" in body
    assert secret not in admin.get(page).get_data(as_text=True)
    again = post(admin, page, f"{page}/rotate-landing-secret")
    assert again.status_code == 303 and stored("wwrotate").landing_secret != secret
    actions = (
        db.session()
        .scalars(select(AuditEntry.action).where(AuditEntry.target == "app:wwrotate"))
        .all()
    )
    assert actions == ["app.rotate_landing_secret", "app.rotate_landing_secret"]
    forged = admin.post(f"{page}/rotate-landing-secret")  # no CSRF token
    assert forged.status_code == 400
