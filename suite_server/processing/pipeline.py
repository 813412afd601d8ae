"""Processing stored pushes after they were answered: which events have work to do, the job that
does it, the sweep that repairs lost jobs, and re-running a failed event.

A push is committed as a `pending` event before `success` is answered (callbacks/inbox.py); then
`schedule` enqueues the job `events.process`. Every path ends in a final status on the row:
`done` / `ignored`, or `failed` with the upstream errcode and message once retries are spent.
If the enqueue or the worker is lost (Redis away, a process killed), the row stays `pending` and
the periodic `events.sweep` enqueues it again; the job id `event:<id>` keeps it to one job.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from suite_server import db
from suite_server.authorization import pushes, registrations
from suite_server.billing import licenses, orders
from suite_server.db import utcnow
from suite_server.dispatch import handlers as dispatch
from suite_server.errors import InstallError, UpstreamError
from suite_server.jobs import recovery, runner
from suite_server.jobs.tasks import task
from suite_server.models import App, InboundEvent
from suite_server.protocol import kinds, xml
from suite_server.releases import steps
from suite_server.tokens.service import TokenUnavailable, app_token, expire_app_token
from suite_server.upstream import api_for

log = logging.getLogger(__name__)

RETRIES = 8  # with jobs/attempts.backoff: about 30 minutes of upstream trouble before `failed`
SWEEP_AFTER = timedelta(minutes=2)  # a pending event this old has lost its job
SWEEP_BATCH = 500


def processable(platform: str, channel: str, kind: str) -> bool:
    """Whether events of this kind have work to do after the answer."""
    return _processed_here(platform, channel, kind) or dispatch.dispatchable(
        platform, channel, kind
    )


def _processed_here(platform: str, channel: str, kind: str) -> bool:
    """A push acted on here rather than handed on raw, each on the URL the platform sends it
    to: an authorization push, a registration push (authorization/registrations.py), a paid-app
    order or edition push (billing/orders.py), a license push on a provider's system event URL
    or unlicensed_notify on a data URL (billing/licenses.py). Each makes lifecycle events."""
    if channel in ("command", "auth"):
        return (
            kinds.is_authorization(platform, kind)
            or kinds.is_billing(platform, kind)
            or kinds.is_registration(platform, kind)
        )
    if channel == "system":
        return kinds.is_license(platform, kind)
    return channel == "data" and kind == kinds.UNLICENSED


def after_store(
    session: Session,
    platform: str,
    event_id: int,
    channel: str,
    kind: str,
    receive_id: str,
    nonce: str,
) -> str:
    """Right after a new push was stored, inside the platform's request: what to answer.
    Authorization pushes go to a job; tenant messages may be answered by a synchronous handler
    (or the release-test responder) now, the rest goes to a job."""
    if _processed_here(platform, channel, kind):
        schedule(event_id)
        return "success"
    if channel == "msg" and kind in steps.AUDIT_EVENTS:
        _audit_verdict(session, event_id, kind)
    if not dispatch.dispatchable(platform, channel, kind):
        return "success"
    try:
        answer, more = dispatch.in_request(session, event_id, receive_id, nonce)
    except Exception:
        # The push is stored: answer it, and let the job do what the request could not.
        log.exception("event %s: dispatch in the request failed; left to a job", event_id)
        session.rollback()
        answer, more = "success", True
    if more:
        schedule(event_id)
    return answer


def _audit_verdict(session: Session, event_id: int, kind: str) -> None:
    """A mini program's audit result: move its deployment target on (releases/steps.py), then
    hand the event on like any other. A failure here loses nothing: the release sweep asks the
    platform for audits that stay quiet."""
    try:
        event = session.get(InboundEvent, event_id)
        steps.on_audit(session, event.app_pk, event.tenant_id or "", kind, xml.parse(event.payload))
    except Exception:
        log.exception("event %s: the audit result did not move its deployment", event_id)
        session.rollback()


def schedule(event_id: int) -> None:
    """Enqueue the processing of a committed event. A failure here loses nothing: the event is
    stored as pending and the sweep picks it up."""
    try:
        runner.enqueue("events.process", event_id, job_id=f"event:{event_id}", retries=RETRIES)
    except Exception:
        log.exception("event %s: enqueue failed; the sweep will retry it", event_id)


def _mark_failed(name: str, args: list, kwargs: dict, exc: BaseException) -> None:
    """on_failure: retries are spent (or the error was one retrying cannot fix)."""
    if isinstance(exc, UpstreamError):
        error = f"{exc.endpoint}: errcode {exc.errcode} {exc.errmsg}"
    elif isinstance(exc, TokenUnavailable):
        error = f"no app token ({exc.code}): {exc.message}"
    else:
        error = f"{type(exc).__name__}: {exc}"
    session = db.session()
    session.execute(
        update(InboundEvent.__table__)
        .where(InboundEvent.id == args[0], InboundEvent.status == "pending")
        .values(status="failed", error=error[:1000], processed_at=utcnow())
    )
    session.commit()
    log.warning("event %s failed: %s", args[0], error)


@task("events.process", on_failure=_mark_failed)
def process(event_id: int) -> str | None:
    """Act on one pending event; returns its final status (None when there was nothing to do).
    Upstream trouble that may pass (busy, no answer, a stale app token, no ticket yet) raises,
    so the runner retries with backoff; anything retrying cannot fix fails the event at once."""
    session = db.session()
    event = session.get(InboundEvent, event_id)
    if event is None or event.status != "pending":
        return None
    app = session.get(App, event.app_pk)
    if not processable(app.platform, event.channel, event.kind):
        return None
    if not _processed_here(app.platform, event.channel, event.kind):
        return dispatch.in_job(session, event)
    event.attempts += 1
    session.commit()
    api = api_for(app.platform, current_app.config)
    token = None
    try:
        # unlicensed_notify calls nothing upstream; a license push uses the provider's token.
        token = None if event.kind == kinds.UNLICENSED else app_token(session, app, api)
        if event.kind == kinds.UNLICENSED or event.channel == "system":
            outcome = licenses.process(session, app, event, api, token)
        elif kinds.is_billing(app.platform, event.kind):
            outcome = orders.process(session, app, event, api, token)
        elif kinds.is_registration(app.platform, event.kind):
            outcome = registrations.process(session, app, event, api, token)
        else:
            outcome = pushes.process(session, app, event, api, token)
    except TokenUnavailable as exc:
        session.rollback()
        if exc.retryable:
            raise
        _mark_failed("events.process", [event_id], {}, exc)
        return "failed"
    except UpstreamError as exc:
        session.rollback()
        if exc.kind == "token" and token:
            # The app token was refused: expire it so the retry fetches a new one (unless
            # another process has stored a newer one meanwhile: that one is kept).
            expire_app_token(session, app, token, str(exc))
        if exc.kind in ("busy", "token", "ticket"):
            raise
        _mark_failed("events.process", [event_id], {}, exc)
        return "failed"
    except InstallError as exc:
        session.rollback()
        _mark_failed("events.process", [event_id], {}, exc)
        return "failed"
    marked = session.execute(
        update(InboundEvent.__table__)
        .where(InboundEvent.id == event_id, InboundEvent.status == "pending")
        .values(status=outcome, error=None, processed_at=utcnow())
    ).rowcount
    if not marked:
        # Another run finished it meanwhile: what this one stored (an order's lifecycle event,
        # not yet committed) is dropped, so it is told once.
        session.rollback()
        return None
    session.commit()
    log.info("event %s (%s) processed: %s", event_id, event.kind, outcome)
    return outcome


@task("events.sweep", queue="low")
def sweep() -> int:
    """Enqueue pending events whose job was lost; returns how many were enqueued."""
    return recovery.enqueue_lost("events", _overdue, schedule, after=SWEEP_AFTER, batch=SWEEP_BATCH)


def _overdue(before: datetime, batch: int) -> list[int]:
    session = db.session()
    rows = session.execute(
        select(InboundEvent.id, InboundEvent.channel, InboundEvent.kind, App.platform)
        .join(App, App.id == InboundEvent.app_pk)
        .where(InboundEvent.status == "pending", InboundEvent.received_at < before)
        .order_by(InboundEvent.received_at)
        .limit(batch)
    ).all()
    session.rollback()
    return [row.id for row in rows if processable(row.platform, row.channel, row.kind)]


def reprocess(event_id: int) -> InboundEvent:
    """Put a failed (or ignored) event back to pending and enqueue it. Raises LookupError for an
    unknown event, ValueError for one with nothing to run."""
    session = db.session()
    event = session.get(InboundEvent, event_id)
    if event is None:
        raise LookupError(_("no event %(id)s", id=event_id))
    app = session.get(App, event.app_pk)
    if not processable(app.platform, event.channel, event.kind):
        raise ValueError(
            _("event %(id)s (%(kind)s) has no processing to run", id=event_id, kind=event.kind)
        )
    if event.status not in ("failed", "ignored"):
        raise ValueError(
            _(
                "event %(id)s is %(status)s: only failed or ignored ones re-run",
                id=event_id,
                status=event.status,
            )
        )
    if _processed_here(app.platform, event.channel, event.kind):
        pushes.allow_rerun(session, app, event)
    event.status, event.error, event.processed_at = "pending", None, None
    session.commit()
    schedule(event_id)
    return event


def failed_ids(
    session: Session, app_id: str | None = None, since: datetime | None = None
) -> list[int]:
    """The failed events (of one app, received since a time), oldest first: what a bulk
    reprocessing runs again, each through `reprocess`."""
    query = select(InboundEvent.id).where(InboundEvent.status == "failed")
    if app_id is not None:
        query = query.join(App, App.id == InboundEvent.app_pk).where(App.app_id == app_id)
    if since is not None:
        query = query.where(InboundEvent.received_at >= since)
    return list(session.scalars(query.order_by(InboundEvent.id)))
