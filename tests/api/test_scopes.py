"""API keys limited to some apps: `apikeys create --app`, enforced on every request from the
cached key, refusals audited, and shown by `apikeys list` and the admin's API keys page."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy import event, select, update

from suite_server import db
from suite_server.accounts import create_api_key
from suite_server.api import auth as api_auth
from suite_server.cli import cli
from suite_server.client import TokenClient, TokenClientError
from suite_server.models import ApiKey, AuditEntry
from tests import factories
from tests.api.conftest import fresh_token
from tests.api.test_routes import error_of


@pytest.fixture
def two_apps(app):
    """Suites wwmine and wwother, each with a tenant and fresh tokens."""
    session = db.session()
    for app_id in ("wwmine", "wwother"):
        suite = factories.wecom_app(session, app_id=app_id, name=app_id)
        fresh_token(suite, f"{app_id}-app-token")
        corp = factories.tenant(session, suite, tenant_id="wwcorp", name="Corp", credential="pc")
        fresh_token(corp, f"{app_id}-corp-token")


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def scoped_key(*app_ids: str, name: str = "billing") -> str:
    key = create_api_key(db.session(), name, app_ids=app_ids)
    db.session().commit()
    return key


def paths(app_id: str) -> list[tuple[str, str]]:
    base = f"/api/v1/apps/{app_id}"
    return [
        ("GET", f"{base}/access-token"),
        ("GET", f"{base}/tenants"),
        ("GET", f"{base}/tenants/wwcorp"),
        ("GET", f"{base}/tenants/wwcorp/access-token"),
        ("POST", f"{base}/tenants/wwcorp/access-token/refresh"),
    ]


def refusals() -> list[tuple[str, str, str, dict]]:
    db.session().expire_all()
    rows = db.session().scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    db.session().rollback()
    return [(e.actor, e.action, e.target, e.detail) for e in rows]


def test_a_scoped_key_reaches_its_apps_only_and_every_refusal_is_audited(client, two_apps):
    key = scoped_key("wwmine")
    for method, path in paths("wwmine"):
        response = client.open(path, method=method, headers=bearer(key), json={"stale_token": "x"})
        assert response.status_code == 200, (path, response.get_data(as_text=True))
    assert refusals() == []

    for method, path in paths("wwother"):
        response = client.open(path, method=method, headers=bearer(key), json={"stale_token": "x"})
        assert "this API key may not use app 'wwother'" in error_of(response, 403, "forbidden")
        assert "wwother-" not in response.get_data(as_text=True)  # no token leaked
    # An app that does not exist is refused the same way: a scoped key cannot probe for apps.
    error_of(client.get("/api/v1/apps/wwnone/tenants", headers=bearer(key)), 403, "forbidden")

    assert refusals() == [
        (
            "apikey:billing",
            "api.refused",
            f"app:{path.split('/')[4]}",
            {"method": method, "path": path, "reason": "app outside the key's scope"},
        )
        for method, path in [*paths("wwother"), ("GET", "/api/v1/apps/wwnone/tenants")]
    ]


def test_the_app_list_shows_a_scoped_key_its_apps_only(client, two_apps):
    listed = client.get("/api/v1/apps", headers=bearer(scoped_key("wwmine"))).get_json()["apps"]
    assert [a["app_id"] for a in listed] == ["wwmine"]
    every = client.get("/api/v1/apps", headers=bearer(scoped_key(name="ops"))).get_json()["apps"]
    assert [a["app_id"] for a in every] == ["wwmine", "wwother"]


def test_a_key_without_apps_reaches_every_app(client, two_apps):
    key = scoped_key(name="ops")
    for app_id in ("wwmine", "wwother"):
        for method, path in paths(app_id):
            response = client.open(
                path, method=method, headers=bearer(key), json={"stale_token": "x"}
            )
            assert response.status_code == 200, path


def test_the_scope_is_cached_with_the_key_and_checked_on_every_request(
    app, client, two_apps, monkeypatch
):
    clock = SimpleNamespace(now=1000.0)  # the cache's clock, held: no real-time window
    monkeypatch.setattr(api_auth, "time", SimpleNamespace(monotonic=lambda: clock.now))
    key = scoped_key("wwmine")
    assert client.get("/api/v1/apps/wwmine/access-token", headers=bearer(key)).status_code == 200
    # Now remembered: a known key costs no query, and its remembered scope still refuses.
    statements: list[str] = []
    engine = app.extensions["suite_server.engine"]

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        response = client.get("/api/v1/apps/wwmine/access-token", headers=bearer(key))
        assert response.status_code == 200 and statements == []
    finally:
        event.remove(engine, "before_cursor_execute", count)
    error_of(client.get("/api/v1/apps/wwother/access-token", headers=bearer(key)), 403, "forbidden")

    # A scope widened in the database reaches this process once the remembered key lapses.
    db.session().execute(update(ApiKey).values(app_ids=["wwmine", "wwother"]))
    db.session().commit()
    clock.now += api_auth.CACHE_SECONDS + 0.1
    assert client.get("/api/v1/apps/wwother/access-token", headers=bearer(key)).status_code == 200


def test_token_client_gets_a_403_outside_the_scope(app, live_server, two_apps):
    tokens = TokenClient(live_server, scoped_key("wwmine"))
    assert tokens.tenant_token("wwmine", "wwcorp") == "wwmine-corp-token"
    with pytest.raises(TokenClientError) as refused:
        tokens.tenant_token("wwother", "wwcorp")
    assert (refused.value.status, refused.value.code) == (403, "forbidden")


# -- the CLI -----------------------------------------------------------------------------------


def test_apikeys_create_with_apps_and_path_prefixes_then_list(runner, two_apps):
    result = runner.invoke(
        cli,
        [
            "apikeys",
            "create",
            "billing",
            "--app",
            "wwother",
            "--app",
            "wwmine",
            "--app",
            "wwmine",
            "--path-prefix",
            "/cgi-bin/message/",
        ],
    )
    assert result.exit_code == 0, result.output
    key = result.stdout.strip()
    row = db.session().scalar(select(ApiKey).where(ApiKey.name == "billing"))
    assert row.app_ids == ["wwmine", "wwother"] and row.path_prefixes == ["/cgi-bin/message/"]
    assert runner.invoke(cli, ["apikeys", "create", "ops"]).exit_code == 0
    assert db.session().scalar(select(ApiKey.app_ids).where(ApiKey.name == "ops")) is None

    listed = runner.invoke(cli, ["apikeys", "list"])
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.splitlines()
    assert lines[0].split()[:3] == ["NAME", "KEY", "SCOPE"]
    billing = next(line for line in lines if line.startswith("billing "))
    assert "wwmine, wwother; gateway paths /cgi-bin/message/" in billing
    assert key[:12] in billing and key not in listed.stdout
    assert "every app" in next(line for line in lines if line.startswith("ops "))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--app", "wwmine", "--app", "wwtypo"], "Error: no app 'wwtypo': see `suite-server"),
        (["--app", "w" * 300], "Error: no app "),
        (["--path-prefix", "cgi-bin/"], "Error: path prefix 'cgi-bin/' must start with /"),
        (["--path-prefix", "/cgi-bin/../x"], "Error: path prefix '/cgi-bin/../x' must start"),
        (["--path-prefix", "/a b"], "Error: path prefix '/a b' must start with /"),
    ],
)
def test_apikeys_create_refuses_a_bad_scope_and_writes_nothing(runner, two_apps, args, message):
    result = runner.invoke(cli, ["apikeys", "create", "billing", *args])
    assert result.exit_code == 1
    assert result.output.strip().startswith(message) and len(result.output.splitlines()) == 1
    assert db.session().scalar(select(ApiKey)) is None


# -- the admin ---------------------------------------------------------------------------------


def test_the_admin_lists_keys_with_their_scope(admin_browser, two_apps):
    create_api_key(db.session(), "billing", app_ids=["wwmine"], path_prefixes=["/cgi-bin/user/"])
    everything = create_api_key(db.session(), "deploys")
    db.session().commit()
    page = admin_browser.get("/admin/api-keys")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    billing = html[html.index(">billing<") :].split("</tr>")[0]
    assert '<a href="/admin/apps/wwmine">wwmine</a>' in billing and "wwother" not in billing
    assert "<code>/cgi-bin/user/</code>" in billing and "not enforced" not in billing
    deploys = html[html.index(">deploys<") :].split("</tr>")[0]
    assert "every app" in deploys and everything[:12] in deploys and everything not in html


def test_the_admin_api_keys_page_needs_a_session(client):
    response = client.get("/admin/api-keys")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/admin/login")
