"""Customized-app templates (代开发) against the sandbox over HTTP: installed from the QR link
and by push, their permanent code (the corp's app secret) stored whatever the answer lacks,
their token from gettoken, a reset secret replacing the old one, and a dead one giving up."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from sqlalchemy import select, text

from suite_server import db
from suite_server.models import App, AuthCodeClaim, InboundEvent, InstallState, TenantToken
from suite_server.sandbox.install_pages import NEW
from suite_server.tenants import views
from suite_server.tokens import service
from tests import factories
from tests.authorization.conftest import drain, history, push, stale_crowd, tenant_of

PROVIDER = "wwprovidercustom"


@pytest.fixture
def provider(platform) -> App:
    row = factories.provider(db.session(), corpid=PROVIDER, secret="provider-secret-value")
    platform.register_provider(row)
    return row


@pytest.fixture
def template(platform, provider) -> App:
    app = factories.wecom_app(db.session(), app_id="dkcustomtemplate", provider_corpid=PROVIDER)
    assert app.kind == "template"
    platform.register(app, provider_corpid=PROVIDER)
    return app


def sandbox_tenant(platform, app: App, tenant_id: str) -> dict:
    found = requests.get(f"{platform.base}/sandbox/apps/{app.app_id}", timeout=10).json()
    return next(t for t in found["tenants"] if t["tenant_id"] == tenant_id)


def token_row(tenant) -> TenantToken:
    db.session().expire_all()
    return db.session().scalar(select(TenantToken).where(TenantToken.tenant_pk == tenant.id))


def stale_token(tenant) -> str:
    """The tenant's token, made to look obtained a minute ago: a caller saying it is dead is
    believed (one obtained in the last seconds is the answer already, tokens/policy.py)."""
    with db.transaction() as session:
        row = session.scalar(select(TenantToken).where(TenantToken.tenant_pk == tenant.id))
        row.obtained_at -= timedelta(seconds=60)
        return row.access_token


def test_the_qr_link_installs_a_customized_tenant(app, platform, template, live_server):
    start = requests.get(f"{live_server}/install/{template.app_id}", allow_redirects=False)
    assert start.status_code == 302, start.text
    qr_page = start.headers["Location"]
    assert qr_page.startswith(platform.base)
    assert platform.calls()["get_customized_auth_url"] == 1
    state = db.session().scalar(
        select(InstallState.state).where(InstallState.app_pk == template.id)
    )

    page = requests.get(qr_page, timeout=10)
    assert page.status_code == 200, page.text
    scanned = requests.post(
        qr_page, data={"tenant": NEW, "new_id": "wwcustomcorp", "new_name": "定制 Corp"}, timeout=30
    )
    assert scanned.status_code == 200, scanned.text
    platform.join()
    drain(app)

    tenant = tenant_of(template, "wwcustomcorp")
    assert tenant is not None and tenant.status == "active" and tenant.name == "定制 Corp"
    secret = sandbox_tenant(platform, template, "wwcustomcorp")["credential"]
    assert tenant.credential == secret
    assert tenant.auth_info["state"] == state and tenant.auth_info["is_customized_app"] is True
    # Encrypted at rest: the column never holds the secret itself.
    stored = (
        db.session()
        .execute(text("SELECT credential FROM tenants WHERE id = :id"), {"id": tenant.id})
        .scalar()
    )
    assert secret not in stored
    # Its token came from gettoken, after the commit, with no suite token involved.
    calls = platform.calls()
    assert calls["get_permanent_code"] == 1 and calls["gettoken"] == 1
    assert "get_corp_token" not in calls
    assert token_row(tenant).access_token
    assert history(tenant) == [("authorized", "push")]
    assert views.kind_of(template) == "customized"


def test_a_create_auth_push_alone_installs_it_and_the_api_serves_its_token(
    app, platform, template, live_server
):
    from suite_server.accounts import create_api_key

    key = create_api_key(db.session(), "customized")
    db.session().commit()
    push(platform, template, "create_auth", tenant_id="wwpushcorp", name="Push Corp")
    drain(app)
    tenant = tenant_of(template, "wwpushcorp")
    assert tenant.status == "active"
    headers = {"Authorization": f"Bearer {key}"}
    base = f"{live_server}/api/v1/apps/{template.app_id}/tenants/wwpushcorp"
    served = requests.get(f"{base}/access-token", headers=headers, timeout=10)
    assert served.status_code == 200, served.text
    assert served.json()["access_token"] == token_row(tenant).access_token
    detail = requests.get(base, headers=headers, timeout=10).json()
    assert detail["kind"] == "customized" and detail["credential"] == "present"
    assert tenant.credential not in str(detail)
    # The token works where the platform checks it: a message into the corp.
    sent = requests.post(
        f"{platform.base}/cgi-bin/message/send",
        params={"access_token": served.json()["access_token"]},
        json={"touser": "@all", "msgtype": "text", "text": {"content": "hi"}},
        timeout=10,
    )
    assert sent.json()["errcode"] == 0


def test_a_reset_permanent_code_push_replaces_the_secret(app, platform, template):
    push(platform, template, "create_auth", tenant_id="wwresetcorp", name="Reset Corp")
    drain(app)
    old = tenant_of(template, "wwresetcorp").credential
    push(platform, template, "reset_permanent_code", tenant_id="wwresetcorp")
    drain(app)

    tenant = tenant_of(template, "wwresetcorp")
    new = sandbox_tenant(platform, template, "wwresetcorp")["credential"]
    assert tenant.status == "active" and tenant.credential == new != old
    assert ("credential_reset", "push") in history(tenant)
    # The next token comes from the new secret.
    stale = stale_token(tenant)
    platform.control("tokens/invalidate", app_id=template.app_id, tenant_id="wwresetcorp")
    calls = platform.calls()["gettoken"]
    served = service.refresh_tenant_token(db.session(), tenant, stale)
    assert served.access_token != stale and platform.calls()["gettoken"] == calls + 1
    assert tenant_of(template, "wwresetcorp").status == "active"


def test_a_secret_gettoken_refuses_makes_the_tenant_need_reauthorization(app, platform, template):
    push(platform, template, "create_auth", tenant_id="wwdeadcorp", name="Dead Corp")
    drain(app)
    tenant = tenant_of(template, "wwdeadcorp")
    stale = stale_token(tenant)
    platform.control("faults", endpoint="gettoken", errcode=40001, count=1)
    with pytest.raises(service.TokenUnavailable) as refused:
        service.refresh_tenant_token(db.session(), tenant, stale)
    assert refused.value.code == "tenant_needs_reauth" and refused.value.http_status == 409
    tenant = tenant_of(template, "wwdeadcorp")
    assert tenant.status == "needs_reauth" and "40001" in tenant.status_reason
    # A reset brings it back with the new secret.
    push(platform, template, "reset_permanent_code", tenant_id="wwdeadcorp")
    drain(app)
    assert tenant_of(template, "wwdeadcorp").status == "active"


def test_fifty_stale_callers_of_a_dead_token_cause_one_gettoken(
    app, platform, template, live_server
):
    from suite_server.accounts import create_api_key

    key = create_api_key(db.session(), "crowd")
    db.session().commit()
    push(platform, template, "create_auth", tenant_id="wwcrowdcorp", name="Crowd Corp")
    drain(app)
    tenant = tenant_of(template, "wwcrowdcorp")
    # The platform kills it early.
    stale = stale_token(tenant)
    platform.control("tokens/invalidate", app_id=template.app_id, tenant_id="wwcrowdcorp")
    before = platform.calls()["gettoken"]
    url = f"{live_server}/api/v1/apps/{template.app_id}/tenants/wwcrowdcorp/access-token/refresh"
    answers = stale_crowd(url, key, stale)
    assert [a.status_code for a in answers] == [200] * 50, {a.text for a in answers}
    tokens = {a.json()["access_token"] for a in answers}
    assert tokens == {token_row(tenant).access_token} and stale not in tokens
    assert platform.calls()["gettoken"] == before + 1


OPTIONAL = [
    "access_token",
    "expires_in",
    "auth_info",
    "auth_user_info",
    "state",
    "is_customized_app",
    "auth_corp_info.corp_name",
]


@pytest.mark.parametrize("field", OPTIONAL)
@pytest.mark.parametrize("kind", ["suite", "template"])
def test_an_answer_without_an_optional_field_never_loses_the_credential(
    app, platform, provider, request, kind, field
):
    target = request.getfixturevalue("suite" if kind == "suite" else "template")
    platform.control("faults", endpoint="get_permanent_code", drop=field, count=1)
    push(platform, target, "create_auth", tenant_id="wwdropcorp", name="Drop Corp")
    drain(app)
    tenant = tenant_of(target, "wwdropcorp")
    assert tenant is not None and tenant.status == "active", field
    assert tenant.credential == sandbox_tenant(platform, target, "wwdropcorp")["credential"]
    assert token_row(tenant).access_token  # from the answer, or fetched after the commit


def test_an_answer_naming_no_corp_keeps_its_credential_on_the_claim(app, platform, template):
    platform.control("faults", endpoint="get_permanent_code", drop="auth_corp_info", count=1)
    push(platform, template, "create_auth", tenant_id="wwnocorp", name="No Corp")
    drain(app)
    assert tenant_of(template, "wwnocorp") is None
    claim = db.session().scalar(select(AuthCodeClaim).where(AuthCodeClaim.app_pk == template.id))
    assert claim.credential == sandbox_tenant(platform, template, "wwnocorp")["credential"]
    assert "auth_corp_info" in claim.error
    event = db.session().scalar(
        select(InboundEvent).where(
            InboundEvent.app_pk == template.id, InboundEvent.kind == "create_auth"
        )
    )
    assert event.status == "failed" and "auth_corp_info" in event.error


def test_a_template_without_its_provider_says_so(app, platform, live_server):
    lone = factories.wecom_app(db.session(), app_id="dklonetemplate", provider_corpid="wwnobody")
    page = requests.get(f"{live_server}/install/{lone.app_id}", allow_redirects=False)
    assert page.status_code == 400 and "provider account" in page.text
    # A provider account is not an app: nothing to install.
    provider = factories.provider(db.session(), corpid="wwjustprovider")
    page = requests.get(f"{live_server}/install/{provider.app_id}", allow_redirects=False)
    assert page.status_code == 400 and "no such app" in page.text
