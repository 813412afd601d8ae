"""Pushing like the platform: encrypt, sign, POST to our server's contract URL, judge, retry.

Where each push goes and which receive id is inside its ciphertext (contract.md, wecom-suite.md §1,
open-platform.md §0-§3):

| channel | URL under the app's server_url          | outer XML                    | receive id |
|---------|-----------------------------------------|------------------------------|------------|
| command | /callback/wecom/<suite_id>/command      | ToUserName=suite_id, AgentID | suite_id   |
| data    | /callback/wecom/<suite_id>/data         | ToUserName=corpid, AgentID=N | corpid     |
| auth    | /callback/open/<appid>/auth             | AppId=component appid        | component  |
| msg     | /callback/open/<appid>/msg/<authorizer> | ToUserName=gh_ id            | component  |
| system  | /callback/wecom/provider/<corpid>       | ToUserName=corpid, AgentID   | corpid     |

`system` is a WeCom provider's system-event URL (isv-capabilities.md §2): the pusher sees the
provider as an App (`Provider.as_app`, app_id = provider corpid) with the provider's own Token and
EncodingAESKey; like the command URL it must answer `success`.
"""

from __future__ import annotations

import itertools
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

import requests
from defusedxml import ElementTree

from suite_server.crypto import msgcrypt
from suite_server.protocol.xml import cdata
from suite_server.sandbox.state import OPEN, WECOM, App, SandboxState, Tenant

COMMAND, DATA, AUTH, MSG, SYSTEM = "command", "data", "auth", "msg", "system"
# Channels whose pushes are per-tenant messages: they may be answered with a passive reply.
_MESSAGE_CHANNELS = (DATA, MSG)
# wecom-suite.md §1: these must be answered within 1000 ms (doc/90642, doc/97175), not 5 s.
WECOM_AUTH_KINDS = ("create_auth", "change_auth", "cancel_auth", "reset_permanent_code")
_push_ids = itertools.count(1)


def wire_time() -> int:
    """Timestamps on the wire use the real clock, not the state's (possibly moved) clock, so a
    test that moves the sandbox clock does not make our server reject pushes as stale."""
    return int(time.time())


class Pusher:
    """Delivers pushes now (`deliver`) or from a background thread (`deliver_later`)."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self._threads: set[threading.Thread] = set()
        self._threads_lock = threading.Lock()

    def deliver(
        self,
        app: App,
        kind: str,
        channel: str,
        plaintext: str,
        tenant: Tenant | None = None,
        openid: str | None = None,
    ) -> dict[str, Any]:
        """Push once, retrying up to `push_attempts` times; returns (and records) what happened."""
        url, query, body, receive_id = _envelope(app, channel, plaintext, tenant, openid)
        settings = self.state.settings
        result: dict[str, Any] = {
            "id": next(_push_ids),
            "at": wire_time(),
            "app_id": app.app_id,
            "platform": app.platform,
            "kind": kind,
            "channel": channel,
            "tenant_id": tenant.tenant_id if tenant else None,
            "url": url,
            "payload": plaintext,
            "delivered": False,
            "attempts": 0,
            "status": None,
            "body": None,
            "reply": None,
            "error": None,
        }
        deadline = settings.push_timeout
        if app.platform == WECOM and kind in WECOM_AUTH_KINDS:
            deadline = settings.auth_push_timeout
        for _ in range(max(1, int(settings.push_attempts))):
            result["attempts"] += 1
            _attempt(app, channel, receive_id, url, query, body, deadline, result)
            if result["delivered"]:
                break
        self.state.record_push(dict(result))
        return result

    def deliver_later(self, work: Callable[[], Any]) -> None:
        """Run `work` (usually a deliver call) in a background thread, like the platform's
        asynchronous pushes; `join` waits for the ones still running."""

        def run() -> None:
            try:
                work()
            finally:
                with self._threads_lock:
                    self._threads.discard(threading.current_thread())

        thread = threading.Thread(target=run, name="sandbox-push", daemon=True)
        with self._threads_lock:
            self._threads.add(thread)
        thread.start()

    def join(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        with self._threads_lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))


def channel_url(app: App, channel: str, tenant: Tenant | None = None) -> str:
    """Where a channel's pushes (and the console's URL check) go (see the table above)."""
    base = app.server_url.rstrip("/")
    if channel == SYSTEM:
        return f"{base}/callback/wecom/provider/{app.app_id}"
    if channel in (COMMAND, DATA):
        return f"{base}/callback/wecom/{app.app_id}/{channel}"
    if channel == AUTH:
        return f"{base}/callback/open/{app.app_id}/auth"
    assert tenant is not None
    return f"{base}/callback/open/{app.app_id}/msg/{tenant.tenant_id}"


def _envelope(
    app: App, channel: str, plaintext: str, tenant: Tenant | None, openid: str | None
) -> tuple[str, dict[str, str], str, str]:
    """URL, query, outer XML body and receive id of one push (see the table above)."""
    url = channel_url(app, channel, tenant)
    if channel in (COMMAND, SYSTEM):
        receive_id = app.app_id
        outer = [("ToUserName", app.app_id), ("Encrypt", None), ("AgentID", "")]
    elif channel == DATA:
        assert tenant is not None
        receive_id = tenant.tenant_id
        outer = [
            ("ToUserName", tenant.tenant_id),
            ("Encrypt", None),
            ("AgentID", str(tenant.agent_id)),
        ]
    elif channel == AUTH:
        receive_id = app.app_id
        outer = [("AppId", app.app_id), ("Encrypt", None)]
    else:
        assert tenant is not None
        receive_id = app.app_id
        outer = [("ToUserName", tenant.user_name), ("Encrypt", None)]

    key = msgcrypt.decode_aes_key(app.aes_key)
    encrypted = msgcrypt.encrypt(key, plaintext, receive_id)
    timestamp, nonce = str(wire_time()), str(secrets.randbelow(10**10))
    query = {
        "msg_signature": msgcrypt.sign(app.token, timestamp, nonce, encrypted),
        "timestamp": timestamp,
        "nonce": nonce,
    }
    if app.platform == OPEN:
        # open-platform.md §1/§3: also the plain `signature` (token, timestamp, nonce) and
        # encrypt_type=aes; user messages carry the sender's openid.
        query["signature"] = msgcrypt.sign(app.token, timestamp, nonce, "")
        query["encrypt_type"] = "aes"
        if channel == MSG and openid:
            query["openid"] = openid
    body = (
        "<xml>"
        + "".join(
            f"<{tag}>{cdata(encrypted if value is None else value)}</{tag}>" for tag, value in outer
        )
        + "</xml>"
    )
    return url, query, body, receive_id


def _attempt(
    app: App,
    channel: str,
    receive_id: str,
    url: str,
    query: dict[str, str],
    body: str,
    timeout: float,
    result: dict[str, Any],
) -> None:
    """One POST. Delivered only on HTTP 200 with the body the platform expects, in time."""
    started = time.monotonic()
    try:
        response = requests.post(
            url,
            params=query,
            data=body.encode("utf-8"),
            headers={"Content-Type": "text/xml; charset=utf-8"},
            timeout=timeout,
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        result.update(status=None, body=None, error=f"{type(exc).__name__}: {exc}"[:500])
        return
    text = response.content.decode("utf-8", "replace")
    result.update(status=response.status_code, body=text[:2000], error=None)
    # requests' timeout bounds each socket wait, not the whole answer: a server that trickles
    # its answer is late all the same, and the platform counts a late answer as none.
    error = late(started, timeout)
    if error:
        result["error"] = error
        return
    if response.status_code != 200:
        result["error"] = f"HTTP {response.status_code}"
        return
    # wecom-suite.md §1 / open-platform.md §1: the command and auth URLs must answer exactly
    # `success`. Message URLs may also answer with an empty body or an encrypted reply (§3).
    if text == "success" or (channel in _MESSAGE_CHANNELS and text == ""):
        result["delivered"] = True
        return
    if channel not in _MESSAGE_CHANNELS:
        result["error"] = "body is not `success`"
        return
    try:
        result["reply"] = open_passive_reply(app, receive_id, text)
        result["delivered"] = True
    except ValueError as exc:
        result["error"] = f"bad passive reply: {exc}"


def late(started: float, limit: float) -> str | None:
    """Why an answer that took since `started` (time.monotonic) is too late, or None."""
    took = time.monotonic() - started
    if took <= limit:
        return None
    return f"answered after {took * 1000:.0f} ms, over the {limit * 1000:.0f} ms limit"


def open_passive_reply(app: App, receive_id: str, text: str) -> str:
    """Verify and decrypt a passive reply (wecom-suite.md §2 reply XML); ValueError if it fails."""
    try:
        root = ElementTree.fromstring(text)
    except Exception as exc:  # defusedxml raises several types for hostile or broken XML
        raise ValueError("reply is not well-formed XML") from exc
    parts = {
        name: (root.findtext(name) or "")
        for name in ("Encrypt", "MsgSignature", "TimeStamp", "Nonce")
    }
    if not parts["Encrypt"]:
        raise ValueError("reply has no Encrypt")
    if not msgcrypt.verify_signature(
        app.token, parts["TimeStamp"], parts["Nonce"], parts["Encrypt"], parts["MsgSignature"]
    ):
        raise ValueError("reply signature does not match")
    try:
        message, got_id = msgcrypt.decrypt(msgcrypt.decode_aes_key(app.aes_key), parts["Encrypt"])
    except msgcrypt.DecryptError as exc:
        raise ValueError(str(exc)) from exc
    if got_id != receive_id:
        raise ValueError(f"reply receive id {got_id!r} is not {receive_id!r}")
    return message.decode("utf-8")
