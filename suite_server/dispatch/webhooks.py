"""Webhooks: every tenant message POSTed to the ISV's receivers, signed, at least once, retried
with backoff for up to a day, each attempt recorded (docs/webhooks.md is the receiver's side).

`schedule` stores one delivery per receiver (the app's URL, and the tenant's own when it has a
different one) with the exact JSON body, commits, and enqueues the job `webhooks.deliver`, unless
an older delivery of the same tenant to that receiver goes first (ordering.py: it hands over when
done). The job POSTs the body: a 2xx marks the delivery `delivered`; anything else records the
attempt and asks the runner to run it again later (`Retry`), until WEBHOOK_RETRY_WINDOW has passed
since the round began; then it is `failed`, and `redeliver` starts a new round. A pending delivery
whose job was lost (Redis away, a process killed) is enqueued again by `webhooks.sweep`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
from sqlalchemy import func, select
from sqlalchemy.orm import Session, defer

from suite_server import db
from suite_server.apps import ValidationError
from suite_server.db import insert_ignoring_conflict, utcnow
from suite_server.dispatch import ordering
from suite_server.dispatch.messages import Message
from suite_server.jobs import retry, runner
from suite_server.jobs.tasks import Retry, task
from suite_server.metrics import WEBHOOK_DELIVERIES
from suite_server.models import App, Tenant, WebhookAttempt, WebhookDelivery

log = logging.getLogger(__name__)

WEBHOOK_RETRY_WINDOW = timedelta(hours=24)  # from the round's start; then the delivery fails
BACKOFF_BASE = 10.0  # seconds before the first retry (before jitter); doubles with each failure
BACKOFF_CAP = 3600.0  # jobs/retry.py: the same backoff as the job runners, with a longer cap
TIMEOUT = (3.0, 10.0)  # connect, read (seconds)
EXCERPT_CHARS = 500  # of the receiver's answer, kept with the attempt
TOLERANCE = 300  # seconds a receiver accepts between X-Suite-Server-Timestamp and its clock
SWEEP_AFTER = timedelta(minutes=2)  # a pending delivery this overdue has lost its job
SWEEP_BATCH = 500

EVENT_HEADER = "X-Suite-Server-Event"
DELIVERY_HEADER = "X-Suite-Server-Delivery"
TIMESTAMP_HEADER = "X-Suite-Server-Timestamp"
SIGNATURE_HEADER = "X-Suite-Server-Signature"
USER_AGENT = "suite-server-webhooks/1"


# -- signing: what a receiver checks -------------------------------------------------------------


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """The X-Suite-Server-Signature value: "v1=" + hex HMAC-SHA256(secret, "<timestamp>.<body>")."""
    message = f"{timestamp}.".encode() + body
    return "v1=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify(
    secret: str,
    headers_or_signature: Mapping[str, str] | str,
    timestamp: int | str | None,
    body: bytes | str,
    tolerance: float = TOLERANCE,
    now: float | None = None,
) -> bool:
    """Whether a request came from this server with this body, recently. Pass the request's
    headers (then `timestamp` may be None: it is read from them) or the signature header's value.
    `tolerance` seconds of clock difference are accepted either way (0: no time check)."""
    signature = headers_or_signature
    if not isinstance(headers_or_signature, str):
        signature = _header(headers_or_signature, SIGNATURE_HEADER) or ""
        if timestamp is None:
            timestamp = _header(headers_or_signature, TIMESTAMP_HEADER)
    timestamp = str(timestamp if timestamp is not None else "").strip()
    if not re.fullmatch(r"[0-9]{1,12}", timestamp):
        return False
    now = time.time() if now is None else now
    if tolerance and abs(now - int(timestamp)) > tolerance:
        return False
    body = body.encode() if isinstance(body, str) else body
    expected = sign(secret, timestamp, body).encode()
    return hmac.compare_digest(expected, str(signature).strip().encode())


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)  # case-insensitive for werkzeug, requests and http.server headers
    if value is None:
        value = next((v for k, v in headers.items() if k.lower() == name.lower()), None)
    return value


# -- scheduling ----------------------------------------------------------------------------------


def targets(message: Message) -> list[str]:
    """The receiver URLs of a message: the app's, then the tenant's own if it differs."""
    urls = [message.app.webhook_url] if message.app.webhook_url else []
    tenant_url = message.tenant.webhook_url if message.tenant is not None else None
    if tenant_url and tenant_url not in urls:
        urls.append(tenant_url)
    return urls


def schedule(session: Session, message: Message) -> list[int]:
    """Store one delivery per receiver of this message, commit, then enqueue them. Returns the
    delivery ids ([] when the app and tenant have no webhook). Idempotent: a message scheduled
    again (its job re-run) keeps its deliveries, and those are not enqueued a second time."""
    urls = targets(message)
    if not urls:
        return []
    body = json.dumps(message.as_json(), ensure_ascii=False, separators=(",", ":"))
    now = utcnow()
    ids, new = [], []
    for url in urls:
        values = {
            "event_pk": message.event_id, "app_pk": message.app.id,
            "tenant_id": message.tenant_id, "url": url, "body": body, "status": "pending",
            "attempts": 0, "next_attempt_at": now, "created_at": now, "window_started_at": now,
        }  # fmt: skip
        delivery_id = insert_ignoring_conflict(
            session, WebhookDelivery, values, ["event_pk", "url"]
        )
        if delivery_id is None:
            delivery_id = session.scalar(
                select(WebhookDelivery.id).where(
                    WebhookDelivery.event_pk == message.event_id, WebhookDelivery.url == url
                )
            )
        else:
            new.append(delivery_id)
        ids.append(delivery_id)
    session.commit()
    for delivery_id in ordering.unblocked(session, new):  # the others are woken in turn
        _enqueue(delivery_id)
    return ids


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
        raise LookupError(f"no webhook delivery {delivery_id}")
    if delivery.status == "pending":
        raise ValueError(f"webhook delivery {delivery_id} is already pending")
    now = utcnow()
    delivery.status, delivery.window_started_at, delivery.next_attempt_at = "pending", now, now
    delivery.delivered_at = delivery.last_error = None
    session.commit()
    _enqueue(delivery_id)
    return delivery


# -- delivering ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """One attempt as seen from here."""

    status_code: int | None = None
    latency_ms: int = 0
    excerpt: str | None = None
    error: str | None = None

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
    url, body, event_pk, secret = claimed
    if not secret:
        # Webhooks were turned off after this was scheduled: nothing to sign with.
        outcome = Outcome(error="the app has no webhook secret (suite-server apps webhook)")
        return _record(session, delivery_id, outcome, give_up=True)
    return _record(session, delivery_id, post(url, body.encode(), secret, event_pk, delivery_id))


def post(url: str, body: bytes, secret: str, event_pk: int, delivery_id: int) -> Outcome:
    """POST the body, signed; never raises for the receiver's trouble."""
    timestamp = str(int(time.time()))  # per attempt: a retry is not refused as stale
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        EVENT_HEADER: f"evt_{event_pk}",
        DELIVERY_HEADER: str(delivery_id),
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign(secret, timestamp, body),
    }
    started = time.monotonic()
    try:
        # No redirects: a 3xx is an answer that is not 2xx, so the receiver's URL gets fixed.
        with requests.post(
            url, data=body, headers=headers, timeout=TIMEOUT, allow_redirects=False, stream=True
        ) as response:
            status = response.status_code
            try:
                head = next(response.iter_content(chunk_size=4 * EXCERPT_CHARS), b"")
            except requests.RequestException:
                head = b""  # the status is the answer; a body that stalls does not undo it
    except requests.Timeout:
        return Outcome(latency_ms=_since(started), error="timed out (connect 3 s, read 10 s)")
    except requests.RequestException as exc:
        return Outcome(latency_ms=_since(started), error=_reason(exc))
    excerpt = head.decode("utf-8", errors="replace")[:EXCERPT_CHARS]
    error = None if 200 <= status < 300 else f"HTTP {status}"
    return Outcome(status, _since(started), excerpt, error)


def _reason(exc: requests.RequestException) -> str:
    # urllib3's own reason names host and port but not the path and query, where a receiver's
    # URL may carry a token of its own; requests' message would repeat the whole URL.
    inner = getattr(exc.args[0], "reason", None) if exc.args else None
    text = str(inner or exc).splitlines()[0] if str(inner or exc) else ""
    return f"{type(exc).__name__}: {text}"[:500]


def _since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _record(session: Session, delivery_id: int, outcome: Outcome, give_up: bool = False) -> str:
    """Write the attempt and the delivery's new state; raise Retry when another attempt is due."""
    now = utcnow()
    delivery = session.get(
        WebhookDelivery, delivery_id, populate_existing=True, options=[defer(WebhookDelivery.body)]
    )  # the body is not needed here, nor its decryption
    if delivery is None:  # its event was deleted meanwhile
        session.rollback()
        return "deleted"
    session.add(
        WebhookAttempt(
            delivery_pk=delivery_id, attempted_at=now, status_code=outcome.status_code,
            latency_ms=outcome.latency_ms, response_excerpt=outcome.excerpt, error=outcome.error,
        )
    )  # fmt: skip
    delivery.attempts += 1
    delay = None
    if outcome.ok:
        delivery.status, delivery.delivered_at, delivery.last_error = "delivered", now, None
    else:
        delivery.last_error = outcome.error
        deadline = delivery.window_started_at + WEBHOOK_RETRY_WINDOW
        if give_up or now >= deadline:
            delivery.status = "failed"
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
        "webhook delivery %s: attempt %d %s in %d ms -> %s", delivery_id, attempts,
        outcome.status_code or outcome.error, outcome.latency_ms, status,
    )  # fmt: skip
    if delay is not None:
        raise Retry(after=delay, reason=f"webhook delivery {delivery_id}: {outcome.error}")
    return status


@task("webhooks.sweep", queue="low")
def sweep() -> int:
    """Enqueue pending deliveries whose job (or wake-up) was lost, those whose turn it is;
    returns how many were enqueued."""
    ids = ordering.heads(db.session(), utcnow() - SWEEP_AFTER, SWEEP_BATCH)
    for delivery_id in ids:
        _enqueue(delivery_id)
    if ids:
        log.info("webhook sweep: %d pending deliveries enqueued again", len(ids))
    return len(ids)


# -- settings (CLI, admin) -------------------------------------------------------------------------


def check_url(url: str) -> str:
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > 500:
        raise ValidationError("webhook URL must be an http:// or https:// URL of at most 500 chars")
    return url


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def configure_app(
    session: Session, app: App, *, url: str | None = None, off: bool = False, rotate: bool = False
) -> str | None:
    """Set the app's webhook URL (a secret is generated when it has none), turn its webhook off
    (URL and secret cleared), or rotate its secret. Returns the new secret, if one was made; the
    caller commits."""
    if off:
        if url or rotate:
            raise ValidationError("--off cannot be combined with --url or --rotate-secret")
        tenants = session.scalar(
            select(func.count()).where(Tenant.app_pk == app.id, Tenant.webhook_url.is_not(None))
        )
        if tenants:
            raise ValidationError(
                f"{tenants} tenant(s) of {app.app_id} have their own webhook, signed with the "
                "app's secret: turn those off first (suite-server tenants webhook APP TENANT --off)"
            )
        app.webhook_url = app.webhook_secret = None
        return None
    if url is not None:
        app.webhook_url = check_url(url)
    if rotate or not app.webhook_secret:
        app.webhook_secret = new_secret()
        return app.webhook_secret
    return None


def configure_tenant(
    session: Session, app: App, tenant: Tenant, *, url: str | None = None, off: bool = False
) -> str | None:
    """Set or clear a tenant's own webhook URL. Its deliveries are signed with the app's secret,
    which is generated (and returned) when the app has none yet; the caller commits."""
    if off:
        tenant.webhook_url = None
        return None
    tenant.webhook_url = check_url(url or "")
    if not app.webhook_secret:
        app.webhook_secret = new_secret()
        return app.webhook_secret
    return None


def overview(
    session: Session, app_id: str | None = None, status: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """Deliveries, newest first, for `webhooks list` and the admin pages. Never the body."""
    query = (
        select(App.app_id, WebhookDelivery)
        .join(App, App.id == WebhookDelivery.app_pk)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit)
    )
    if app_id:
        query = query.where(App.app_id == app_id)
    if status:
        query = query.where(WebhookDelivery.status == status)
    return [
        {
            "id": delivery.id,
            "app_id": owner,
            "tenant_id": delivery.tenant_id,
            "event_id": delivery.event_pk,
            "url": delivery.url,
            "status": delivery.status,
            "attempts": delivery.attempts,
            "created_at": _iso(delivery.created_at),
            "next_attempt_at": _iso(delivery.next_attempt_at),
            "delivered_at": _iso(delivery.delivered_at),
            "last_error": delivery.last_error,
        }
        # The body stays unread (and undecrypted) for a listing.
        for owner, delivery in session.execute(query.options(defer(WebhookDelivery.body)))
    ]


def _iso(value) -> str | None:
    return value.isoformat() if value else None
