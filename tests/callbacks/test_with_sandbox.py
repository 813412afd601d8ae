"""End to end over real HTTP: the sandbox pushes like the platforms, to our four URLs."""

from __future__ import annotations

import requests
from sqlalchemy import select

from suite_server import db
from suite_server.models import InboundEvent, Ticket
from tests import factories

KEY = factories.AES_KEY


def control(sandbox, path, **body):
    response = requests.post(f"{sandbox.base_url}/sandbox/{path}", json=body, timeout=30)
    assert response.status_code in (200, 201), response.text
    return response.json()


def register(sandbox, server_url, app, **extra):
    return control(
        sandbox,
        "apps",
        platform=app.platform,
        app_id=app.app_id,
        secret=app.secret,
        token=app.token,
        aes_key=app.aes_key,
        server_url=server_url,
        **extra,
    )


def test_wecom_ticket_and_data_push_reach_the_database(app, live_server, platform_sandbox):
    session = db.session()
    suite = factories.wecom_app(session, app_id="wwsandboxsuite", provider_corpid="wwprov")
    register(platform_sandbox, live_server, suite, provider_corpid="wwprov", push_ticket=False)

    pushed = control(platform_sandbox, "push", app_id=suite.app_id, kind="ticket")
    assert (pushed["delivered"], pushed["status"], pushed["body"]) == (True, 200, "success")
    newest = session.scalars(
        select(Ticket).where(Ticket.app_pk == suite.id).order_by(Ticket.pushed_at.desc())
    ).first()
    sandbox_tickets = requests.get(
        f"{platform_sandbox.base_url}/sandbox/apps/{suite.app_id}", timeout=10
    ).json()["tickets"]
    assert newest.value in str(sandbox_tickets)

    [corp] = control(platform_sandbox, "tenants/bulk", app_id=suite.app_id, count=1)["tenants"]
    factories.tenant(session, suite, tenant_id=corp["tenant_id"])
    text = control(
        platform_sandbox,
        "push",
        app_id=suite.app_id,
        kind="text",
        tenant_id=corp["tenant_id"],
        content="hello from the sandbox",
    )
    assert text["delivered"] is True, text
    event = session.scalars(select(InboundEvent).where(InboundEvent.kind == "text")).one()
    assert (event.channel, event.tenant_id) == ("data", corp["tenant_id"])
    assert "hello from the sandbox" in event.payload


def test_open_ticket_and_message_push_reach_the_database(app, live_server, platform_sandbox):
    session = db.session()
    component = factories.open_app(session, app_id="wxsandboxcomp")
    register(platform_sandbox, live_server, component, push_ticket=False)
    pushed = control(platform_sandbox, "push", app_id=component.app_id, kind="ticket")
    assert pushed["delivered"] is True and pushed["body"] == "success"
    assert session.scalars(select(Ticket).where(Ticket.app_pk == component.id)).first()

    [account] = control(platform_sandbox, "tenants/bulk", app_id=component.app_id, count=1)[
        "tenants"
    ]
    text = control(
        platform_sandbox,
        "push",
        app_id=component.app_id,
        kind="text",
        tenant_id=account["tenant_id"],
        content="hi",
    )
    assert text["delivered"] is True, text
    event = session.scalars(select(InboundEvent).where(InboundEvent.channel == "msg")).one()
    assert event.tenant_id == account["tenant_id"]


def test_a_sandbox_app_with_the_wrong_key_is_refused(app, live_server, platform_sandbox):
    suite = factories.wecom_app(db.session(), app_id="wwwrongkey")
    body = {
        "platform": "wecom",
        "app_id": suite.app_id,
        "secret": "s",
        "token": suite.token,
        "aes_key": "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR",
        "server_url": live_server,
        "push_ticket": False,
    }
    control(platform_sandbox, "apps", **body)
    pushed = control(platform_sandbox, "push", app_id=suite.app_id, kind="ticket")
    assert pushed["delivered"] is False
    assert pushed["status"] == 400  # the signature matches (same token), the key does not
    assert db.session().scalar(select(InboundEvent.id)) is None
