"""Signing webhook requests, and checking a signature: what a receiver does with
X-Suite-Server-Signature and X-Suite-Server-Timestamp (docs/webhooks.md shows the receiver's side;
`verify` is the same check in Python)."""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Mapping

TOLERANCE = 300  # seconds a receiver accepts between X-Suite-Server-Timestamp and its clock
TIMESTAMP_HEADER = "X-Suite-Server-Timestamp"
SIGNATURE_HEADER = "X-Suite-Server-Signature"


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
