"""The admin in Chinese: a walk over every page of the admin, rendered for a browser that asks for
Chinese, finds no English a reader would meet (tests/admin/untranslated.py says what counts), and
every string marked in the code has its translation (catalog.py --check)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from flask import Flask

from suite_server import db
from suite_server.admin import catalog
from suite_server.dispatch.webhooks import receivers
from suite_server.models import Deployment, DeploymentTarget
from tests import factories
from tests.admin.test_pages import World, world  # noqa: F401
from tests.admin.untranslated import english_words, untranslated

CHINESE = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}


@dataclass
class Everything:
    world: World
    receiver_id: int
    deployment_id: int


@pytest.fixture
def everything(world) -> Everything:  # noqa: F811
    session = db.session()
    factories.provider(session, corpid="wwprovider0001", name="服务商")
    factories.wecom_app(session, app_id="dktemplate1", name="代开发模板")
    receiver, _secret = receivers.add(
        session,
        world.component,
        name="crm",
        url="https://crm.example.com/hooks",
        patterns="text event:*",
        sync=False,
    )
    account = factories.tenant(
        session, world.component, tenant_id="wxmini1", name="小程序一号", status="active"
    )
    deployment = Deployment(
        app_pk=world.component.id,
        template_id="12",
        user_version="1.0.3",
        user_desc="修复",
        status="running",
        created_by="ops",
    )
    session.add(deployment)
    session.flush()
    session.add_all(
        [
            DeploymentTarget(
                deployment_pk=deployment.id,
                tenant_pk=account.id,
                tenant_id=account.tenant_id,
                step="failed",
                failed_step="submit",
                error="85009: already auditing",
            ),
            DeploymentTarget(
                deployment_pk=deployment.id,
                tenant_pk=world.reauth.id,
                tenant_id=world.reauth.tenant_id,
                step="auditing",
            ),
        ]
    )
    session.commit()
    return Everything(world, receiver.id, deployment.id)


def every_page(e: Everything) -> dict[str, list[str]]:
    """endpoint -> the pages of it to walk. Every GET page of the admin is here: a new page
    fails test_the_walk_covers_every_page until it is added."""
    w = e.world
    return {
        "admin.login": ["/admin/login"],
        "admin.dashboard": ["/admin/"],
        "admin.at_risk": ["/admin/at-risk"],
        "admin.tenant_list": ["/admin/tenants", "/admin/tenants?q=nothing-matches"],
        "admin.tenant_page": [
            "/admin/tenants/wwsuite/wwcorp1",
            "/admin/tenants/wxcomp/wxaccount1",
            "/admin/tenants/wxcomp/wxmini1",
        ],
        "admin.tenant_deactivate_confirm": ["/admin/tenants/wwsuite/wwcorp1/deactivate"],
        "admin.tenant_quota": ["/admin/tenants/wxcomp/wxmini1/quota"],
        "admin.event_list": ["/admin/events", "/admin/events?status=failed"],
        "admin.event_page": [f"/admin/events/{w.event.id}"],
        "admin.delivery_list": ["/admin/webhooks"],
        "admin.delivery_page": [f"/admin/webhooks/{w.delivery.id}"],
        "admin.queue_list": ["/admin/queues"],  # in-process; on RQ: test_queues.py
        # Only RQ has failed jobs: test_queues.py walks this page in Chinese with a real one.
        "admin.queue_failed_job": [],
        "admin.app_list": ["/admin/apps"],
        "admin.app_page": [
            "/admin/apps/wwsuite",
            "/admin/apps/wxcomp",
            "/admin/apps/dktemplate1",
            "/admin/apps/wwprovider0001",
        ],
        "admin.app_rotate_confirm": ["/admin/apps/wwsuite/rotate-aes-key"],
        "admin.app_receivers": ["/admin/apps/wxcomp/receivers"],
        "admin.app_receiver_remove_confirm": [
            f"/admin/apps/wxcomp/receivers/{e.receiver_id}/remove"
        ],
        "admin.deployment_page": [f"/admin/apps/wxcomp/deployments/{e.deployment_id}"],
        "admin.api_key_list": ["/admin/api-keys"],
        "admin.audit_log": ["/admin/audit"],
        "admin.account": ["/admin/account"],
    }


def admin_pages(app: Flask) -> set[str]:
    return {
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("admin.")
        and "GET" in rule.methods
        and rule.endpoint != "admin.static"
    }


def test_the_walk_covers_every_page(app, everything):
    assert admin_pages(app) == set(every_page(everything))


def test_every_page_in_chinese_has_no_english_left(app, signed_in, everything):
    left = {}
    for pages in every_page(everything).values():
        for page in pages:
            response = signed_in.get(page, headers=CHINESE)
            assert response.status_code == 200, page
            html = response.get_data(as_text=True)
            assert '<html lang="zh-CN">' in html, page
            found = untranslated(html)
            if found:
                left[page] = found
    assert not left, "\n".join(f"{page}: {texts}" for page, texts in left.items())


def test_the_same_pages_in_english_are_english(signed_in, everything):
    body = signed_in.get("/admin/", headers={"Accept-Language": "en-US,en"}).get_data(as_text=True)
    assert '<html lang="en">' in body and ">Dashboard<" in body


def test_every_marked_string_has_its_translation():
    assert catalog.problems() == []


def test_the_finder_sees_english_but_not_data_or_identifiers():
    page = (
        '<p>授权方 <span translate="no">Acme Corp</span> 的凭证 <code>get_corp_token</code> '
        'suite_ticket wx1234 API</p><button title="Refresh now">刷新</button><p>Saved</p>'
    )
    assert untranslated(page) == ["<button> attribute: 'Refresh now'", "Saved"]
    assert english_words("errcode 40001 · suite_ticket · URL") == ["errcode"]
