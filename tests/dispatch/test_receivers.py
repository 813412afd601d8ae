"""Several webhook receivers per app, over real HTTP with the sandbox: each gets the kinds its
patterns match (lifecycle kinds included), signed with its own secret; disabled and removed
receivers; the checks; the CLI. The synchronous receiver is in test_sync_receiver.py."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import func, select

from suite_server import db
from suite_server.dispatch import webhooks
from suite_server.dispatch.webhooks import receivers as rules
from suite_server.errors import ValidationError
from suite_server.models import (
    WebhookReceiver,
)
from tests import factories
from tests.authorization.conftest import drain, push
from tests.dispatch.conftest import one_line_error, run
from tests.dispatch.receiving import add, deliveries, kinds
from tests.dispatch.test_webhooks import stored_message

INSTALL = {"wecom": "create_auth", "open": "authorized"}
CANCEL = {"wecom": "cancel_auth", "open": "unauthorized"}


# -- routing by kind, each receiver with its own secret --------------------------------------------


def test_each_receiver_gets_the_kinds_it_matches_signed_with_its_own_secret(
    app, platform, either, receivers, handlers
):
    everything, lifecycle, texts, events_ = (receivers(200) for _ in range(4))
    everything.secret = webhooks.configure_app(db.session(), either, url=everything.url)
    db.session().commit()
    add(either, lifecycle, "lifecycle", "tenant.*")
    add(either, texts, "texts", "text")
    add(either, events_, "events", "event:*")

    push(platform, either, INSTALL[either.platform], tenant_id="t-routes", name="Routes")
    drain(app)
    assert kinds(lifecycle) == ["tenant.authorized"]  # a new install, before any message
    for kind, fields in [("text", {}), ("event", {"event": "subscribe"}), ("text", {})]:
        push(platform, either, kind, tenant_id="t-routes", **fields)
        drain(app)  # each dispatched before the next: the order of their deliveries is known
    push(platform, either, CANCEL[either.platform], tenant_id="t-routes")
    drain(app)

    assert kinds(lifecycle) == ["tenant.authorized", "tenant.cancelled"]
    assert kinds(texts) == ["text", "text"]
    assert kinds(events_) == ["event:subscribe"]
    assert kinds(everything) == [
        "tenant.authorized",
        "text",
        "event:subscribe",
        "text",
        "tenant.cancelled",
    ]
    secrets = {r.secret for r in (everything, lifecycle, texts, events_)}
    assert len(secrets) == 4
    for receiver in (everything, lifecycle, texts, events_):
        got = receiver.requests
        assert all(r.verify_ok and r.documented_ok for r in got)
        for other in secrets - {receiver.secret}:  # signed with its own secret, no other
            assert not any(
                webhooks.verify(other, r.headers, None, r.body) for r in receiver.requests
            )
    # One copy of each message per receiver, the same bytes everywhere.
    first_text = texts.requests[0]
    event_id = first_text.headers["X-Suite-Server-Event"]
    assert everything.bodies("X-Suite-Server-Event", event_id) == [first_text.body]
    assert {d.status for d in deliveries()} == {"delivered"}
    named = {r.id: r.name for r in db.session().scalars(select(WebhookReceiver))}
    by_receiver = {named.get(d.receiver_pk) for d in deliveries()}
    assert by_receiver == {None, "lifecycle", "texts", "events"}


def test_a_receiver_without_an_app_webhook_and_the_tenant_url(app, receivers):
    """Receivers need no app webhook URL; a tenant's own URL still gets everything, signed with
    the app's secret; a disabled receiver gets nothing new."""
    session = db.session()
    suite = factories.wecom_app(session)
    texts, off, own = receivers(200), receivers(200), receivers(200)
    add(suite, texts, "texts", "TEXT")  # patterns ignore case
    add(suite, off, "off", "*")
    receivers_of = {r.name: r for r in rules.of_app(session, suite)}
    rules.update(session, suite, receivers_of["off"], enabled=False)
    tenant = factories.tenant(session, suite)
    own.secret = webhooks.configure_tenant(session, suite, tenant, url=own.url)
    session.commit()

    message = stored_message(suite, tenant)
    assert [t.url for t in webhooks.targets(session, message)] == [texts.url, own.url]
    webhooks.schedule(session, message)
    drain(app)
    assert len(texts.requests) == len(own.requests) == 1 and off.requests == []
    assert texts.requests[0].verify_ok and own.requests[0].verify_ok
    assert suite.webhook_url is None and suite.webhook_secret == own.secret


def test_a_rotated_secret_signs_the_pending_deliveries(app, receivers):
    session = db.session()
    suite = factories.wecom_app(session)
    receiver = receivers(200)
    old = add(suite, receiver, "r1", "*")
    with app.test_request_context():  # the jobs start when the block ends
        (delivery_id,) = webhooks.schedule(session, stored_message(suite))
        _, receiver.secret = rules.update(
            session, suite, rules.find(session, suite, "r1"), rotate=True
        )
        session.commit()
    drain(app)
    [request] = receiver.requests
    assert request.verify_ok and receiver.secret != old
    assert not webhooks.verify(old, request.headers, None, request.body)
    assert deliveries(id=delivery_id)[0].status == "delivered"


def test_a_disabled_receiver_fails_its_pending_deliveries_until_redelivered(app, receivers):
    session = db.session()
    suite = factories.wecom_app(session)
    receiver = receivers(200)
    add(suite, receiver, "r1", "*")
    found = rules.find(session, suite, "r1")
    with app.test_request_context():
        (delivery_id,) = webhooks.schedule(session, stored_message(suite))
        rules.update(session, suite, found, enabled=False)
        session.commit()
    drain(app)
    [row] = deliveries(id=delivery_id)
    assert receiver.requests == [] and row.status == "failed"
    assert row.last_error.startswith("the receiver is disabled")

    rules.update(session, suite, found, enabled=True)
    session.commit()
    webhooks.redeliver(session, delivery_id)
    drain(app)
    assert deliveries(id=delivery_id)[0].status == "delivered" and len(receiver.requests) == 1


def test_removing_a_receiver_removes_its_deliveries(app, receivers):
    session = db.session()
    suite = factories.wecom_app(session)
    kept, gone = receivers(200), receivers(500)
    add(suite, kept, "kept", "*")
    add(suite, gone, "gone", "text")
    with app.test_request_context():  # the jobs start when the block ends
        webhooks.schedule(session, stored_message(suite))
        assert rules.remove(session, rules.find(session, suite, "gone")) == 1
        session.commit()
    drain(app)
    assert [(d.url, d.status) for d in deliveries()] == [(kept.url, "delivered")]
    assert gone.requests == []


# -- checks and the CLI ----------------------------------------------------------------------------


def test_receiver_checks(app):
    session = db.session()
    suite = factories.wecom_app(session, app_id="wwchecks")
    webhooks.configure_app(session, suite, url="https://hooks.example.com/all")
    tenant = factories.tenant(session, suite, tenant_id="wwown")
    webhooks.configure_tenant(session, suite, tenant, url="https://corp.example.com/own")
    session.commit()
    rules.add(session, suite, name="bot", url="https://b.example/", patterns="text", sync=True)
    session.commit()

    def refused(message: str, **fields) -> None:
        values = {"name": "n", "url": "https://n.example/", "patterns": "*", **fields}
        with pytest.raises(ValidationError, match=re.escape(message)):
            rules.add(session, suite, **values)
        session.rollback()

    refused("receiver name must be", name="has space")
    refused("receiver name must be", name="-x")
    refused("receiver name must be", name="x" * 65)
    refused("app wwchecks has a receiver 'bot' already", name="bot")
    refused("webhook URL must be an http:// or https:// URL", url="ftp://x")
    refused("that is the app's webhook URL", url="https://hooks.example.com/all")
    refused("that URL is tenant wwown's own webhook", url="https://corp.example.com/own")
    refused("receiver 'bot' of wwchecks has that URL already", url="https://b.example/")
    refused("give at least one match pattern", patterns=" ")
    refused("give at least one match pattern", patterns=[])
    refused("match pattern 'event:{x}' must be", patterns="event:{x}")
    refused("match pattern 'a?' must be", patterns=["text", "a?"])
    refused("match pattern", patterns="x" * 65)
    refused(
        "the match patterns take at most 500 characters",
        patterns=[f"p{n}" + "x" * 58 for n in range(9)],
    )
    refused("receiver 'bot' of wwchecks is its synchronous one already", sync=True)

    # And the other way: the app's or a tenant's URL may not be a receiver's.
    with pytest.raises(ValidationError, match="that URL is receiver 'bot'"):
        webhooks.configure_app(session, suite, url="https://b.example/")
    with pytest.raises(ValidationError, match="that URL is receiver 'bot'"):
        webhooks.configure_tenant(session, suite, tenant, url="https://b.example/")
    session.rollback()

    receiver, _ = rules.add(
        session, suite, name="many", url="https://m.example/", patterns=["text, event:*", "text"]
    )
    assert receiver.matches == "text event:*"
    assert rules.matches(receiver.matches, "event:LOCATION")
    assert not rules.matches(receiver.matches, "image")
    assert not rules.matches("tenant.*", "text") and rules.matches("*", "tenant.updated")
    assert session.scalar(select(func.count()).select_from(WebhookReceiver)) == 2


def test_cli_receivers(app, runner):
    session = db.session()
    factories.wecom_app(session, app_id="wwcli")
    base = ["webhooks", "receivers"]

    result = run(
        runner, *base, "add", "wwcli", "--name", "bot", "--url", "https://bot.example/hook",
        "--match", "text", "--match", "event:*", "--sync",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    secret = re.search(r"receiver secret: (\S+)", result.output).group(1)
    assert "bot https://bot.example/hook matches text event:* [sync]" in result.output
    stored = session.scalar(select(WebhookReceiver).where(WebhookReceiver.name == "bot"))
    assert stored.secret == secret and len(secret) >= 43

    listed = json.loads(run(runner, *base, "list", "--json").output)
    assert listed == [
        {
            "app_id": "wwcli",
            "name": "bot",
            "url": "https://bot.example/hook",
            "matches": ["text", "event:*"],
            "sync": True,
            "enabled": True,
            "created_at": listed[0]["created_at"],
            "updated_at": listed[0]["updated_at"],
        }
    ]
    table = run(runner, *base, "list", "--app", "wwcli").output
    assert "bot" in table and secret not in table
    assert run(runner, *base, "list", "--app", "other").output.strip().endswith("(none)")

    result = run(
        runner, *base, "update", "wwcli", "bot", "--disable", "--no-sync", "--match", "tenant.*"
    )
    assert result.exit_code == 0, result.output
    assert "(matches, sync, enabled)" in result.output and "secret" not in result.output
    result = run(runner, *base, "update", "wwcli", "bot", "--rotate-secret", "--enable")
    rotated = re.search(r"receiver secret: (\S+)", result.output).group(1)
    session.expire_all()
    assert rotated != secret and stored.secret == rotated and stored.enabled
    assert run(runner, *base, "update", "wwcli", "bot").output.strip().endswith("nothing changed)")

    one_line_error(
        run(runner, *base, "add", "nope", "--name", "x", "--url", "http://x/", "--match", "*"),
        "no app 'nope'",
    )
    one_line_error(
        run(runner, *base, "add", "wwcli", "--name", "x", "--url", "http://x/", "--match", "a b?"),
        "match pattern 'b?' must be 1-64 letters, digits, '_', '.', ':', '-' or '*' "
        "(e.g. text, event:subscribe, event:*, tenant.*, *)",
    )
    one_line_error(
        run(runner, *base, "add", "wwcli", "--name", "bot", "--url", "http://x/", "--match", "*"),
        "app wwcli has a receiver 'bot' already",
    )
    one_line_error(
        run(runner, *base, "update", "wwcli", "nobody", "--enable"),
        "no receiver 'nobody' of app 'wwcli'",
    )
    one_line_error(
        run(runner, *base, "update", "wwcli", "bot", "--sync", "--no-sync"),
        "give --sync or --no-sync, not both",
    )
    one_line_error(
        run(runner, *base, "update", "wwcli", "bot", "--url", "mailto:x"),
        "webhook URL must be an http:// or https:// URL of at most 500 chars",
    )
    result = run(runner, *base, "remove", "wwcli", "bot")
    assert result.output.strip() == "receiver bot of wwcli removed, with its 0 deliveries"
    assert session.scalar(select(func.count()).select_from(WebhookReceiver)) == 0
    one_line_error(run(runner, *base, "remove", "wwcli", "bot"), "no receiver 'bot' of app 'wwcli'")
