"""Delivering a stored tenant message or event to the ISV's code.

In the platform's request (`in_request`, right after the push was stored): the release-test
responder, then a synchronous handler if one is registered, or else the app's synchronous webhook
receiver if it gets the message (webhooks/sync.py), under a deadline well inside the platform's
5 s; the reply is rendered, encrypted and signed. Replies go only where the platform reads them
(a message URL); elsewhere, such as WeCom's command URL, the answer is `success`. Everything
else runs in the job `events.process` (`in_job`): the asynchronous handler and the webhooks.
Either way the event ends `done`, `failed` (the handler raised or overran; the platform still
gets `success`, so no retry storm) or `ignored` (no tenant here, or a cancelled one: stored and
visible, not dispatched; except the platform's notices about a tenant, orders and registrations,
see protocol/kinds).
Handlers run at least once: a job lost after a handler ran is run again by the sweep.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as Overran

from flask import Flask, current_app
from sqlalchemy import update
from sqlalchemy.orm import Session

from suite_server.crypto.msgcrypt import decode_aes_key, encrypted_reply
from suite_server.db import utcnow
from suite_server.dispatch import release_check, webhooks
from suite_server.dispatch.messages import Message
from suite_server.dispatch.replies import Reply
from suite_server.dispatch.router import router
from suite_server.models import App, InboundEvent
from suite_server.protocol import kinds, xml
from suite_server.tenants import events as lifecycle_events
from suite_server.tenants import lifecycle

log = logging.getLogger(__name__)

SYNC_DEADLINE = 3.0  # seconds; the platforms give up after 5 s and retry
# Where a passive reply is read: tenant messages (WeCom data URL, Open message URL). The WeCom
# command URL must answer `success` (wecom-suite.md §1); system events expect no reply either.
REPLY_CHANNELS = ("data", "msg")
_pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="suite-server-handler")


def dispatchable(platform: str, channel: str, kind: str) -> bool:
    """Tenant messages and events (data / msg URLs), per-tenant command pushes such as
    change_contact, a provider's system events, and tenant lifecycle events; not tickets or
    authorization, registration or paid-app order and edition pushes, which have their own
    processing (and make lifecycle events; so do license pushes, processing/pipeline.py)."""
    if channel in ("data", "msg", "system", lifecycle_events.CHANNEL):
        return True
    if (
        kinds.is_authorization(platform, kind)
        or kinds.is_billing(platform, kind)
        or kinds.is_registration(platform, kind)
    ):
        return False
    return kind not in kinds.TICKET_KINDS


def message_of(session: Session, event: InboundEvent) -> tuple[Message, str | None]:
    """The event as a handler sees it, and why it must not be dispatched (or None)."""
    app = session.get(App, event.app_pk)
    tenant = lifecycle.find_tenant(session, app, event.tenant_id)
    if event.channel == lifecycle_events.CHANNEL:
        # About the tenant whatever its state: a cancellation must reach the ISV.
        body = lifecycle_events.body_of(event.payload)
        return Message.of_lifecycle(event, app, tenant, body), None
    message = Message.of(event, app, tenant, xml.parse(event.payload))
    if release_check.handles(message):
        return message, None  # the test accounts are answered whatever we know of them
    if kinds.is_notice(app.platform, event.kind) or event.channel == "system":
        # An order, a registration, or a provider's system event (a license bought for a corp
        # that installed several of its apps): about the tenant, maybe a new one.
        return message, None
    if tenant is None:
        return message, f"no tenant {event.tenant_id!r} for this app"
    if tenant.status != "active":
        return message, f"tenant is {tenant.status}"
    return message, None


def in_request(session: Session, event_id: int, receive_id: str, nonce: str) -> tuple[str, bool]:
    """Run what must answer inside the request. Returns (the answer body, whether the job
    `events.process` should still run for the rest)."""
    deadline = time.monotonic() + SYNC_DEADLINE
    event = session.get(InboundEvent, event_id)
    replies = event.channel in REPLY_CHANNELS
    message, refused = message_of(session, event)
    if refused:
        _finish(session, event_id, "ignored", refused)
        return "success", False
    if release_check.handles(message):
        # The platform's test traffic: answered here, never shown to handlers or webhooks.
        reply = release_check.answer(message)
        _finish(session, event_id, "done", None)
        return (_encrypt(message, reply, receive_id, nonce) if reply else "success"), False
    route = router.resolve(message)
    if route is None or not route.sync:
        asked = webhooks.ask_sync(session, message, deadline) if replies else None
        if asked is None:
            return "success", True  # the job runs the handler and the webhooks
        if route is None:  # nothing left for a job: the webhooks are scheduled
            _finish(session, event_id, "done", None)
        answer = _encrypt(message, asked.reply, receive_id, nonce) if asked.reply else "success"
        return answer, route is not None  # the job runs the handler (webhooks stay as they are)
    reply, error = _run_sync(current_app._get_current_object(), route.fn, message)
    webhooks.schedule(session, message)
    _finish(session, event_id, "failed" if error else "done", error)
    if reply is None:
        return "success", False
    if not replies:
        log.warning("event %s: reply of %s dropped: none is read here", event_id, route.fn)
        return "success", False
    return _encrypt(message, reply, receive_id, nonce), False


def _run_sync(app: Flask, fn, message: Message) -> tuple[Reply | None, str | None]:
    """(the handler's reply or None, None) or (None, what went wrong)."""

    def call():
        with app.app_context():
            return fn(message)

    name = fn.__qualname__
    started = time.monotonic()
    try:
        reply = _pool.submit(call).result(timeout=SYNC_DEADLINE)
    except Overran:
        return None, _failed(message, f"handler {name} overran the {SYNC_DEADLINE:g} s deadline")
    except Exception as exc:
        return None, _failed(message, f"handler {name} raised {exc!r}", exc)
    if reply is not None and not isinstance(reply, Reply):
        return None, _failed(message, f"handler {name} returned a {type(reply).__name__}")
    elapsed = (time.monotonic() - started) * 1000
    log.info("event %s: %s answered in %.0f ms", message.event_id, name, elapsed)
    return reply, None


def in_job(session: Session, event: InboundEvent) -> str:
    """The job's part: the handler (if any), then the webhooks. Returns the event's outcome."""
    message, refused = message_of(session, event)
    if refused:
        _finish(session, event.id, "ignored", refused)
        return "ignored"
    route = router.resolve(message)
    error = None
    # A synchronous handler lands here only when its request did not finish (a crash after the
    # push was stored, found by the sweep) or on a re-run: its reply can no longer be sent.
    if route is not None:
        try:
            route.fn(message)
        except Exception as exc:
            session.rollback()
            error = _failed(message, f"handler {route.fn.__qualname__} raised {exc!r}", exc)
    webhooks.schedule(session, message)
    outcome = "failed" if error else "done"
    _finish(session, event.id, outcome, error)
    return outcome


def _encrypt(message: Message, reply: Reply, receive_id: str, nonce: str) -> str:
    app = message.app
    plaintext = reply.render(message)
    return encrypted_reply(
        app.token, decode_aes_key(app.aes_key), receive_id, plaintext, str(int(time.time())), nonce
    )


def _failed(message: Message, error: str, exc: Exception | None = None) -> str:
    log.error("event %s: %s", message.event_id, error, exc_info=exc)
    return error


def _finish(session: Session, event_id: int, status: str, error: str | None) -> None:
    session.execute(
        update(InboundEvent.__table__)
        .where(InboundEvent.id == event_id)
        .values(
            status=status,
            error=error[:1000] if error else None,
            processed_at=utcnow(),
            attempts=InboundEvent.attempts + 1,
        )
    )
    session.commit()
