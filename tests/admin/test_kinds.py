"""The admin pages with app kinds: suites, customized templates (代开发) and components show
what they are, tenants whether they are customized or third-party (never their credential), and
the WeCom provider account has its own section and page (its system event URL, token and linked
apps) without breaking any page that looks apps up."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import select

from suite_server import db
from suite_server.admin.apps import key_fingerprint
from suite_server.db import utcnow
from suite_server.models import App, AppToken, AuditEntry, InboundEvent
from tests import factories
from tests.admin.conftest import USERNAME, post

SECRETS = [
    "suite-secret-value",
    "component-secret-value",
    "provider-secret-value",
    "provider-access-token-secret",
    "customized-secret-value",
    "permanent-code-value",
    factories.AES_KEY,
    "QDG6eK",
    "PrOv1d3r",
]


@dataclass
class Kinds:
    suite: App
    template: App
    component: App
    provider: App
    bare_provider: App
    event: InboundEvent


@pytest.fixture
def kinds(app) -> Kinds:
    session = db.session()
    provider = factories.provider(
        session, corpid="wwprov1", name="ISV Provider", secret="provider-secret-value"
    )
    bare = factories.provider(session, corpid="wwprov2", token=None, aes_key=None)
    suite = factories.wecom_app(
        session, app_id="wwsuite", name="Suite One", provider_corpid="wwprov1"
    )
    template = factories.wecom_app(
        session, app_id="dktemplate", name="Template One", provider_corpid="wwprov1"
    )
    component = factories.open_app(session, app_id="wxcomp", name="Component One")
    factories.tenant(session, suite, tenant_id="wwcorpa", name="Third Party Corp")
    factories.tenant(
        session,
        template,
        tenant_id="wwcorpb",
        name="Customized Corp",
        credential="customized-secret-value",
    )
    now = utcnow()
    session.add(
        AppToken(
            app_pk=provider.id,
            access_token="provider-access-token-secret",
            version=1,
            obtained_at=now,
            expires_at=now + timedelta(hours=2),
        )
    )
    event = InboundEvent(
        app_pk=provider.id,
        tenant_id="wwcorpb",
        channel="system",
        kind="license_pay_success",
        dedupe_key="hash:license",
        raw="<xml>...</xml>",
        payload=(
            "<xml><ServiceCorpId>wwprov1</ServiceCorpId><InfoType>license_pay_success</InfoType>"
            "<AuthCorpId>wwcorpb</AuthCorpId><OrderId>order1</OrderId></xml>"
        ),
        status="done",
        attempts=1,
    )
    session.add(event)
    session.commit()
    return Kinds(suite, template, component, provider, bare, event)


def between(body: str, start: str, end: str) -> str:
    return body[body.index(start) : body.index(end, body.index(start))]


def no_secret_in(body: str, page: str) -> None:
    for secret in SECRETS:
        assert secret not in body, (page, secret)


def test_every_page_that_looks_apps_up_renders_for_every_kind(signed_in, kinds):
    pages = [
        "/admin/",
        "/admin/at-risk",
        "/admin/apps",
        "/admin/tenants",
        "/admin/tenants?app=wwprov1",
        "/admin/tenants?app=dktemplate",
        "/admin/tenants/dktemplate/wwcorpb",
        "/admin/tenants/wwsuite/wwcorpa",
        "/admin/events?app=wwprov1",
        f"/admin/events/{kinds.event.id}",
        "/admin/webhooks?app=wwprov1",
        "/admin/audit?target=app:wwprov1",
        "/admin/api-keys",
    ]
    for app_id in ("wwsuite", "dktemplate", "wxcomp", "wwprov1", "wwprov2"):
        pages += [f"/admin/apps/{app_id}", f"/admin/apps/{app_id}/rotate-aes-key"]
    for page in pages:
        response = signed_in.get(page)
        assert response.status_code == 200, (page, response.status_code)
        no_secret_in(response.get_data(as_text=True), page)
    # A provider has no tenants: its corpid is not an app of a tenant page.
    assert signed_in.get("/admin/tenants/wwprov1/wwcorpb").status_code == 404


def test_the_apps_list_shows_each_kind_and_the_providers_apart(signed_in, kinds, app):
    body = signed_in.get("/admin/apps").get_data(as_text=True)
    apps = between(body, 'id="apps"', "</table>")
    for app_id, kind in (
        ("wwsuite", "third-party suite"),
        ("dktemplate", "customized template"),
        ("wxcomp", "component"),
    ):
        row = between(apps, f">{app_id}</a>", "</tr>")
        assert f'class="kind">{kind}<' in row, app_id
    assert "wwprov1" not in apps and "wwprov2" not in apps  # providers are not apps

    providers = between(body, 'id="providers"', "</table>")
    first = between(providers, ">wwprov1</a>", "</tr>")
    url = f"{app.config['PUBLIC_URL']}/callback/wecom/provider/wwprov1"
    assert f'readonly value="{url}"' in first  # ready to paste into the console
    assert "ISV Provider" in first
    assert re.search(r"<td>2</td>", first)  # the suite and the template name it
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", first)  # its token's expiry
    second = between(providers, ">wwprov2</a>", "</tr>")
    assert "not set up" in second and "/callback/wecom/provider/wwprov2" not in second
    assert "none yet" in second and re.search(r"<td>0</td>", second)


def test_the_dashboard_shows_kinds_and_no_provider_card(signed_in, kinds):
    body = signed_in.get("/admin/").get_data(as_text=True)
    assert 'id="app-dktemplate"' in body and 'id="app-wwsuite"' in body
    assert 'id="app-wwprov1"' not in body
    template = between(body, 'id="app-dktemplate"', "</section>")
    assert "customized template" in template and "1 active" in template


def test_a_provider_page_shows_its_system_event_url_token_and_linked_apps(signed_in, kinds, app):
    body = signed_in.get("/admin/apps/wwprov1").get_data(as_text=True)
    assert re.search(r'id="app-kind">provider account<', body)
    url = f"{app.config['PUBLIC_URL']}/callback/wecom/provider/wwprov1"
    assert f'readonly value="{url}"' in body
    assert "/callback/wecom/wwprov1/command" not in body  # not a suite's URLs
    assert "/install/wwprov1" not in body
    assert 'id="system-url-not-set"' not in body
    assert re.search(r'id="provider-token-expires"><time', body)
    linked = between(body, 'id="linked-apps"', "</ul>")
    assert 'href="/admin/apps/dktemplate"' in linked and "customized template" in linked
    assert 'href="/admin/apps/wwsuite"' in linked and "third-party suite" in linked
    # What a provider does not have: tenants, a landing URL, test mode.
    assert "Tenants of this app" not in body
    assert 'name="landing_url"' not in body and 'name="test_mode"' not in body
    assert 'href="/admin/apps/wwprov1/rotate-aes-key"' in body

    bare = signed_in.get("/admin/apps/wwprov2").get_data(as_text=True)
    assert 'id="system-url-not-set"' in bare and "answers 404" in bare
    assert "rotate-aes-key" not in bare  # no key to rotate away from
    assert "None: register suites and templates" in bare


def test_a_template_page_shows_its_qr_install_link_and_its_provider(signed_in, kinds, app):
    base = app.config["PUBLIC_URL"]
    body = signed_in.get("/admin/apps/dktemplate").get_data(as_text=True)
    assert re.search(r'id="app-kind">customized template<', body)
    for url in (
        f"{base}/callback/wecom/dktemplate/command",
        f"{base}/callback/wecom/dktemplate/data",
        f"{base}/install/dktemplate",
    ):
        assert f'readonly value="{url}"' in body
    assert "QR install link" in body and "Trusted redirect domain" not in body
    assert 'href="/admin/apps/wwprov1"' in between(body, 'id="provider-link"', "</p>")

    suite = signed_in.get("/admin/apps/wwsuite").get_data(as_text=True)
    assert re.search(r'id="app-kind">third-party suite<', suite)
    assert "Trusted redirect domain" in suite

    orphan = factories.wecom_app(db.session(), app_id="dkorphan", provider_corpid="wwnobody")
    page = signed_in.get(f"/admin/apps/{orphan.app_id}").get_data(as_text=True)
    link = between(page, 'id="provider-link"', "</p>")
    assert "wwnobody" in link and "not registered on this server" in link
    assert "providers add" in link


def test_tenants_show_their_kind_never_their_credential(signed_in, kinds):
    body = signed_in.get("/admin/tenants").get_data(as_text=True)
    customized = between(body, ">wwcorpb</a>", "</tr>")
    third_party = between(body, ">wwcorpa</a>", "</tr>")
    assert 'class="kind">customized<' in customized
    assert 'class="kind">third-party<' in third_party
    assert "customized-secret-value" not in body

    page = signed_in.get("/admin/tenants/dktemplate/wwcorpb").get_data(as_text=True)
    assert re.search(r'id="tenant-kind">customized ', page) and "gettoken" in page
    assert re.search(r'id="credential"[^>]*>present<', page)
    assert "customized-secret-value" not in page
    other = signed_in.get("/admin/tenants/wwsuite/wwcorpa").get_data(as_text=True)
    assert re.search(r'id="tenant-kind">third-party ', other) and "get_corp_token" in other


def test_a_system_event_page_links_the_corp_to_its_tenants(signed_in, kinds):
    body = signed_in.get(f"/admin/events/{kinds.event.id}").get_data(as_text=True)
    assert "license_pay_success" in body and "provider account" in body
    # The corp may be a tenant of several apps: the link searches them all.
    assert 'href="/admin/tenants?q=wwcorpb"' in body
    assert "/admin/tenants/wwprov1/wwcorpb" not in body
    found = signed_in.get("/admin/tenants?q=wwcorpb").get_data(as_text=True)
    assert "/admin/tenants/dktemplate/wwcorpb" in found


def test_a_failing_provider_token_is_at_risk_as_a_provider_token(signed_in, kinds):
    session = db.session()
    token = session.scalar(select(AppToken).where(AppToken.app_pk == kinds.provider.id))
    token.last_error = "service/get_provider_token: 40013 invalid corpid"
    token.last_error_at = utcnow()
    session.commit()
    body = signed_in.get("/admin/at-risk").get_data(as_text=True)
    row = between(body, "<td>provider token</td>", "</tr>")
    assert 'href="/admin/apps/wwprov1"' in row and "40013 invalid corpid" in row
    stale = between(body, "Apps without a fresh ticket", "</table>")
    assert "wwsuite" in stale and "wwprov1" not in stale  # a provider has no tickets
    page = signed_in.get("/admin/apps/wwprov1").get_data(as_text=True)
    assert "40013 invalid corpid" in page


def test_a_provider_s_system_event_url_is_set_with_both_token_and_key(signed_in, kinds):
    page = "/admin/apps/wwprov2"
    refused = post(signed_in, page, f"{page}/settings", name="Second", token="OnlyAToken1")
    assert refused.status_code == 303 and refused.headers["Location"] == page
    body = signed_in.get(page).get_data(as_text=True)
    assert "Not saved" in body and "both its Token and its EncodingAESKey" in body
    db.session().expire_all()
    provider = db.session().get(App, kinds.bare_provider.id)
    assert (provider.token, provider.aes_key, provider.name) == ("", "", "wwprov2")

    new_key = "B" * 43
    saved = post(
        signed_in,
        page,
        f"{page}/settings",
        name="Second",
        token="BothSet1",
        aes_key=new_key,
        secret="another-provider-secret",
    )
    assert saved.status_code == 303
    db.session().expire_all()
    provider = db.session().get(App, kinds.bare_provider.id)
    assert (provider.token, provider.aes_key, provider.name) == ("BothSet1", new_key, "Second")
    assert provider.secret == "another-provider-secret"
    assert (provider.landing_url, provider.test_mode) == (None, False)
    body = signed_in.get(page).get_data(as_text=True)
    assert 'id="system-url-not-set"' not in body
    for secret in ("BothSet1", new_key, "another-provider-secret"):
        assert secret not in body
    listing = signed_in.get("/admin/apps").get_data(as_text=True)
    assert "/callback/wecom/provider/wwprov2" in listing
    entry = db.session().scalars(select(AuditEntry).where(AuditEntry.action == "app.update")).one()
    assert (entry.actor, entry.target) == (USERNAME, "app:wwprov2")
    assert set(entry.detail["changed"]) == {"name", "secret", "token", "aes_key"}


def test_a_provider_without_a_key_has_none_to_rotate(signed_in, kinds):
    confirm = "/admin/apps/wwprov2/rotate-aes-key"
    response = post(signed_in, confirm, confirm, confirm="yes", key=key_fingerprint(""))
    assert response.status_code == 303
    assert "there is no EncodingAESKey yet" in signed_in.get("/admin/apps/wwprov2").get_data(
        as_text=True
    )
    db.session().expire_all()
    provider = db.session().get(App, kinds.bare_provider.id)
    assert (provider.aes_key, provider.previous_aes_key, provider.token) == ("", None, "")


def test_a_provider_s_webhook_is_set_on_its_page(signed_in, kinds):
    page = "/admin/apps/wwprov1"
    response = post(signed_in, page, f"{page}/webhook", url="https://hooks.example.com/system")
    assert response.status_code == 303 and response.headers["Location"] == page
    db.session().expire_all()
    provider = db.session().get(App, kinds.provider.id)
    assert provider.webhook_url == "https://hooks.example.com/system" and provider.webhook_secret
