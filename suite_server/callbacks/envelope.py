"""Opening a push: signature, timestamp window, decryption with the current then previous AES
key, and the receive id inside the ciphertext, which must belong to the app."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from suite_server.apps import record_key_mismatch
from suite_server.callbacks.keys import CallbackKeys
from suite_server.crypto import msgcrypt
from suite_server.db import utcnow
from suite_server.errors import BadCallback
from suite_server.models import Tenant
from suite_server.protocol.xml import whole_number

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Opened:
    message: bytes  # the decrypted plaintext (inner XML, or the echostr digits)
    receive_id: str
    owner: str  # whose id it was: "app", "provider", "tenant" or "empty" (see receive_id_owner)
    key_index: int  # 0: current AES key, 1: previous; a passive reply uses the same one

    @property
    def whose(self) -> str:
        """For the log line of each push: which receive id case it was."""
        if self.owner == "empty":
            return "empty receive id: a provider registered as an individual"
        return f"receive id of the {self.owner}"


def open_envelope(
    session: Session,
    app: CallbackKeys,
    args: Mapping[str, str],
    encrypt: str,
    max_age: int,
    now: float,
) -> Opened:
    """Verify and decrypt `encrypt` (the body's Encrypt, or a URL check's echostr)."""
    signature, timestamp, nonce = (args.get(k, "") for k in ("msg_signature", "timestamp", "nonce"))
    if not (signature and timestamp and nonce):
        raise BadCallback(400, "msg_signature, timestamp and nonce are required")
    # Checked before anything else is believed: a forged request learns nothing more.
    if not msgcrypt.verify_signature(app.token, timestamp, nonce, encrypt, signature):
        raise BadCallback(403, "bad signature")
    sent_at = whole_number(timestamp, max_digits=12)
    if sent_at is None:
        raise BadCallback(400, "timestamp must be a unix time in seconds")
    if max_age and abs(now - sent_at) > max_age:
        raise BadCallback(403, "stale timestamp")
    try:
        message, receive_id, key_index = msgcrypt.decrypt_any(app.aes_keys, encrypt)
    except msgcrypt.DecryptError:
        _no_key_decrypts(session, app)
        raise BadCallback(400, "malformed ciphertext") from None
    owner = receive_id_owner(session, app, receive_id)
    if owner is None:
        raise BadCallback(403, "receive id belongs to another app")
    if key_index:
        log.info("app %s: push decrypted with the previous AES key", app.app_id)
    return Opened(message, receive_id, owner, key_index)


def _no_key_decrypts(session: Session, app: CallbackKeys) -> None:
    # The signature was good, so the sender has the Token: the console encrypts with an AES
    # key we do not have (rotated twice, or pasted wrong). Every push is refused until the two
    # agree, so say so loudly, and keep it for the admin's "at risk" page.
    log.warning(
        "app %s: push refused: none of its %d AES keys decrypts it although the signature is "
        "good: the console and the server disagree on the EncodingAESKey. Paste the server's "
        "current key into the console (admin UI: Apps, %s), or save the console's key there",
        app.app_id,
        len(app.aes_keys),
        app.app_id,
    )
    try:
        record_key_mismatch(session, app.id, utcnow())
    except SQLAlchemyError:  # the answer stays a 400 whatever happens to the record
        log.exception("app %s: could not record the refused push", app.app_id)


def receive_id_owner(session: Session, app: CallbackKeys, receive_id: str) -> str | None:
    """Which of the app's ids the platform encrypted with. WeCom uses the provider corpid for URL
    checks, the suite id for command pushes and the corp's id for data pushes, and is not always
    consistent (wecom-suite.md §1 and §6.6); Open uses the component appid throughout
    (open-platform.md §0). Any of the app's own ids is accepted; a foreign one is not.

    WeCom encrypts with an empty receive id for the apps of providers registered as individuals
    (个人主体, wecom-suite.md §1, doc/91144): accepted as "empty", the signature having been checked
    already. Open has no such case, so an empty id there is refused."""
    if not receive_id:
        return "empty" if app.platform == "wecom" else None
    if receive_id == app.app_id:
        return "app"
    if receive_id == app.provider_corpid:
        return "provider"
    tenant = session.scalar(
        select(Tenant.id).where(Tenant.app_pk == app.id, Tenant.tenant_id == receive_id)
    )
    return "tenant" if tenant is not None else None
