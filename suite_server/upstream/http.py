"""The one HTTP layer for platform APIs: timeouts, errcode -> UpstreamError, masked logging.

It never retries: callers know whether a call is idempotent (wecom-suite.md §6 pitfall 8:
retrying a send on -1 duplicated messages) and the token service decides when to refresh.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from suite_server.errors import UpstreamError

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = (3.05, 10.0)  # (connect, read) seconds
NO_ANSWER = 0  # UpstreamError.http_status when no HTTP answer came at all
# requests exceptions that mean our URL is wrong (settings), not that the platform is busy.
_BAD_URL = (
    requests.exceptions.InvalidURL,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
)


def mask(value: object) -> str:
    """A secret as a log may show it: never the value, only how long it is."""
    text = "" if value is None else str(value)
    return f"***({len(text)})" if text else "<empty>"


def masked_query(params: Mapping[str, Any] | None) -> str:
    """`suite_access_token=***(64)`: the names of query parameters with every value masked
    (here every value is a token or a code)."""
    return "&".join(f"{name}={mask(value)}" for name, value in (params or {}).items())


def kind_of(errcode: int, table: Mapping[int, str]) -> str:
    """The UpstreamError kind of a platform errcode; codes not in the table are "other"."""
    return table.get(errcode, "other")


# Connections kept per platform host: a worker's refresh threads (REFRESH_CONCURRENCY) and a web
# process's request threads call together; requests' default keeps 10 and reconnects the rest.
POOL_SIZE = 64


def _pooled_session() -> requests.Session:
    session = requests.Session()
    adapter = HTTPAdapter(pool_maxsize=POOL_SIZE)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


class ApiClient:
    """Calls one platform's API host: `call()` returns the JSON object of a success or raises
    UpstreamError, with `errcodes` (errcode -> kind) saying what each failure means."""

    def __init__(
        self,
        base_url: str,
        *,
        errcodes: Mapping[int, str],
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.errcodes = errcodes
        self.timeout = timeout
        self.session = session or _pooled_session()

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """GET or POST `path` (e.g. /cgi-bin/service/get_corp_token) with query `params` and a
        JSON `body`; the answer's JSON object, or UpstreamError."""
        endpoint = path.removeprefix("/cgi-bin/")
        data = None
        headers = {}
        if body is not None:
            # Raw UTF-8, not \\u escapes: WeChat APIs show escapes literally in some fields
            # (wechatpy and WxJava both send ensure_ascii=False for that reason).
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
            headers["Content-Type"] = "application/json; charset=utf-8"
        started = time.monotonic()
        error: UpstreamError | None = None
        answer: dict[str, Any] = {}
        status = NO_ANSWER
        try:
            response = self.session.request(
                method,
                self.base_url + path,
                params=dict(params or {}),
                data=data,
                headers=headers,
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            kind = "config" if isinstance(exc, _BAD_URL) else "busy"
            error = UpstreamError(endpoint, None, self._no_answer(exc), kind, status)
        else:
            with response:
                status = response.status_code
                try:
                    answer = self._answer(endpoint, response)
                except UpstreamError as exc:
                    error = exc
        # Never the body (secrets, tickets, codes) and never a query value (tokens).
        log.log(
            logging.DEBUG if error is None else logging.INFO,
            "%s %s%s -> http=%s errcode=%s in %.0f ms%s",
            method,
            endpoint,
            f"?{masked_query(params)}" if params else "",
            status,
            answer.get("errcode") if error is None else error.errcode,
            (time.monotonic() - started) * 1000,
            "" if error is None else f": {error.kind}: {error.errmsg}",
        )
        if error is not None:
            # Raised here, outside the except block, so it does not chain the requests
            # exception (whose message holds the URL) into a traceback someone logs.
            raise error
        return answer

    def _no_answer(self, exc: requests.RequestException) -> str:
        """`ConnectionError from qyapi.weixin.qq.com: Connection refused`: the exception's type,
        the host (once) and the system's reason. Never the exception's text: it holds the URL,
        and so the token in the query, and names the host three times over."""
        host = urlsplit(self.base_url).netloc.rpartition("@")[2] or self.base_url
        cause: BaseException | None = exc
        while cause is not None:
            if isinstance(cause, OSError) and isinstance(cause.strerror, str) and cause.strerror:
                return f"{type(exc).__name__} from {host}: {cause.strerror[:200]}"
            cause = cause.__cause__ or cause.__context__
        return f"{type(exc).__name__} from {host}"

    def _answer(self, endpoint: str, response: requests.Response) -> dict[str, Any]:
        status = response.status_code
        if status >= 500 or status == 429:
            raise UpstreamError(endpoint, None, f"HTTP {status}", "busy", status)
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            # A 200 that is not JSON is a gateway or platform glitch: try again later. Another
            # status without an errcode (a 404 page, a redirect) is not going to fix itself.
            kind = "busy" if status == 200 else "other"
            raise UpstreamError(endpoint, None, f"HTTP {status}, body is not JSON", kind, status)
        errcode = answer.get("errcode")
        # wecom-suite.md §4: get_suite_token, get_corp_token and get_provider_token answer
        # success WITHOUT an errcode; absent and 0 both mean success everywhere.
        if errcode not in (None, 0):
            errmsg = str(answer.get("errmsg", ""))[:300]
            if isinstance(errcode, bool) or not isinstance(errcode, int):
                raise UpstreamError(
                    endpoint, None, f"errcode {errcode!r}: {errmsg}", "other", status
                )
            raise UpstreamError(endpoint, errcode, errmsg, kind_of(errcode, self.errcodes), status)
        if status != 200:
            raise UpstreamError(endpoint, None, f"HTTP {status}", "other", status)
        return answer


class _MaskQueryFilter(logging.Filter):
    """urllib3 logs each request line at DEBUG, query string included: mask its values so a
    DEBUG log level never writes a token (style.md: logging with secrets masked)."""

    _VALUE = re.compile(r"([?&][^=&\s'\"]+=)[^&\s'\"]*")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = self._VALUE.sub(r"\1***", message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


_URLLIB3_LOGGERS = ("urllib3.connectionpool", "urllib3.util.retry", "urllib3.poolmanager")
for _name in _URLLIB3_LOGGERS:
    _logger = logging.getLogger(_name)
    if not any(isinstance(f, _MaskQueryFilter) for f in _logger.filters):
        _logger.addFilter(_MaskQueryFilter())


class PlatformApi:
    """What the two platform clients share: one ApiClient on the platform's host (DEFAULT_BASE
    unless told), reading its errcodes with the platform's table (ERRCODES)."""

    DEFAULT_BASE: str
    ERRCODES: Mapping[int, str]

    def __init__(
        self,
        base_url: str | None = None,
        *,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
    ) -> None:
        self.client = ApiClient(
            base_url or self.DEFAULT_BASE, errcodes=self.ERRCODES, timeout=timeout, session=session
        )
