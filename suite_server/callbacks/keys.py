"""The keys of an app as the callback path needs them, decrypted once and kept per process."""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from suite_server.cache import Cache
from suite_server.crypto.msgcrypt import decode_aes_key
from suite_server.models import App


@dataclass(frozen=True)
class CallbackKeys:
    """What the callback path needs of an app, decrypted once and kept per process for a few
    seconds: a push then costs no app query and no secret decryption. A key rotated in the admin
    UI reaches every process within CACHE_SECONDS; until then the previous key still decrypts."""

    id: int
    app_id: str
    platform: str
    kind: str  # models.apps.KINDS: the provider's system event URL is not a suite's
    token: str
    aes_keys: tuple[bytes, ...]  # current first, then previous
    provider_corpid: str | None

    CACHE_SECONDS = 5.0


_cache = Cache("suite_server.callback_keys")


def callback_keys(session: Session, platform: str, app_id: str) -> CallbackKeys | None:
    """The app `app_id` of `platform` as the callback path needs it, or None."""
    now = time.monotonic()
    keys = _cache.get(app_id, now)
    if keys is None:
        app = session.scalar(select(App).where(App.app_id == app_id[:64]))
        if app is None:
            return None
        keys = CallbackKeys(
            id=app.id,
            app_id=app.app_id,
            platform=app.platform,
            kind=app.kind,
            token=app.token,
            aes_keys=tuple(decode_aes_key(k) for k in app.aes_keys()),
            provider_corpid=app.provider_corpid,
        )
        _cache.put(app_id, keys, now + CallbackKeys.CACHE_SECONDS)
    return keys if keys.platform == platform else None
