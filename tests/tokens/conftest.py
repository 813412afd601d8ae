"""The sandbox-backed fixtures of the authorization tests (a suite and a component registered on
both sides with their first tickets), and helpers the token tests share: install a tenant by
push, make its token look expired, read its token row, configure a child process like the app."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from flask import current_app
from sqlalchemy import select, update

from suite_server import db
from suite_server.db import utcnow
from suite_server.models import Tenant, TenantToken
from tests.authorization.conftest import component, drain, platform, push, suite, tenant_of
from tests.conftest import TEST_KEY

__all__ = ["component", "platform", "suite"]  # the sandbox fixtures, shared with tests/tokens

REFRESH = {"wecom": "get_corp_token", "open": "api_authorizer_token"}
INSTALL = {"wecom": "create_auth", "open": "authorized"}


@pytest.fixture(params=["wecom", "open"])
def either(request):
    return request.getfixturevalue("suite" if request.param == "wecom" else "component")


def install(platform, app, tenant_id: str) -> Tenant:
    push(platform, app, INSTALL[app.platform], tenant_id=tenant_id)
    drain(current_app._get_current_object())
    return tenant_of(app, tenant_id)


def expire(tenant: Tenant) -> None:
    """Our copy of the token says it has expired (the platform's is still good)."""
    past = utcnow() - timedelta(seconds=1)
    db.session().execute(
        update(TenantToken.__table__)
        .where(TenantToken.tenant_pk == tenant.id)
        .values(expires_at=past, refresh_at=past)
    )
    db.session().commit()


def token_row(tenant: Tenant) -> TenantToken:
    db.session().expire_all()
    return db.session().scalar(select(TenantToken).where(TenantToken.tenant_pk == tenant.id))


def child_env(app) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUITE_SERVER_")}
    for name in (
        "DATABASE_URL",
        "SECRET_KEY",
        "INSTANCE_PATH",
        "WECOM_API_BASE",
        "WECHAT_API_BASE",
        "TOKEN_MIN_REMAINING",
        "REDIS_URL",
    ):
        if app.config.get(name):
            env[f"SUITE_SERVER_{name}"] = str(app.config[name])
    env["SUITE_SERVER_ENCRYPTION_KEYS"] = TEST_KEY
    return env
