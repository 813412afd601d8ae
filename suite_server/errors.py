"""The small error hierarchy the services raise; each blueprint maps them to HTTP in one place."""

from __future__ import annotations


class BadCallback(Exception):
    """A push refused with an HTTP status (contract.md "Callback URLs": 404 unknown app,
    403 bad signature / stale timestamp / foreign receive id, 400 malformed, 413 too large)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class UpstreamError(Exception):
    """A platform API answered with an errcode, an HTTP error, or not at all.

    `errcode` is the platform's (None when there was no usable answer: timeout, connection
    error, HTTP 5xx, a body that is not JSON); `kind` says what a caller should do about it,
    from the error tables in wecom-suite.md §5 and open-platform.md §6:
      "token"      the access token we sent is invalid or expired: refresh it once, retry once
      "busy"       system busy / rate limit / no answer: back off with jitter and retry later
      "ticket"     the ticket is missing, expired or wrong: try the previous one, wait for a push
      "credential" the tenant's permanent code / refresh token is dead: recover or re-authorize
      "code"       a pre-auth or auth code is invalid, used or expired: start that step again
      "revoked"    the tenant cancelled the authorization
      "config"     secret, app id or whitelist is wrong: a person must fix the settings
      "other"      anything else
    """

    def __init__(
        self, endpoint: str, errcode: int | None, errmsg: str, kind: str, http_status: int = 200
    ) -> None:
        super().__init__(f"{endpoint}: {errcode if errcode is not None else 'no answer'} {errmsg}")
        self.endpoint = endpoint
        self.errcode = errcode
        self.errmsg = errmsg
        self.kind = kind
        self.http_status = http_status

    @property
    def retryable(self) -> bool:
        return self.kind == "busy"
