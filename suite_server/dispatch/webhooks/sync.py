"""The synchronous receiver: asked inside the platform's request, its JSON answer becomes the
passive reply (docs/webhooks.md "A synchronous receiver").

When no synchronous Python handler took a tenant message (dispatch/handlers.py `in_request`), and
the app has an enabled receiver marked `sync` whose patterns match the message's kind, `ask`
stores the message's deliveries as `schedule` does, holds back the one to that receiver and sends
it at once: the same signed body, with X-Suite-Server-Reply-Within (milliseconds), and timeouts
that leave the platform's request enough of SYNC_DEADLINE (the platforms give up at 5 s and
retry). The attempt is recorded like any other:

- a 2xx answer marks the delivery delivered; its body, if it is `{"reply": {...}}`, becomes the
  passive reply. An empty body, or `{"reply": null}`, is no reply. A body that is not a reply
  this server can render is noted on the attempt ("reply not used: ...") and ignored: the
  receiver has the message, and sending it again would only make it handle it twice.
- no answer within the budget, a refused connection, any other status: a failed attempt; the
  delivery is enqueued at once for the job `webhooks.deliver`, which sends it again with the
  usual timeouts and retries it as usual. The platform gets `success`.

A receiver is asked only when its turn has come: when an older delivery of the same tenant to it
is still pending, the new one waits (ordering.py) and the platform gets `success`.
"""

from __future__ import annotations

import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as Overran
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.orm import Session

from suite_server.db import utcnow
from suite_server.dispatch.messages import Message
from suite_server.dispatch.replies import (
    Article,
    ImageReply,
    NewsReply,
    Reply,
    TextReply,
    VideoReply,
    VoiceReply,
)
from suite_server.dispatch.webhooks import delivery, ordering, receivers

log = logging.getLogger(__name__)

RESERVE = 0.5  # seconds of the deadline kept for recording the attempt and encrypting the reply
MIN_BUDGET = 0.2  # less than this left: the receiver is not asked in the request
CONNECT = 1.0  # at most, of the budget, to open the connection
GRACE = 0.2  # past the budget, for the POST's own timeout to end it (taken out of RESERVE)
MAX_ANSWER = 64 * 1024  # bytes of a reply read; a longer answer is no reply
TEXT_BYTES = 2048  # the platforms' limit on a text reply's content (UTF-8)
# The POST runs on a thread of its own, so the request waits no longer than the budget even for
# a receiver that trickles its answer in (requests' read timeout is per read, not in total).
_pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="suite-server-sync-receiver")


@dataclass(frozen=True)
class Asked:
    """The synchronous receiver was given the message (its deliveries are all scheduled);
    `reply` is what it answered, if anything usable."""

    reply: Reply | None


def ask(session: Session, message: Message, deadline: float) -> Asked | None:
    """Ask the app's synchronous receiver, if one gets this message; None if none does (then
    nothing was done). `deadline`: time.monotonic() by which the platform must be answered."""
    if message.lifecycle is not None:
        return None  # no platform request to answer: lifecycle events are always sent in jobs
    receiver_pk = receivers.synchronous(session, message.app.id, message.kind)
    if receiver_pk is None:
        return None
    delivery_id = delivery.schedule_holding(session, message, receiver_pk)
    if delivery_id is None:
        return Asked(None)  # scheduled before: that delivery is on its way
    try:
        return Asked(_attempt(session, delivery_id, deadline))
    except Exception:
        log.exception("webhook delivery %s: the synchronous attempt broke", delivery_id)
        session.rollback()
        delivery._enqueue(delivery_id)  # the job sends it; the sweep, were this lost too
        return Asked(None)


def _attempt(session: Session, delivery_id: int, deadline: float) -> Reply | None:
    claimed = ordering.claim(session, delivery_id, utcnow())
    session.commit()
    if claimed is None:
        return None  # an older delivery to this receiver goes first; it hands over when done
    url, body, event_pk, secret, receiver_pk = claimed
    if not secret:  # disabled since it was looked up
        outcome = delivery.Outcome(error=delivery.no_secret(receiver_pk))
        delivery.record(session, delivery_id, outcome, give_up=True)
        return None
    budget = round(deadline - time.monotonic() - RESERVE, 1)
    if budget < MIN_BUDGET:
        outcome = delivery.Outcome(error="no time left in the platform's request to ask it")
    else:
        outcome = _post(url, body.encode(), secret, event_pk, delivery_id, budget)
    reply = None
    if outcome.ok:
        reply, problem = reply_of(outcome.content)
        if problem:
            outcome = replace(outcome, error=f"reply not used: {problem}")
    status, delay = delivery.record(session, delivery_id, outcome, at_once=True)
    if delay is not None:
        delivery._enqueue(delivery_id)  # again at once, in a job, with the usual timeouts
    log.info("webhook delivery %s: synchronous receiver -> %s", delivery_id, status)
    return reply


def _post(url: str, body: bytes, secret: str, event_pk: int, delivery_id: int, budget: float):
    started = time.monotonic()
    future = _pool.submit(
        delivery.post,
        url,
        body,
        secret,
        event_pk,
        delivery_id,
        timeout=(min(CONNECT, budget), budget),
        keep=MAX_ANSWER,
        reply_within=budget,
    )
    try:
        return future.result(timeout=budget + GRACE)
    except Overran:
        # The thread ends by its own timeouts; what it gets then is not used.
        elapsed = int((time.monotonic() - started) * 1000)
        return delivery.Outcome(latency_ms=elapsed, error=f"no answer within {budget:g} s")


# -- the answer ------------------------------------------------------------------------------------


def reply_of(content: bytes) -> tuple[Reply | None, str | None]:
    """(the passive reply, None), (None, None) for no reply, or (None, why it is not one)."""
    if not content.strip():
        return None, None
    if len(content) > MAX_ANSWER:
        return None, f"the answer is over {MAX_ANSWER // 1024} KiB"
    try:
        answer = json.loads(content)
    except ValueError:
        return None, "the answer is not JSON"
    if not isinstance(answer, dict):
        return None, 'the answer is not a JSON object ({"reply": {...}})'
    given = answer.get("reply")
    if given is None:
        return None, None
    try:
        return _reply(given), None
    except ValueError as exc:
        return None, str(exc)


def _reply(given: Any) -> Reply:
    if not isinstance(given, dict):
        raise ValueError('"reply" is not an object')
    kind = given.get("type")
    if kind == "text":
        content = _text(given, "content", required=True)
        if len(content.encode()) > TEXT_BYTES:
            raise ValueError(f"reply.content is over {TEXT_BYTES} bytes")
        return TextReply(content)
    if kind == "image":
        return ImageReply(_text(given, "media_id", required=True))
    if kind == "voice":
        return VoiceReply(_text(given, "media_id", required=True))
    if kind == "video":
        return VideoReply(
            _text(given, "media_id", required=True),
            _text(given, "title"),
            _text(given, "description"),
        )
    if kind == "news":
        articles = given.get("articles")
        if not isinstance(articles, list) or not 1 <= len(articles) <= 8:
            raise ValueError("reply.articles must be a list of 1 to 8 articles")
        if not all(isinstance(a, dict) for a in articles):
            raise ValueError("each of reply.articles must be an object")
        return NewsReply(
            [
                Article(
                    _text(a, "title", required=True),
                    _text(a, "description"),
                    _text(a, "pic_url"),
                    _text(a, "url"),
                )
                for a in articles
            ]
        )
    raise ValueError(f"reply.type {str(kind)[:20]!r} is not text, image, voice, video or news")


def _text(given: dict, key: str, required: bool = False) -> str:
    value = given.get(key, "")
    if not isinstance(value, str) or (required and not value):
        raise ValueError(f"reply.{key} must be a {'non-empty ' if required else ''}string")
    return value
