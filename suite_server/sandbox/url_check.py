"""The console's URL check (wecom-suite.md §1 "GET"): when an ISV saves a suite's callback URL in
the WeCom provider console, WeCom sends `GET <url>?msg_signature&timestamp&nonce&echostr`, the
echostr being a random decimal string encrypted with the PROVIDER corpid as receive id (on both
URLs, where the POSTs carry the suite id or the corp's id), and saves the URL only if the server
answers that plaintext, bare, within 1 s.

A provider's system-event URL (isv-capabilities.md §2) is checked the same way, with its own
Token/EncodingAESKey and the provider corpid as receive id: pass `Provider.as_app()` and the
`system` channel.

The Open Platform documents no such check for its two URLs (open-platform.md §1, §3), so there is
none to simulate for a component.
"""

from __future__ import annotations

import itertools
import secrets
import time
from collections.abc import Iterable
from typing import Any

import requests

from suite_server.crypto import msgcrypt
from suite_server.sandbox.pushes import COMMAND, DATA, channel_url, late, wire_time
from suite_server.sandbox.state import App, SandboxState

CHANNELS = (COMMAND, DATA)
TIMEOUT = 1.0  # wecom-suite.md §1: "respond within 1 s"
_check_ids = itertools.count(1)


def verify_urls(
    state: SandboxState, app: App, channels: Iterable[str] = CHANNELS
) -> list[dict[str, Any]]:
    """Check each of the suite's URLs as the console does; returns (and records) the outcomes."""
    return [verify_url(state, app, channel) for channel in channels]


def verify_url(state: SandboxState, app: App, channel: str) -> dict[str, Any]:
    url = channel_url(app, channel)
    with state.lock:
        # A decimal string like the doc's sample 1616140317555161061.
        plaintext = str(state.random.randrange(10**18, 10**19))
    # An individual provider's receive id is the empty string (wecom-suite.md §1, doc/91144).
    echostr = msgcrypt.encrypt(msgcrypt.decode_aes_key(app.aes_key), plaintext, app.provider_corpid)
    timestamp, nonce = str(wire_time()), str(secrets.randbelow(10**10))
    query = {
        "msg_signature": msgcrypt.sign(app.token, timestamp, nonce, echostr),
        "timestamp": timestamp,
        "nonce": nonce,
        "echostr": echostr,  # requests URL-encodes it, as the console does (`+ / =` inside)
    }
    result: dict[str, Any] = {
        "id": next(_check_ids),
        "at": wire_time(),
        "app_id": app.app_id,
        "channel": channel,
        "url": url,
        "expected": plaintext,
        "verified": False,
        "status": None,
        "body": None,
        "error": None,
        "took_ms": None,
    }
    started = time.monotonic()
    try:
        response = requests.get(url, params=query, timeout=TIMEOUT, allow_redirects=False)
    except requests.RequestException as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"[:500]
    else:
        text = response.content.decode("utf-8", "replace")
        result.update(status=response.status_code, body=text[:200])
        result["error"] = late(started, TIMEOUT) or _wrong(response.status_code, text, plaintext)
        result["verified"] = result["error"] is None
    result["took_ms"] = round((time.monotonic() - started) * 1000)
    outcome = "verified" if result["verified"] else f"failed: {result['error']}"
    result["summary"] = f"URL check of {url}: {outcome}"
    state.record_url_check(result)
    return result


def _wrong(status: int, text: str, plaintext: str) -> str | None:
    if status != 200:
        return f"HTTP {status}"
    if text != plaintext:
        # Compared byte for byte: quotes, a BOM or a trailing newline fail it
        # (community/00066e0b2b8cd0783bec4595856800).
        return "the answer is not the plaintext of echostr, byte for byte"
    return None
