"""Webhook deliveries: every tenant message POSTed to the ISV's receivers, signed, at least once,
retried with backoff for up to a day, each attempt recorded (docs/webhooks.md is the receiver's
side).

`schedule` stores one delivery per receiver (the app's URL, the app's receivers whose patterns
match the message's kind, and the tenant's own URL, once per URL) with the exact JSON body,
commits, and enqueues the job `webhooks.deliver`, unless
an older delivery of the same tenant to that receiver goes first (ordering.py: it hands over when
done). The job POSTs the body: a 2xx marks the delivery `delivered`; anything else records the
attempt and asks the runner to run it again later (`Retry`), after the job runners' backoff
(jobs/retry.py) with its own cap, until WEBHOOK_RETRY_WINDOW has passed since the round began;
then it is `failed`, and `redeliver` starts a new round. A pending delivery whose job was lost
(Redis away, a process killed) is enqueued again by `webhooks.sweep` (jobs/recovery.py).

The POST does not go through upstream/http.py, on purpose: receivers are not platforms.
upstream/ calls a platform's API host and turns its JSON answer into a result or an
UpstreamError by errcode, raising; a receiver is any URL of the ISV's, its answer is any body and
only its status counts, and a failure is not raised but recorded with the attempt (status,
latency, the first EXCERPT_CHARS of the answer, read no further) and retried on the backoff. What
both share is small and set here for receivers: timeouts, no redirects, and error text that
never repeats the URL (`_reason`: the receiver's path and query may hold a secret of its own).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

import requests
from flask_babel import gettext
from sqlalchemy import func, select
from sqlalchemy.orm import Session, defer

from suite_server import db
from suite_server.db import insert_ignoring_conflict, utcnow
from suite_server.dispatch.messages import Message
from suite_server.dispatch.webhooks import ordering, receivers
from suite_server.dispatch.webhooks.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from suite_server.jobs import recovery, retry, runner
from suite_server.jobs.tasks import Retry, task
from suite_server.models import App, WebhookAttempt, WebhookDelivery
from suite_server.ops.metrics import WEBHOOK_DELIVERIES

# The package's name, as these lines had before it was split in modules.
log = logging.getLogger("suite_server.dispatch.webhooks")

WEBHOOK_RETRY_WINDOW = timedelta(hours=24)  # from the round's start; then the delivery fails
BACKOFF_BASE = 10.0  # seconds before the first retry (before jitter); doubles with each failure
BACKOFF_CAP = 3600.0  # the job runners' backoff (jobs/retry.py), with a longer cap
TIMEOUT = (3.0, 10.0)  # connect, read (seconds)
EXCERPT_CHARS = 500  # of the receiver's answer, kept with the attempt
SWEEP_AFTER = timedelta(minutes=2)  # a pending delivery this overdue has lost its job
SWEEP_BATCH = 500

EVENT_HEADER = "X-Suite-Server-Event"
DELIVERY_HEADER = "X-Suite-Server-Delivery"
REPLY_HEADER = "X-Suite-Server-Reply-Within"  # only when a passive reply is awaited (sync.py)
USER_AGENT = "suite-server-webhooks/1"


# -- scheduling ----------------------------------------------------------------------------------


class Target(NamedTuple):
    url: str
    receiver_pk: int | None  # None: the app's or the tenant's URL, signed with the app's secret


def targets(session: Session, message: Message) -> list[Target]:
    """Where a message goes: the app's URL (everything), each enabled receiver whose patterns
    match its kind, and the tenant's own URL; each URL once, the first of these winning."""
    app, tenant = message.app, message.tenant
    found = [Target(app.webhook_url, None)] if app.webhook_url else []
    found += [Target(url, pk) for pk, url in receivers.matching(session, app.id, message.kind)]
    if tenant is not None and tenant.webhook_url:
        found.append(Target(tenant.webhook_url, None))
    unique: dict[str, Target] = {}
    for target in found:
        unique.setdefault(target.url, target)
    return list(unique.values())


def schedule(session: Session, message: Message, hold: int | None = None) -> list[int]:
    """Store one delivery per receiver of this message, commit, then enqueue them. Returns the
    delivery ids ([] when nothing receives it). Idempotent: a message scheduled again (its job
    re-run) keeps its deliveries, and those are not enqueued a second time. The new delivery to
    the receiver `hold` is not enqueued: the caller sends it (sync.py), and enqueues it if that
    fails."""
    return _store(session, message, hold)[0]


def schedule_holding(session: Session, message: Message, receiver_pk: int) -> int | None:
    """`schedule`, holding back the delivery to this receiver: its id if it is new, else None
    (the message was scheduled before: its delivery is on its way already)."""
    return _store(session, message, receiver_pk)[1]


def _store(session: Session, message: Message, hold: int | None) -> tuple[list[int], int | None]:
    """The delivery ids, and that of the new one held back; enqueues the other new ones."""
    found = targets(session, message)
    if not found:
        return [], None
    body = json.dumps(message.as_json(), ensure_ascii=False, separators=(",", ":"))
    now = utcnow()
    ids, new, held = [], [], None
    for url, receiver_pk in found:
        values = {
            "event_pk": message.event_id,
            "app_pk": message.app.id,
            "tenant_id": message.tenant_id,
            "url": url,
            "receiver_pk": receiver_pk,
            "body": body,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
            "window_started_at": now,
        }
        delivery_id = insert_ignoring_conflict(
            session, WebhookDelivery, values, ["event_pk", "url"]
        )
        if delivery_id is None:
            delivery_id = session.scalar(
                select(WebhookDelivery.id).where(
                    WebhookDelivery.event_pk == message.event_id, WebhookDelivery.url == url
                )
            )
        elif hold is not None and receiver_pk == hold:
            held = delivery_id
        else:
            new.append(delivery_id)
        ids.append(delivery_id)
    session.commit()
    for delivery_id in ordering.unblocked(session, new):  # the others are woken in turn
        _enqueue(delivery_id)
    return ids, held


def _enqueue(delivery_id: int, after: int | None = None) -> None:
    # A failure here loses nothing: the delivery is stored as pending and the sweep finds it.
    job_id = f"webhook:{delivery_id}" + (f":after:{after}" if after is not None else "")
    try:
        runner.enqueue("webhooks.deliver", delivery_id, job_id=job_id)
    except Exception:
        log.exception("webhook delivery %s: enqueue failed; the sweep will retry it", delivery_id)


def redeliver(session: Session, delivery_id: int) -> WebhookDelivery:
    """Send a failed (or delivered) delivery again, the same body, in a new round of attempts
    with a fresh retry window. LookupError for an unknown id, ValueError for a pending one."""
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None:
        raise LookupError(gettext("no webhook delivery %(id)s", id=delivery_id))
    if delivery.status == "pending":
        raise ValueError(gettext("webhook delivery %(id)s is already pending", id=delivery_id))
    now = utcnow()
    delivery.status, delivery.window_started_at, delivery.next_attempt_at = "pending", now, now
    delivery.delivered_at = delivery.last_error = None
    session.commit()
    _enqueue(delivery_id)
    return delivery


def failed_ids(
    session: Session, app_id: str | None = None, since: datetime | None = None
) -> list[int]:
    """The failed deliveries (of one app, made since a time), oldest first: what a bulk
    redelivery sends again, each through `redeliver`."""
    query = select(WebhookDelivery.id).where(WebhookDelivery.status == "failed")
    if app_id is not None:
        query = query.join(App, App.id == WebhookDelivery.app_pk).where(App.app_id == app_id)
    if since is not None:
        query = query.where(WebhookDelivery.created_at >= since)
    return list(session.scalars(query.order_by(WebhookDelivery.id)))


# -- delivering ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """One attempt as seen from here."""

    status_code: int | None = None
    latency_ms: int = 0
    excerpt: str | None = None
    error: str | None = None
    content: bytes = field(default=b"", repr=False)  # the answer, when asked to keep it

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@task("webhooks.deliver")
def deliver(delivery_id: int) -> str | None:
    """One attempt of a pending delivery; returns its new status, or raises Retry. Nothing when
    it is not its turn (it is woken when it is), not due (its retry comes), or being sent."""
    session = db.session()
    ordering.autocommit(session)
    claimed = ordering.claim(session, delivery_id, utcnow())
    session.rollback()  # no connection is held while the receiver takes its time
    if claimed is None:
        return None
    url, body, event_pk, secret, receiver_pk = claimed
    if not secret:
        outcome = Outcome(error=no_secret(receiver_pk))
        status, _ = record(session, delivery_id, outcome, give_up=True)
        return status
    outcome = post(url, body.encode(), secret, event_pk, delivery_id)
    status, delay = record(session, delivery_id, outcome)
    if delay is not None:
        raise Retry(after=delay, reason=f"webhook delivery {delivery_id}: {outcome.error}")
    return status


def no_secret(receiver_pk: int | None) -> str:
    """Why a claimed delivery has nothing to sign with: turned off after it was scheduled."""
    if receiver_pk is not None:
        return (
            "the receiver is disabled (suite-server webhooks receivers update APP NAME --enable, "
            "then redeliver)"
        )
    return "the app has no webhook secret (suite-server apps webhook)"


def post(
    url: str,
    body: bytes,
    secret: str,
    event_pk: int,
    delivery_id: int,
    *,
    timeout: tuple[float, float] | None = None,
    keep: int = 0,
    reply_within: float | None = None,
) -> Outcome:
    """POST the body, signed; never raises for the receiver's trouble. `keep`: bytes of the
    answer to keep whole in Outcome.content (a longer answer keeps one more, to say so);
    `timeout` (connect, read) instead of TIMEOUT and `reply_within`, the seconds the receiver
    has for a passive reply (in a header): for the synchronous receiver (sync.py)."""
    timestamp = str(int(time.time()))  # per attempt: a retry is not refused as stale
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        EVENT_HEADER: f"evt_{event_pk}",
        DELIVERY_HEADER: str(delivery_id),
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign(secret, timestamp, body),
    }
    if reply_within is not None:
        headers[REPLY_HEADER] = str(int(reply_within * 1000))
    started = time.monotonic()
    try:
        # No redirects: a 3xx is an answer that is not 2xx, so the receiver's URL gets fixed.
        with requests.post(
            url,
            data=body,
            headers=headers,
            timeout=timeout or TIMEOUT,
            allow_redirects=False,
            stream=True,
        ) as response:
            status = response.status_code
            try:
                size = max(4 * EXCERPT_CHARS, keep + 1)
                head = next(response.iter_content(chunk_size=size), b"")
            except requests.RequestException:
                head = b""  # the status is the answer; a body that stalls does not undo it
    except requests.Timeout:
        given = f"connect {timeout[0]:g} s, read {timeout[1]:g} s" if timeout else None
        error = f"timed out ({given or 'connect 3 s, read 10 s'})"
        return Outcome(latency_ms=_since(started), error=error)
    except requests.RequestException as exc:
        return Outcome(latency_ms=_since(started), error=_reason(exc))
    excerpt = head.decode("utf-8", errors="replace")[:EXCERPT_CHARS]
    error = None if 200 <= status < 300 else f"HTTP {status}"
    return Outcome(status, _since(started), excerpt, error, head if keep else b"")


def _reason(exc: requests.RequestException) -> str:
    # urllib3's own reason names host and port but not the path and query, where a receiver's
    # URL may carry a token of its own; requests' message would repeat the whole URL.
    inner = getattr(exc.args[0], "reason", None) if exc.args else None
    text = str(inner or exc).splitlines()[0] if str(inner or exc) else ""
    return f"{type(exc).__name__}: {text}"[:500]


def _since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def record(
    session: Session,
    delivery_id: int,
    outcome: Outcome,
    give_up: bool = False,
    at_once: bool = False,
) -> tuple[str, float | None]:
    """Write the attempt and the delivery's new state; returns the status and, when another
    attempt is due, in how many seconds (0 with `at_once`: the caller enqueues it)."""
    now = utcnow()
    delivery = session.get(
        WebhookDelivery, delivery_id, populate_existing=True, options=[defer(WebhookDelivery.body)]
    )  # the body is not needed here, nor its decryption
    if delivery is None:  # its event (or its receiver) was deleted meanwhile
        session.rollback()
        return "deleted", None
    session.add(
        WebhookAttempt(
            delivery_pk=delivery_id,
            attempted_at=now,
            status_code=outcome.status_code,
            latency_ms=outcome.latency_ms,
            response_excerpt=outcome.excerpt,
            error=outcome.error,
        )
    )
    delivery.attempts += 1
    delay = None
    if outcome.ok:
        delivery.status, delivery.delivered_at, delivery.last_error = "delivered", now, None
    else:
        delivery.last_error = outcome.error
        deadline = delivery.window_started_at + WEBHOOK_RETRY_WINDOW
        if give_up or now >= deadline:
            delivery.status = "failed"
        elif at_once:
            delay = 0.0
        else:
            session.flush()
            round_attempts = session.scalar(
                select(func.count()).where(
                    WebhookAttempt.delivery_pk == delivery_id,
                    WebhookAttempt.attempted_at >= delivery.window_started_at,
                )
            )
            # The last retry lands at the window's end rather than up to an hour past it.
            wait = retry.backoff(round_attempts, BACKOFF_BASE, BACKOFF_CAP)
            delay = min(wait, (deadline - now).total_seconds())
    delivery.next_attempt_at = now + timedelta(seconds=delay) if delay is not None else None
    # Read now: waiting_for ends with a rollback, which expires them (a query each to reload).
    status, attempts, place = delivery.status, delivery.attempts, ordering.Place.of(delivery)
    session.commit()
    if ordering.stopped_blocking(status, attempts):  # the next one's turn
        for waiting in ordering.waiting_for(session, place):
            _enqueue(waiting, after=delivery_id)
    WEBHOOK_DELIVERIES.labels("retry" if delay is not None else status).inc()
    log.info(
        "webhook delivery %s: attempt %d %s in %d ms -> %s",
        delivery_id,
        attempts,
        outcome.status_code or outcome.error,
        outcome.latency_ms,
        status,
    )
    return status, delay


@task("webhooks.sweep", queue="low")
def sweep() -> int:
    """Enqueue pending deliveries whose job (or wake-up) was lost, those whose turn it is;
    returns how many were enqueued."""
    return recovery.enqueue_lost(
        "webhook deliveries", _overdue, _enqueue, after=SWEEP_AFTER, batch=SWEEP_BATCH
    )


def _overdue(before: datetime, batch: int) -> list[int]:
    return ordering.heads(db.session(), before, batch)
