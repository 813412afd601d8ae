"""The receivers page of an app with the Flask test client: sessions and CSRF as on every page;
add, edit, rotate and remove, each audited; a secret shown once after add and rotate, never
again, nowhere else; each receiver's recent deliveries."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import select

from suite_server import db
from suite_server.models import AuditEntry, InboundEvent, WebhookDelivery, WebhookReceiver
from tests import factories
from tests.admin.conftest import USERNAME, csrf_token, post

PAGE = "/admin/apps/wwsuite/receivers"


@pytest.fixture
def suite(app):
    suite = factories.wecom_app(db.session(), app_id="wwsuite", name="Suite One")
    return suite


def receiver(name: str) -> WebhookReceiver | None:
    db.session().expire_all()
    return db.session().scalar(select(WebhookReceiver).where(WebhookReceiver.name == name))


def audit_log() -> list[tuple[str, str, str, dict]]:
    db.session().expire_all()
    entries = db.session().scalars(select(AuditEntry).order_by(AuditEntry.id))
    return [
        (e.actor, e.action, e.target, e.detail) for e in entries if e.action.startswith("receiver.")
    ]


def text(body: str) -> str:
    """The page's text: names are in elements of their own (translate="no", data)."""
    return html.unescape(re.sub(r"<[^>]+>", "", body))


def add(client, name="bot", url=None, matches="text event:*", **extra):
    url = url or f"https://{name or 'x'}.example/hook"
    return post(client, PAGE, PAGE, name=name, url=url, matches=matches, **extra)


def test_the_page_and_its_actions_need_a_session_and_a_csrf_token(client, signed_in, suite):
    add(signed_in)
    rid = receiver("bot").id
    base = f"{PAGE}/{rid}"
    actions = [PAGE, base, f"{base}/rotate-secret", f"{base}/remove"]
    for action in actions:
        refused = signed_in.post(action, data={"name": "x", "url": "http://x/", "matches": "*"})
        assert refused.status_code == 400 and "security token" in refused.get_data(as_text=True)
    signed_in.post("/admin/logout", data={"csrf_token": csrf_token(signed_in, PAGE)})
    for page in (PAGE, f"{base}/remove"):
        response = signed_in.get(page)
        assert response.status_code == 302 and "/admin/login" in response.headers["Location"]
    assert receiver("bot").url == "https://bot.example/hook"
    assert [a for _, a, _, _ in audit_log()] == ["receiver.add"]


def test_add_shows_the_secret_once_and_audits_without_it(signed_in, suite):
    response = add(signed_in, sync="y")
    assert response.status_code == 303 and response.headers["Location"] == PAGE
    stored = receiver("bot")
    assert (stored.url, stored.matches, stored.sync, stored.enabled) == (
        "https://bot.example/hook",
        "text event:*",
        True,
        True,
    )
    first = signed_in.get(PAGE).get_data(as_text=True)
    assert stored.secret in first and "New signing secret of bot" in text(first)
    again = signed_in.get(PAGE).get_data(as_text=True)
    assert stored.secret not in again and "https://bot.example/hook" in again
    assert stored.secret not in signed_in.get("/admin/apps/wwsuite").get_data(as_text=True)
    [(actor, action, target, detail)] = audit_log()
    assert (actor, action, target) == (USERNAME, "receiver.add", "app:wwsuite")
    assert detail["name"] == "bot" and stored.secret not in str(detail)

    refused = add(signed_in, name="bot2", matches="text?")
    assert refused.status_code == 303
    body = signed_in.get(PAGE).get_data(as_text=True)
    assert "Not added: match pattern" in body and receiver("bot2") is None
    add(signed_in, name="bot2", matches="*", sync="y")
    assert "is its synchronous one already" in signed_in.get(PAGE).get_data(as_text=True)
    add(signed_in, name="", matches="*")
    assert "Not added: receiver name must be" in signed_in.get(PAGE).get_data(as_text=True)
    assert [a for _, a, _, _ in audit_log()] == ["receiver.add"]


def test_an_admin_reading_chinese_is_told_in_chinese_what_was_refused(signed_in, suite):
    post(signed_in, "/admin/", "/admin/language", language="zh", next=PAGE)
    add(signed_in, matches="text?")
    body = text(signed_in.get(PAGE).get_data(as_text=True))
    assert "未添加：匹配模式 'text?' 须为 1 到 64 个字母" in body and receiver("bot") is None
    add(signed_in)
    body = text(signed_in.get(PAGE).get_data(as_text=True))
    assert "接收方 bot 已添加。" in body and "bot 的新签名密钥" in body


def test_edit_rotate_and_remove(signed_in, suite):
    add(signed_in)
    signed_in.get(PAGE)  # the secret's one showing
    stored = receiver("bot")
    old_secret, base = stored.secret, f"{PAGE}/{stored.id}"
    fields = {"url": "https://new.example/hook", "matches": "tenant.*"}
    prefixed = {f"r{stored.id}-{k}": v for k, v in fields.items()}

    response = post(signed_in, PAGE, base, **prefixed)  # "enabled" unchecked: disabled
    assert response.status_code == 303 and response.headers["Location"] == PAGE
    edited = receiver("bot")
    assert (edited.url, edited.matches, edited.enabled, edited.sync) == (
        "https://new.example/hook",
        "tenant.*",
        False,
        False,
    )
    body = signed_in.get(PAGE).get_data(as_text=True)
    assert "bot: saved url, matches, enabled" in body and "disabled" in body
    assert old_secret not in body
    post(signed_in, PAGE, base, **{**prefixed, f"r{stored.id}-url": "ftp://x"})
    assert "bot: not saved: webhook URL must be" in signed_in.get(PAGE).get_data(as_text=True)

    post(signed_in, PAGE, f"{base}/rotate-secret")
    rotated = receiver("bot").secret
    assert rotated != old_secret
    assert rotated in signed_in.get(PAGE).get_data(as_text=True)
    assert rotated not in signed_in.get(PAGE).get_data(as_text=True)

    # Remove: asked first, then gone with its deliveries.
    event = InboundEvent(
        app_pk=suite.id, channel="data", kind="text", dedupe_key="k1", raw="", payload="<xml/>"
    )
    db.session().add(event)
    db.session().flush()
    db.session().add(
        WebhookDelivery(
            event_pk=event.id, app_pk=suite.id, url=edited.url, body="{}", receiver_pk=stored.id
        )
    )
    db.session().commit()
    asked = post(signed_in, PAGE, f"{base}/remove")
    assert asked.status_code == 303 and asked.headers["Location"] == f"{base}/remove"
    confirm = signed_in.get(f"{base}/remove").get_data(as_text=True)
    assert "Remove the receiver bot" in text(confirm) and rotated not in confirm
    assert receiver("bot") is not None
    response = post(signed_in, f"{base}/remove", f"{base}/remove", confirm="yes")
    assert response.status_code == 303 and response.headers["Location"] == PAGE
    assert receiver("bot") is None
    assert db.session().scalar(select(WebhookDelivery.id)) is None
    assert "Receiver bot removed, with its 1 deliveries" in signed_in.get(PAGE).get_data(
        as_text=True
    )
    log = audit_log()
    assert [a for _, a, _, _ in log] == [
        "receiver.add",
        "receiver.update",
        "receiver.rotate_secret",
        "receiver.remove",
    ]
    assert log[1][3]["changed"] == ["url", "matches", "enabled"]
    assert log[3][3]["deliveries"] == 1
    assert not any(secret in str(log) for secret in (old_secret, rotated))


def test_recent_deliveries_and_the_link_from_the_app_page(signed_in, suite):
    add(signed_in)
    stored = receiver("bot")
    for n in range(12):
        event = InboundEvent(
            app_pk=suite.id,
            tenant_id="wwcorp9",
            channel="data",
            kind="text",
            dedupe_key=f"k{n}",
            raw="",
            payload="<xml/>",
        )
        db.session().add(event)
        db.session().flush()
        db.session().add(
            WebhookDelivery(
                event_pk=event.id,
                app_pk=suite.id,
                tenant_id="wwcorp9",
                url=stored.url,
                body='{"secret-ish": "body"}',
                receiver_pk=stored.id,
                status="failed" if n == 11 else "delivered",
                attempts=3,
                last_error="HTTP 503" if n == 11 else None,
            )
        )
    db.session().commit()
    body = signed_in.get(PAGE).get_data(as_text=True)
    assert "HTTP 503" in body and "secret-ish" not in body
    shown = re.findall(r'href="/admin/webhooks/(\d+)"', body)
    assert len(shown) == 10  # the newest ten
    app_page = signed_in.get("/admin/apps/wwsuite").get_data(as_text=True)
    assert f'href="{PAGE}"' in app_page


def test_unknown_app_or_receiver_is_404(signed_in, suite):
    assert signed_in.get("/admin/apps/nope/receivers").status_code == 404
    assert signed_in.get(f"{PAGE}/999/remove").status_code == 404
    assert post(signed_in, PAGE, f"{PAGE}/999/rotate-secret").status_code == 404
    other = factories.wecom_app(db.session(), app_id="wwother")
    add(signed_in)
    rid = receiver("bot").id
    assert signed_in.get(f"/admin/apps/{other.app_id}/receivers/{rid}/remove").status_code == 404
