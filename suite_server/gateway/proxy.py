"""The proxy of the tenant gateway (docs/gateway.md "Proxy"): a platform API call made for one of
the ISV's services with the token added here, so the service never holds one.

- The upstream URL is the platform's API base + `/<path>`, for paths under ALLOWED only; the
  query goes through as it came, with the token parameter of the target's kind added
  (`token_param`), and the body and its Content-Type as they came.
- The answer comes back as it is: status, the FORWARDED headers and the body, streamed when it
  is not a small JSON object (a media download). A small JSON object is read whole to see its
  errcode.
- When that errcode says the token we sent is dead (DEAD_TOKEN, per platform and token kind),
  the token is refreshed as the token API's stale_token refresh does (`refresh(stale)`: many
  concurrent callers, one upstream refresh) and the call is sent ONCE more. Any other errcode
  (-1 "system busy", 45009 "rate limit", ...) and any answer that is not a JSON object are never
  re-sent: the platform may have acted on the call (a message sent twice: WxJava #2098), and a
  refresh cannot help when the token was never the problem (WxJava PR #2115). No answer at all
  (connection refused, timeout) is never re-sent either: `NoAnswer`.
- The body is therefore replayable: `Body` keeps it in a spooled temporary file (memory up to
  SPOOL_IN_MEMORY, disk above) and sends it from there each time.

Tokens never reach a log: URLs are logged with the query's values masked.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any
from urllib.parse import quote, urlsplit

import requests
from requests.adapters import HTTPAdapter

from suite_server.errors import NoAnswer, TooLarge
from suite_server.upstream.http import DEFAULT_TIMEOUT

log = logging.getLogger(__name__)

# Paths a caller may reach, per platform (docs/gateway.md): the platforms' API trees.
ALLOWED: dict[str, tuple[str, ...]] = {
    "wecom": ("cgi-bin/",),
    "open": (
        "cgi-bin/",
        "wxa/",
        "sns/",
        "datacube/",
        "customservice/",
        "card/",
        "merchant/",
        "shop/",
        "product/",
        "wxaapi/",
        "tcb/",
    ),
}
MAX_PATH = 200  # the longest path kept (proxy_errcodes.path); the platforms' are far shorter
_PATH = re.compile(r"[A-Za-z0-9_.\-/]+")

# Every name a token goes by in a query: a caller sending one is refused (it must hold none).
TOKEN_PARAMS = frozenset(
    {"access_token", "suite_access_token", "component_access_token", "provider_access_token"}
)
# The query parameter of each token kind (isv-capabilities §3).
_PARAM = {
    "corp": "access_token",
    "authorizer": "access_token",
    "suite": "suite_access_token",
    "component": "component_access_token",
    "provider": "provider_access_token",
}
# Provider APIs that take the provider token as `access_token` (isv-capabilities §2: WxJava
# BaseWxCpTpServiceImpl's get_login_info); every other provider API names it
# provider_access_token.
PROVIDER_AS_ACCESS_TOKEN = frozenset({"cgi-bin/service/get_login_info"})

# errcodes saying the token we sent is dead, so a refresh and one more try can help
# (isv-capabilities §2, §3). On WeCom 40001 is "invalid secret", never a token problem.
DEAD_TOKEN: dict[str, frozenset[int]] = {
    "corp": frozenset({40014, 42001}),
    "suite": frozenset({40082, 42009}),
    "provider": frozenset({40014, 42001, 40082, 42009}),
    "authorizer": frozenset({40001, 40014, 42001}),
    "component": frozenset({40001, 40014, 42001}),
}

# The answer's headers handed back; others (Set-Cookie, Server, hop-by-hop ones) are not ours to
# pass on. Content-Encoding only appears if the platform ignored our Accept-Encoding: identity.
FORWARDED = ("Content-Type", "Content-Disposition", "Content-Length", "Content-Encoding")
JSON_READ_LIMIT = 1024 * 1024  # a JSON answer up to this is read whole for its errcode
CHUNK = 64 * 1024
SPOOL_IN_MEMORY = 1024 * 1024  # a body up to this stays in memory; above, a temporary file
POOL_SIZE = 64  # kept-alive connections per platform host and process


@dataclass(frozen=True)
class Target:
    """What a call reaches: the platform, the kind of token it needs and the path (no "/" first,
    e.g. "cgi-bin/user/get")."""

    platform: str
    kind: str  # corp | authorizer | suite | component | provider
    path: str

    @property
    def token_param(self) -> str:
        if self.kind == "provider" and self.path in PROVIDER_AS_ACCESS_TOKEN:
            return "access_token"
        return _PARAM[self.kind]


def path_refusal(platform: str, path: str) -> str | None:
    """Why `path` may not be proxied on `platform`, or None when it may."""
    if len(path) > MAX_PATH or not _PATH.fullmatch(path):
        return f"the path must be at most {MAX_PATH} letters, digits and / _ . -"
    if any(segment in ("", ".", "..") for segment in path.split("/")):
        return "the path must not hold empty, . or .. segments"
    allowed = ALLOWED[platform]
    if not path.startswith(allowed):
        return f"only paths under {', '.join(allowed)} are proxied on this platform"
    return None


class Body:
    """A request body kept so it can be sent twice: in memory up to SPOOL_IN_MEMORY, in a
    temporary file above. `requests` streams it (it has a length and `read`)."""

    def __init__(self) -> None:
        # Closed by close(), once the call (and its retry) is done.
        self.file = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115
        self.length = 0

    def fill(self, source: IO[bytes], limit: int) -> None:
        """Copy `source` in; TooLarge as soon as more than `limit` bytes came."""
        while chunk := source.read(CHUNK):
            self.length += len(chunk)
            if self.length > limit:
                raise TooLarge(limit)
            self.file.write(chunk)
        self.file.seek(0)

    def __len__(self) -> int:
        return self.length

    def read(self, size: int = -1) -> bytes:
        return self.file.read(size)

    def rewind(self) -> None:
        self.file.seek(0)

    def close(self) -> None:
        self.file.close()


@dataclass
class Answer:
    """The platform's answer as it is handed back. `content` holds a body read whole (a small
    JSON object), else `stream` yields it; `errcode` is the JSON object's (0 when it has none),
    None for any other body. `errcodes` has every answer's errcode, the dead token's first when
    the call was sent again (`retried`)."""

    status: int
    headers: dict[str, str]
    content: bytes | None = None
    stream: Iterator[bytes] | None = None
    errcode: int | None = None
    errmsg: str = ""
    retried: bool = False
    errcodes: list[tuple[int | None, str]] = field(default_factory=list)


_sessions: dict[str, requests.Session] = {}


def _session(base: str) -> requests.Session:
    """One session (a pool of kept-alive connections) per platform host and process, shared by
    its threads."""
    session = _sessions.get(base)
    if session is None:
        session = requests.Session()
        # The environment's proxy and CA settings (HTTPS_PROXY, NO_PROXY, REQUESTS_CA_BUNDLE),
        # read once: requests reads them again on every call otherwise, which cost a quarter of
        # the proxy's own time per call (profiled under bench/proxy.py's load).
        settings = session.merge_environment_settings(base, {}, None, None, None)
        session.trust_env = False
        session.proxies, session.verify = settings["proxies"], settings["verify"]
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=POOL_SIZE)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        _sessions[base] = session
    return session


def forward(
    method: str,
    base: str,
    target: Target,
    query: str,
    body: Body | None,
    content_type: str | None,
    token: str,
    refresh: Callable[[str], str],
) -> Answer:
    """Send the call with `token`; when the answer says the token is dead, `refresh(token)`
    (the stale-token refresh) and send it once more with the token it returns."""
    answer = _send(method, base, target, query, body, content_type, token)
    errcodes = [(answer.errcode, answer.errmsg)]
    if answer.errcode in DEAD_TOKEN[target.kind]:
        log.info(
            "proxy %s %s: token refused (%s); refreshing it and sending once more",
            method,
            target.path,
            answer.errcode,
        )
        token = refresh(token)
        if body is not None:
            body.rewind()
        answer = _send(method, base, target, query, body, content_type, token)
        answer.retried = True
        errcodes.append((answer.errcode, answer.errmsg))
    answer.errcodes = errcodes
    return answer


def _send(
    method: str,
    base: str,
    target: Target,
    query: str,
    body: Body | None,
    content_type: str | None,
    token: str,
) -> Answer:
    url = f"{base.rstrip('/')}/{target.path}?{query}{'&' if query else ''}"
    url += f"{target.token_param}={quote(token, safe='')}"
    headers = {"Accept-Encoding": "identity"}
    if content_type:
        headers["Content-Type"] = content_type
    started = time.monotonic()
    try:
        response = _session(base).request(
            method,
            url,
            data=body if body is not None and len(body) else None,
            headers=headers,
            timeout=DEFAULT_TIMEOUT,
            allow_redirects=False,
            stream=True,
        )
    except requests.RequestException as exc:
        timed_out = isinstance(exc, requests.Timeout)
        host = urlsplit(base).netloc.rpartition("@")[2] or base
        log.warning("proxy %s %s: no answer from %s (%s)", method, target.path, host, _name(exc))
        raise NoAnswer(host, f"{_name(exc)} from {host}", timed_out) from None
    answer = _read(response)
    log.debug(
        "proxy %s %s?%s -> http=%s errcode=%s in %.0f ms",
        method,
        target.path,
        _masked(query, target.token_param),
        answer.status,
        answer.errcode,
        (time.monotonic() - started) * 1000,
    )
    return answer


def _read(response: requests.Response) -> Answer:
    """The answer, a small JSON object read whole (errcode known), anything else streamed."""
    headers = {name: response.headers[name] for name in FORWARDED if name in response.headers}
    answer = Answer(response.status_code, headers)
    kind = headers.get("Content-Type", "").split(";")[0].strip().lower()
    length = headers.get("Content-Length")
    small = length is None or (length.isdigit() and int(length) <= JSON_READ_LIMIT)
    if not (small and (kind.endswith("json") or kind.startswith("text/") or not kind)):
        answer.stream = _stream(response)
        return answer
    content = _read_up_to(response, JSON_READ_LIMIT + 1)
    if len(content) > JSON_READ_LIMIT:  # larger than it said, or said nothing: hand it on
        answer.stream = _stream(response, content)
        return answer
    response.close()
    answer.content = content
    answer.errcode, answer.errmsg = _errcode(content)
    return answer


def _errcode(content: bytes) -> tuple[int | None, str]:
    """The errcode of a JSON object (0 when it has none), or None for any other body."""
    if not content.lstrip().startswith(b"{"):
        return None, ""
    try:
        parsed: Any = json.loads(content)
    except ValueError:
        return None, ""
    if not isinstance(parsed, dict):
        return None, ""
    errcode = parsed.get("errcode", 0)
    if isinstance(errcode, bool) or not isinstance(errcode, int):
        return None, ""
    return errcode, str(parsed.get("errmsg", ""))[:300]


def _read_up_to(response: requests.Response, limit: int) -> bytes:
    parts, size = [], 0
    while size < limit:
        chunk = response.raw.read(min(CHUNK, limit - size), decode_content=False)
        if not chunk:
            break
        parts.append(chunk)
        size += len(chunk)
    return b"".join(parts)


def _stream(response: requests.Response, first: bytes = b"") -> Iterator[bytes]:
    """The rest of the body as it arrives, bytes as sent (never decoded); closes the response."""
    try:
        if first:
            yield first
        yield from response.raw.stream(CHUNK, decode_content=False)
    finally:
        response.close()


def _name(exc: Exception) -> str:
    # The exception's type only: its text holds the URL, and so the token.
    return type(exc).__name__


def _masked(query: str, token_param: str) -> str:
    return re.sub(r"(^|&)([^=&]+)=[^&]*", r"\1\2=***", query) + f"&{token_param}=***"
