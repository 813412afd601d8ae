"""Every error type that crosses a module's border, in one place; each blueprint maps them to
HTTP (or the CLI to one line) where it catches them. Errors that never leave their package stay
there: the admin's ActionFailed and LoginRefused, the API's ApiError, the job runner's own
(a task raises jobs/tasks.py Retry to ask for a later run), the codec's InvalidSignature and
DecryptError (crypto/msgcrypt.py, shared with the sandbox) and the standalone client's
TokenClientError."""

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


class ValidationError(ValueError):
    """Input refused; the message is one line meant for the person who typed it."""


class BadNumber(ValueError):
    """The value is not a whole number in range; the message says so in one line."""


class SettingsError(Exception):
    """The configuration cannot be used; the message is one line meant for the operator."""


class UndecryptableSecret(Exception):
    """A column was encrypted with a key that is no longer in ENCRYPTION_KEYS."""


class MalformedXml(ValueError):
    """Not a flat <xml> document; the message says why (the parser's complaint). The intake
    answers it with 400 (callbacks/receive.py)."""


class NoRedisConfigured(RuntimeError):
    """A worker or cron process was started without SUITE_SERVER_REDIS_URL."""


class InstallError(Exception):
    """The install cannot go on; the message is shown to the person installing."""


class TokenUnavailable(Exception):
    """No token can be served now. `code` is for API clients; `retryable` says whether trying
    again later may help (busy platform, no ticket yet) or a person must act."""

    def __init__(
        self,
        code: str,
        message: str,
        http_status: int = 503,
        *,
        retryable: bool = False,
        errcode: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code, self.message, self.http_status = code, message, http_status
        self.retryable, self.errcode = retryable, errcode


class TooLarge(Exception):
    """A request body over the limit of where it goes (the gateway's proxy: 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the body is over {limit} bytes")
        self.limit = limit


class NoAnswer(UpstreamError):
    """The platform did not answer a proxied call: no connection (`timed_out` False) or no
    answer in time (502 / 504; never re-sent)."""

    def __init__(self, host: str, reason: str, timed_out: bool) -> None:
        super().__init__(host, None, reason, "busy", 0)  # 0: upstream.http.NO_ANSWER
        self.timed_out = timed_out
