"""Webhooks against a real local receiver: retries until a 2xx, every attempt recorded, signatures
checked with the documented receiver code and with `verify`, giving up after the window,
targets, redelivery, the sweep, and the CLI."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from suite_server import db
from suite_server.dispatch import Message, webhooks
from suite_server.dispatch.webhooks import delivery as webhook_delivery
from suite_server.jobs import attempts as job_attempts
from suite_server.jobs import runner as job_runner
from suite_server.jobs.runner import get_runner
from suite_server.models import App, InboundEvent, Tenant, WebhookAttempt, WebhookDelivery
from tests import factories
from tests.conftest import TEST_KEY
from tests.dispatch import worker as worker_module
from tests.dispatch.conftest import Receiver, one_line_error, run, verify_webhook


@pytest.fixture
def fast(monkeypatch):
    """Backoff in tenths of a second instead of tens of seconds (time, not the network)."""
    monkeypatch.setattr(webhook_delivery, "BACKOFF_BASE", 0.1)


def configured(receiver: Receiver, **fields) -> App:
    session = db.session()
    suite = factories.wecom_app(session, **fields)
    receiver.secret = webhooks.configure_app(session, suite, url=receiver.url)
    session.commit()
    return suite


def stored_message(suite: App, tenant: Tenant | None = None, content: str = "hello") -> Message:
    fields = {
        "ToUserName": "wwcorp",
        "FromUserName": "zhangsan",
        "CreateTime": "1700000000",
        "MsgType": "text",
        "Content": content,
        "MsgId": "23456789",
        "AgentID": "1",
    }
    payload = "<xml>" + "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items()) + "</xml>"
    event = InboundEvent(
        app_pk=suite.id,
        tenant_id=tenant.tenant_id if tenant else "wwcorp",
        channel="data",
        kind="text",
        dedupe_key=uuid.uuid4().hex,
        raw="<xml/>",
        payload=payload,
    )
    session = db.session()
    session.add(event)
    session.commit()
    return Message.of(event, suite, tenant, fields)


def drain(app, timeout: float = 8.0) -> None:
    assert get_runner(app).drain(timeout), "the webhook jobs did not finish"
    db.session().expire_all()


def delivery(delivery_id: int) -> WebhookDelivery:
    return db.session().get(WebhookDelivery, delivery_id)


def attempts(delivery_id: int) -> list[WebhookAttempt]:
    return list(
        db.session().scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_pk == delivery_id)
            .order_by(WebhookAttempt.id)
        )
    )


def test_retried_until_2xx_each_attempt_recorded_then_nothing_more(app, receivers, fast):
    receiver = receivers(500, 500, 200)
    suite = configured(receiver)
    message = stored_message(suite)

    (delivery_id,) = webhooks.schedule(db.session(), message)
    drain(app)

    assert len(receiver.requests) == 3
    row = delivery(delivery_id)
    assert (row.status, row.attempts, row.last_error) == ("delivered", 3, None)
    assert row.delivered_at is not None and row.next_attempt_at is None
    recorded = attempts(delivery_id)
    assert [a.status_code for a in recorded] == [500, 500, 200]
    assert [a.error for a in recorded] == ["HTTP 500", "HTTP 500", None]
    assert len(recorded[0].response_excerpt) == 500 and recorded[2].response_excerpt == "ok"
    assert all(a.latency_ms >= 0 for a in recorded)

    for request in receiver.requests:
        assert request.documented_ok and request.verify_ok
        assert request.headers["Content-Type"] == "application/json"
        assert request.headers["X-Suite-Server-Event"] == f"evt_{message.event_id}"
        assert request.headers["X-Suite-Server-Delivery"] == str(delivery_id)
        assert json.loads(request.body) == message.as_json()
    assert len({r.body for r in receiver.requests}) == 1  # the same bytes each time

    time.sleep(0.5)  # longer than any backoff here: no fourth request comes
    assert len(receiver.requests) == 3


def test_signatures(app):
    body = b'{"id":"evt_1"}'
    signature = webhooks.sign("s3cret", 1700000000, body)
    assert re.fullmatch(r"v1=[0-9a-f]{64}", signature)
    now = 1700000100
    assert webhooks.verify("s3cret", signature, 1700000000, body, now=now)
    assert webhooks.verify("s3cret", signature, "1700000000", body.decode(), now=now)
    headers = {"x-suite-server-signature": signature, "X-Suite-Server-Timestamp": "1700000000"}
    assert webhooks.verify("s3cret", headers, None, body, now=now)

    assert not webhooks.verify("wrong", signature, 1700000000, body, now=now)
    assert not webhooks.verify("s3cret", signature, 1700000000, body + b" ", now=now)
    assert not webhooks.verify("s3cret", signature, 1700000001, body, now=now)
    assert not webhooks.verify("s3cret", signature, 1700000000, body, now=1700000000 + 301)
    assert not webhooks.verify("s3cret", signature, 1700000000, body, now=1700000000 - 301)
    assert webhooks.verify("s3cret", signature, 1700000000, body, tolerance=0, now=1e10)
    assert not webhooks.verify("s3cret", signature.upper(), 1700000000, body, now=now)
    assert not webhooks.verify("s3cret", "v1=ünïcode", 1700000000, body, now=now)
    assert not webhooks.verify("s3cret", signature, "-1", body, now=now)
    assert not webhooks.verify("s3cret", {}, None, body, now=now)

    # The documented receiver code agrees, against the real clock.
    timestamp = str(int(time.time()))
    fresh = {
        "X-Suite-Server-Timestamp": timestamp,
        "X-Suite-Server-Signature": webhooks.sign("s3cret", timestamp, body),
    }
    assert verify_webhook("s3cret", fresh, body)
    assert not verify_webhook("wrong", fresh, body)
    assert not verify_webhook("s3cret", fresh, body + b"x")
    old = str(int(time.time()) - 600)
    stale = {
        "X-Suite-Server-Timestamp": old,
        "X-Suite-Server-Signature": webhooks.sign("s3cret", old, body),
    }
    assert not verify_webhook("s3cret", stale, body)
    assert not webhooks.verify("s3cret", stale, None, body)


def test_a_receiver_that_never_accepts_is_given_up_after_the_window(
    app, receivers, fast, monkeypatch
):
    monkeypatch.setattr(webhook_delivery, "WEBHOOK_RETRY_WINDOW", timedelta(seconds=0.6))
    receiver = receivers(500)
    (delivery_id,) = webhooks.schedule(db.session(), stored_message(configured(receiver)))
    drain(app)

    row = delivery(delivery_id)
    assert (row.status, row.last_error, row.next_attempt_at) == ("failed", "HTTP 500", None)
    recorded = attempts(delivery_id)
    assert len(recorded) == len(receiver.requests) == row.attempts >= 3
    assert {a.status_code for a in recorded} == {500}
    # The last attempt is made when the window ends, not before it and not much after.
    window_end = row.window_started_at + timedelta(seconds=0.6)
    assert window_end <= recorded[-1].attempted_at < window_end + timedelta(seconds=0.5)
    assert recorded[-2].attempted_at < window_end
    time.sleep(0.3)
    assert len(receiver.requests) == row.attempts


def test_no_answer_and_timeouts_are_failed_attempts(app, receivers, fast, monkeypatch):
    monkeypatch.setattr(webhook_delivery, "TIMEOUT", (1.0, 0.2))
    # the first failure ends it
    monkeypatch.setattr(webhook_delivery, "WEBHOOK_RETRY_WINDOW", timedelta(0))
    hanging = receivers("hang")
    suite = configured(hanging)
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        refused_url = f"http://127.0.0.1:{closed.getsockname()[1]}/hook"
    tenant = factories.tenant(db.session(), suite, webhook_url=refused_url)

    ids = webhooks.schedule(db.session(), stored_message(suite, tenant))
    drain(app)

    timed_out, refused = (attempts(i) for i in ids)
    assert [(a.status_code, a.error) for a in timed_out] == [
        (None, "timed out (connect 3 s, read 10 s)")
    ]
    assert refused[0].status_code is None and refused[0].error.startswith("ConnectionError")
    assert [delivery(i).status for i in ids] == ["failed", "failed"]


def test_targets_app_and_tenant_receivers(app, receivers):
    app_receiver, tenant_receiver = receivers(200), receivers(200)
    suite = configured(app_receiver)
    tenant_receiver.secret = app_receiver.secret  # signed with the app's secret
    session = db.session()
    own = factories.tenant(session, suite, webhook_url=tenant_receiver.url)
    same = factories.tenant(session, suite, webhook_url=app_receiver.url)
    plain = factories.tenant(session, suite)

    both = webhooks.schedule(session, stored_message(suite, own))
    assert len(both) == 2
    assert len(webhooks.schedule(session, stored_message(suite, same))) == 1
    assert len(webhooks.schedule(session, stored_message(suite, plain))) == 1
    assert len(webhooks.schedule(session, stored_message(suite, None))) == 1
    drain(app)

    assert len(app_receiver.requests) == 4 and len(tenant_receiver.requests) == 1
    assert tenant_receiver.requests[0].verify_ok and tenant_receiver.requests[0].documented_ok
    assert all(r.verify_ok and r.documented_ok for r in app_receiver.requests)
    (copy,) = tenant_receiver.requests
    event = copy.headers["X-Suite-Server-Event"]
    assert app_receiver.bodies("X-Suite-Server-Event", event) == [copy.body]
    assert {delivery(i).tenant_id for i in both} == {own.tenant_id}


def test_no_target_no_delivery(app):
    session = db.session()
    suite = factories.wecom_app(session)
    assert webhooks.schedule(session, stored_message(suite, factories.tenant(session, suite))) == []
    assert session.scalar(select(WebhookDelivery.id)) is None


def test_scheduling_a_message_again_keeps_its_deliveries(app, receivers):
    receiver = receivers(200)
    message = stored_message(configured(receiver))
    first = webhooks.schedule(db.session(), message)
    drain(app)
    assert webhooks.schedule(db.session(), message) == first  # the dispatch job ran again
    drain(app)
    assert len(receiver.requests) == 1


def test_redeliver_sends_the_same_body_again(app, receivers, fast):
    receiver = receivers(200)
    (delivery_id,) = webhooks.schedule(db.session(), stored_message(configured(receiver)))
    drain(app)
    with pytest.raises(LookupError):
        webhooks.redeliver(db.session(), 999_999)

    webhooks.redeliver(db.session(), delivery_id)
    drain(app)

    first, second = receiver.requests
    assert first.body == second.body and second.verify_ok and second.documented_ok
    assert second.headers["X-Suite-Server-Delivery"] == str(delivery_id)
    row = delivery(delivery_id)
    assert (row.status, row.attempts) == ("delivered", 2)
    assert [a.status_code for a in attempts(delivery_id)] == [200, 200]


def test_a_pending_delivery_cannot_be_redelivered_and_a_lost_job_is_swept(app, receivers):
    receiver = receivers(200)
    suite = configured(receiver)
    message = stored_message(suite)
    session = db.session()
    # Stored, but its job was lost before it ran (as if the enqueue had failed).
    row = WebhookDelivery(
        event_pk=message.event_id,
        app_pk=suite.id,
        url=receiver.url,
        body='{"id":"evt_x"}',
        next_attempt_at=webhooks.utcnow() - timedelta(minutes=5),
    )
    session.add(row)
    session.commit()
    with pytest.raises(ValueError, match="already pending"):
        webhooks.redeliver(session, row.id)

    assert webhooks.sweep() == 1
    drain(app)
    assert delivery(row.id).status == "delivered"
    assert receiver.requests[0].body == b'{"id":"evt_x"}'
    assert webhooks.sweep() == 0


def test_a_delivery_without_a_secret_fails_unsent(app, receivers):
    receiver = receivers(200)
    suite = configured(receiver)
    message = stored_message(suite)
    suite.webhook_secret = None  # turned off behind the CLI's back
    db.session().commit()
    (delivery_id,) = webhooks.schedule(db.session(), message)
    drain(app)
    assert receiver.requests == []
    row = delivery(delivery_id)
    assert row.status == "failed" and "no webhook secret" in row.last_error


# -- CLI -------------------------------------------------------------------------------------------


def test_cli_app_and_tenant_webhooks(app, runner):
    session = db.session()
    suite = factories.wecom_app(session, app_id="wwsuiteW")
    tenant = factories.tenant(session, suite, tenant_id="wwcorpW")

    result = run(runner, "apps", "webhook", "wwsuiteW", "--url", "https://hooks.example.com/a")
    assert result.exit_code == 0, result.output
    secret = re.search(r"webhook secret: (\S+)", result.output).group(1)
    session.expire_all()
    assert (suite.webhook_url, suite.webhook_secret) == ("https://hooks.example.com/a", secret)
    assert len(secret) >= 43

    result = run(runner, "apps", "webhook", "wwsuiteW", "--url", "https://hooks.example.com/b")
    assert result.exit_code == 0 and "secret" not in result.output  # kept, not shown again
    shown = run(runner, "apps", "webhook", "wwsuiteW").output
    assert "https://hooks.example.com/b" in shown and secret not in shown

    result = run(runner, "apps", "webhook", "wwsuiteW", "--rotate-secret")
    rotated = re.search(r"webhook secret: (\S+)", result.output).group(1)
    session.expire_all()
    assert rotated != secret and suite.webhook_secret == rotated

    one_line_error(
        run(runner, "apps", "webhook", "wwsuiteW", "--url", "ftp://x"),
        "webhook URL must be an http:// or https:// URL of at most 500 chars",
    )
    one_line_error(run(runner, "apps", "webhook", "nope", "--off"), "no app 'nope'")
    one_line_error(
        run(runner, "tenants", "webhook", "wwsuiteW", "nope", "--off"),
        "no tenant 'nope' of app 'wwsuiteW'",
    )
    one_line_error(
        run(runner, "tenants", "webhook", "wwsuiteW", "wwcorpW"), "give either --url URL or --off"
    )

    result = run(runner, "tenants", "webhook", "wwsuiteW", "wwcorpW", "--url", "http://corp/h")
    assert result.exit_code == 0 and "secret" not in result.output
    one_line_error(
        run(runner, "apps", "webhook", "wwsuiteW", "--off"),
        "1 tenant(s) of wwsuiteW have their own webhook, signed with the app's secret: turn those "
        "off first (suite-server tenants webhook APP TENANT --off)",
    )
    assert run(runner, "tenants", "webhook", "wwsuiteW", "wwcorpW", "--off").exit_code == 0
    assert run(runner, "apps", "webhook", "wwsuiteW", "--off").exit_code == 0
    session.expire_all()
    assert (suite.webhook_url, suite.webhook_secret, tenant.webhook_url) == (None, None, None)

    # A tenant webhook on an app without a secret makes one, shown once.
    result = run(runner, "tenants", "webhook", "wwsuiteW", "wwcorpW", "--url", "http://corp/h")
    generated = re.search(r"webhook secret: (\S+)", result.output).group(1)
    session.expire_all()
    assert suite.webhook_secret == generated and suite.webhook_url is None


def test_cli_list_and_redeliver(app, runner, receivers, fast):
    receiver = receivers(200)
    suite = configured(receiver, app_id="wwsuiteL")
    ids = [webhooks.schedule(db.session(), stored_message(suite))[0] for _ in range(2)]
    drain(app)
    db.session().execute(
        WebhookDelivery.__table__.update()
        .where(WebhookDelivery.id == ids[0])
        .values(status="failed", last_error="HTTP 500")
    )
    db.session().commit()

    listed = json.loads(run(runner, "webhooks", "list", "--json").output)
    assert [(r["id"], r["status"], r["app_id"]) for r in listed] == [
        (ids[1], "delivered", "wwsuiteL"),
        (ids[0], "failed", "wwsuiteL"),
    ]
    assert "body" not in listed[0] and listed[0]["url"] == receiver.url
    failed = json.loads(run(runner, "webhooks", "list", "--status", "failed", "--json").output)
    assert [r["id"] for r in failed] == [ids[0]]
    assert json.loads(run(runner, "webhooks", "list", "--app", "other", "--json").output) == []
    table = run(runner, "webhooks", "list").output
    assert "HTTP 500" in table and "hello" not in table

    result = run(runner, "webhooks", "redeliver", str(ids[0]))
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"webhook delivery {ids[0]}: delivered"
    sent = receiver.bodies("X-Suite-Server-Delivery", ids[0])
    assert len(sent) == 2 and sent[0] == sent[1]
    one_line_error(run(runner, "webhooks", "redeliver", "424242"), "no webhook delivery 424242")


def test_deliveries_to_a_receiver_arrive_in_order_per_tenant(app, receivers, fast):
    """The first message's delivery fails twice; the second message waits for it."""
    receiver = receivers(500, 500, 200)
    suite = configured(receiver)
    first = stored_message(suite, content="first")
    second = stored_message(suite, content="second")
    webhooks.schedule(db.session(), first)
    webhooks.schedule(db.session(), second)
    drain(app)
    contents = [json.loads(r.body)["fields"]["Content"] for r in receiver.requests]
    assert contents == ["first", "first", "first", "second"]


def test_a_delivery_failing_three_times_lets_the_next_one_go_at_once(app, receivers, monkeypatch):
    """After its third failure the first message no longer holds the second back: the second
    is sent right then (before the first's next retry, 1-2 s later), not found by a poll."""
    monkeypatch.setattr(webhook_delivery, "BACKOFF_BASE", 0.5)
    receiver = receivers(500, 500, 500, 200)
    suite = configured(receiver)
    first, second = (stored_message(suite, content=c) for c in ("first", "second"))
    webhooks.schedule(db.session(), first)
    webhooks.schedule(db.session(), second)
    drain(app)
    contents = [json.loads(r.body)["fields"]["Content"] for r in receiver.requests]
    assert contents == ["first"] * 3 + ["second", "first"]


def counting_job_runs(monkeypatch) -> dict[str, int]:
    """Every attempt of every task, whichever runner runs it."""
    runs: dict[str, int] = {}
    perform = job_attempts.perform

    def counted(flask_app, task, *args, **kwargs):
        runs[task.name] = runs.get(task.name, 0) + 1
        return perform(flask_app, task, *args, **kwargs)

    monkeypatch.setattr(job_attempts, "perform", counted)
    return runs


def test_many_messages_of_one_tenant_arrive_in_order_at_a_bounded_cost(app, receivers, monkeypatch):
    """60 messages of one tenant on the in-process runner's two threads: they arrive in order,
    each delivery job runs at most twice (its own job, a wake-up), nothing polls. Not timed."""
    count = 60
    runs = counting_job_runs(monkeypatch)
    receiver = receivers(200)
    suite = configured(receiver)
    ids = [
        webhooks.schedule(db.session(), stored_message(suite, content=str(n)))[0]
        for n in range(count)
    ]
    drain(app, timeout=60)

    arrived = [json.loads(r.body)["fields"]["Content"] for r in receiver.requests]
    assert arrived == [str(n) for n in range(count)]
    assert {delivery(i).status for i in ids} == {"delivered"}
    assert runs["webhooks.deliver"] <= 2 * count


def test_many_messages_in_order_at_a_bounded_cost_with_two_rq_workers(
    app, receivers, redis_url, tmp_path
):
    """The same with two `suite-server worker` processes on real Redis, taking jobs while the
    messages are being scheduled."""
    count = 60
    app.config["REDIS_URL"] = redis_url
    app.extensions[job_runner.EXTENSION] = job_runner.RQRunner(redis_url)
    receiver = receivers(200)
    suite = configured(receiver)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUITE_SERVER_")}
    for name in ("DATABASE_URL", "SECRET_KEY", "INSTANCE_PATH", "REDIS_URL"):
        env[f"SUITE_SERVER_{name}"] = str(app.config[name])
    env["SUITE_SERVER_ENCRYPTION_KEYS"] = TEST_KEY
    workers = []
    for n in range(2):
        log = open(tmp_path / f"worker{n}.log", "w")  # noqa: SIM115 (the process keeps it)
        workers.append(
            subprocess.Popen(
                [sys.executable, "-m", "tests.dispatch.worker"],
                env=env,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        )
    connection = job_runner.get_runner(app).connection
    try:
        deadline = time.monotonic() + 60
        while connection.scard("rq:workers") < 2:
            assert time.monotonic() < deadline, "the workers did not start"
            time.sleep(0.1)
        ids = [
            webhooks.schedule(db.session(), stored_message(suite, content=str(n)))[0]
            for n in range(count)
        ]
        deadline = time.monotonic() + 90
        while len({r.headers["X-Suite-Server-Delivery"] for r in receiver.requests}) < count:
            assert time.monotonic() < deadline, "not delivered within 90 s"
            time.sleep(0.1)
        while any(delivery(i).status == "pending" for i in ids):  # the last one is recorded
            assert time.monotonic() < deadline, "not recorded within 90 s"
            time.sleep(0.1)
            db.session().expire_all()
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)  # the job in hand finishes first
        for worker in workers:
            try:
                worker.wait(timeout=20)
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(worker.pid, signal.SIGKILL)  # its scheduler, if still there
                worker.wait()

    arrived = [json.loads(r.body)["fields"]["Content"] for r in receiver.requests]
    assert arrived == [str(n) for n in range(count)]
    runs = int(connection.hget(worker_module.RUNS, "webhooks.deliver") or 0)
    assert count <= runs <= 2 * count


def test_a_lost_wake_up_is_made_good_by_the_sweep(app, receivers, monkeypatch):
    """The worker that delivered the first message died before it woke the second: the sweep
    enqueues the second (the head of the chain), not the third, which still waits its turn."""
    receiver = receivers(200)
    suite = configured(receiver)
    enqueue = job_runner.enqueue

    def lost_wake_ups(name, *args, job_id=None, **kwargs):
        if job_id and ":after:" in job_id:
            return None  # as if the process had died right before
        return enqueue(name, *args, job_id=job_id, **kwargs)

    monkeypatch.setattr(job_runner, "enqueue", lost_wake_ups)
    with app.test_request_context():  # the jobs start once all three are stored
        ids = [
            webhooks.schedule(db.session(), stored_message(suite, content=c))[0]
            for c in ("one", "two", "three")
        ]
    drain(app)
    assert [delivery(i).status for i in ids] == ["delivered", "pending", "pending"]

    monkeypatch.setattr(job_runner, "enqueue", enqueue)
    monkeypatch.setattr(webhook_delivery, "SWEEP_AFTER", timedelta(0))  # two minutes later
    assert webhooks.sweep() == 1
    drain(app)
    assert [delivery(i).status for i in ids] == ["delivered"] * 3
    arrived = [json.loads(r.body)["fields"]["Content"] for r in receiver.requests]
    assert arrived == ["one", "two", "three"]
    assert webhooks.sweep() == 0
