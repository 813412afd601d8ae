"""A push from arrival to storage: find the app, open the envelope, parse, store. No upstream
call and no heavy work here: the platforms give us 5 s, WeCom's auth pushes only 1 s."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

from sqlalchemy.orm import Session

from suite_server.apps import clear_key_mismatch
from suite_server.callbacks import inbox, tenancy
from suite_server.callbacks.envelope import open_envelope
from suite_server.callbacks.keys import CallbackKeys, callback_keys
from suite_server.errors import BadCallback
from suite_server.ops.metrics import CALLBACKS
from suite_server.processing import pipeline
from suite_server.protocol import kinds, xml

log = logging.getLogger(__name__)


def find_app(session: Session, platform: str, app_id: str, provider: bool = False) -> CallbackKeys:
    """The app of a callback URL, or 404: a provider account only at its system event URL, and
    only once its Token and key are set (an empty Token would verify anyone's signature)."""
    app = callback_keys(session, platform, app_id)
    if app is None or (app.kind == "provider") != provider:
        raise BadCallback(404, "unknown provider" if provider else "unknown app")
    if provider and not app.token:
        raise BadCallback(404, "the provider's system event URL is not set up (token, aes key)")
    return app


def url_check(session: Session, app: CallbackKeys, args: Mapping[str, str], max_age: int) -> str:
    """GET with echostr, sent when the URL is saved in the console: answer the plaintext bare
    (wecom-suite.md §1 "GET"). WeCom encrypts it with the provider corpid."""
    echostr = args.get("echostr", "")
    if not echostr:
        raise BadCallback(400, "echostr is required")
    opened = open_envelope(session, app, args, echostr, max_age, time.time())
    log.info("app %s: URL check answered (%s)", app.app_id, opened.whose)
    try:
        return opened.message.decode()
    except UnicodeDecodeError:  # pragma: no cover - decrypt_any only yields UTF-8
        raise BadCallback(400, "malformed echostr") from None


def receive(
    session: Session,
    app: CallbackKeys,
    channel: str,
    args: Mapping[str, str],
    body: bytes,
    max_age: int,
    authorizer_appid: str | None = None,
) -> str:
    """Verify, decrypt and store one POSTed push; returns the answer body. Nothing is written
    unless every check passed; the row is committed before this returns."""
    if args.get("encrypt_type", "aes") != "aes":
        # open-platform.md §0: the Open Platform always runs in safe mode.
        raise BadCallback(400, "only encrypt_type=aes is supported")
    raw = _text_of(body)
    encrypt = _fields(body).get("Encrypt", "")
    if not encrypt:
        raise BadCallback(400, "malformed XML: no Encrypt")
    opened = open_envelope(session, app, args, encrypt, max_age, time.time())
    if app.kind == "provider":
        clear_key_mismatch(session, app.id)  # no tickets come to say the keys agree again
    fields = _fields(opened.message)
    tenant_id = tenancy.tenant_of(
        app.platform, channel, fields, opened.receive_id, opened.owner, authorizer_appid
    )
    event_id = inbox.accept(
        app,
        channel=channel,
        raw=raw,
        plaintext=opened.message,
        fields=fields,
        receive_id=opened.receive_id,
        tenant_id=tenant_id,
    )
    kind = kinds.kind_of(fields)
    answer = "success"
    if event_id is not None:
        answer = pipeline.after_store(
            session, app.platform, event_id, channel, kind, opened.receive_id, args.get("nonce", "")
        )
    CALLBACKS.labels(app.app_id, kind, "stored" if event_id is not None else "duplicate").inc()
    log.info(
        "app %s: %s push on %s stored as event %s (%s)",
        app.app_id,
        kind,
        channel,
        event_id if event_id is not None else "(duplicate)",
        opened.whose,
    )
    return answer


def _text_of(body: bytes) -> str:
    """The body as it is kept (raw): UTF-8, as the platforms send it. Another encoding (UTF-16
    has NUL bytes, which PostgreSQL text cannot hold) is refused before anything is written."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadCallback(400, "body must be UTF-8") from None
    if "\x00" in text:
        raise BadCallback(400, "body must be UTF-8 without NUL characters")
    return text


def _fields(document: bytes | str) -> dict[str, str]:
    """The fields of a flat <xml> document; BadCallback(400) for anything else."""
    try:
        return xml.parse(document)
    except xml.MalformedXml as exc:
        raise BadCallback(400, f"malformed XML: {exc}") from None
