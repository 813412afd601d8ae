"""An API key for the token API, token rows to serve without asking a platform, and tenants
installed through the sandbox (whose fixtures come from tests/authorization/conftest.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from suite_server import accounts, db
from suite_server.accounts import create_api_key
from suite_server.db import utcnow
from suite_server.models import App, AppToken, Tenant, TenantToken
from tests.admin.conftest import PASSWORD, USERNAME, BrowserLikeClient, sign_in
from tests.authorization.conftest import component, drain, platform, push, suite, tenant_of

__all__ = ["component", "platform", "suite"]  # the sandbox fixtures, shared with tests/api


@pytest.fixture
def api_key(app) -> str:
    key = create_api_key(db.session(), "tests")
    db.session().commit()
    return key


@pytest.fixture
def admin_browser(app):
    """A test client signed in to the admin, as tests/admin's."""
    app.test_client_class = BrowserLikeClient
    browser = app.test_client()
    with db.transaction() as session:
        accounts.create_admin(session, USERNAME, PASSWORD)
    assert sign_in(browser).status_code == 303
    return browser


@pytest.fixture
def auth(api_key) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"}


def fresh_token(owner: App | Tenant, value: str, lifetime: int = 7200) -> None:
    """A token row as if obtained just now, due for refresh far ahead: serving it asks no one."""
    session = db.session()
    now = utcnow()
    model, column = (AppToken, "app_pk") if isinstance(owner, App) else (TenantToken, "tenant_pk")
    session.add(
        model(
            **{column: owner.id},
            access_token=value,
            obtained_at=now,
            expires_at=now + timedelta(seconds=lifetime),
            refresh_at=now + timedelta(seconds=lifetime * 0.8),
            version=1,
        )
    )
    session.commit()


# -- with the sandbox --------------------------------------------------------------------------

INSTALL = {"wecom": "create_auth", "open": "authorized"}
TENANT_TOKEN_CALL = {"wecom": "get_corp_token", "open": "api_authorizer_token"}


@pytest.fixture(params=["wecom", "open"])
def either(request) -> App:
    """The sandbox-registered suite or component, each test running once per platform."""
    return request.getfixturevalue("suite" if request.param == "wecom" else "component")


@pytest.fixture
def installed(app, platform, either) -> App:
    """`either` with one tenant, "tenant-api", installed by push (its first token stored)."""
    push(platform, either, INSTALL[either.platform], tenant_id="tenant-api", name="API Corp")
    drain(app)
    assert tenant_of(either, "tenant-api").status == "active"
    return either


def age_token(app: App, tenant_id: str, seconds: int = 60) -> None:
    """Make the tenant's token look obtained `seconds` ago (still far from expiry): the token
    service does not refresh again a token it obtained seconds ago."""
    session = db.session()
    tenant = tenant_of(app, tenant_id)
    token = session.scalar(select(TenantToken).where(TenantToken.tenant_pk == tenant.id))
    token.obtained_at -= timedelta(seconds=seconds)
    session.commit()
