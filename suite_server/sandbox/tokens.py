"""Access tokens the sandbox hands out, and the two ways the platforms renew them.

* WeCom (wecom-suite.md §4 "Token semantics"): asking again within validity returns the SAME token.
* Open (open-platform.md §4.1, §4.5, §8): every call mints a NEW token; the previous one stays
  valid for a grace period (300 s), after which it answers 40001 "not latest".
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

# Outcomes of TokenBook.check(); each platform maps them to its own errcodes.
VALID = "valid"
UNKNOWN = "unknown"  # never issued, revoked, or superseded longer than the grace period ago
EXPIRED = "expired"
FORGET_FROM = 10_000  # tokens in the book before dead ones are forgotten


@dataclass
class Token:
    value: str
    kind: str  # suite | corp | component | authorizer
    app_id: str
    tenant_id: str | None
    issued_at: float
    expires_at: float
    superseded_at: float | None = None
    revoked: bool = False

    def remaining(self, now: float) -> int:
        # Rounded, not truncated: a token minted this instant reports its whole 7200 s, where
        # float time made int() say 7199 (expires_at - now is 7199.9999998 for most clocks).
        return max(0, round(self.expires_at - now))


class TokenBook:
    """All tokens by value, and the current one per owner (kind, app, tenant). Not thread-safe:
    callers hold the state lock."""

    def __init__(self) -> None:
        self._by_value: dict[str, Token] = {}
        self._current: dict[tuple[str, str, str | None], Token] = {}
        self._forget_at = FORGET_FROM

    def current(self, kind: str, app_id: str, tenant_id: str | None = None) -> Token | None:
        return self._current.get((kind, app_id, tenant_id))

    def same_or_new(
        self, kind: str, app_id: str, tenant_id: str | None, now: float, ttl: float
    ) -> Token:
        """WeCom rule: the current token while it is valid, else a fresh one."""
        token = self.current(kind, app_id, tenant_id)
        if token is not None and not token.revoked and now < token.expires_at:
            return token
        return self._mint(kind, app_id, tenant_id, now, ttl)

    def rotate(
        self, kind: str, app_id: str, tenant_id: str | None, now: float, ttl: float
    ) -> Token:
        """Open rule: always a new token; the previous one starts its grace period now."""
        previous = self.current(kind, app_id, tenant_id)
        if previous is not None and previous.superseded_at is None:
            previous.superseded_at = now
        return self._mint(kind, app_id, tenant_id, now, ttl)

    def check(
        self, value: str, kinds: tuple[str, ...], now: float, grace: float = 0
    ) -> tuple[str, Token | None]:
        """(VALID | UNKNOWN | EXPIRED, token). Expiry wins over staleness (42001 before 40001)."""
        token = self._by_value.get(value)
        if token is None or token.kind not in kinds or token.revoked:
            return UNKNOWN, None
        if now >= token.expires_at:
            return EXPIRED, token
        if token.superseded_at is not None and now >= token.superseded_at + grace:
            return UNKNOWN, token
        return VALID, token

    def owner_of(self, value: str) -> Token | None:
        return self._by_value.get(value)

    def revoke(self, app_id: str, tenant_id: str | None = None, kind: str | None = None) -> int:
        """Kill every token of an app (tenant_id None: the app token) or of one tenant."""
        count = 0
        for token in self._by_value.values():
            if token.app_id != app_id or token.tenant_id != tenant_id or token.revoked:
                continue
            if kind is None or token.kind == kind:
                token.revoked = True
                count += 1
        return count

    def clear(self) -> None:
        self._by_value.clear()
        self._current.clear()
        self._forget_at = FORGET_FROM

    def __len__(self) -> int:
        return len(self._by_value)

    def _mint(self, kind: str, app_id: str, tenant_id: str | None, now: float, ttl: float) -> Token:
        self._forget_dead(now)
        # Real tokens are long opaque strings (≤512 bytes); the prefix helps reading logs.
        token = Token(
            value=f"{kind}_{secrets.token_urlsafe(48)}",
            kind=kind,
            app_id=app_id,
            tenant_id=tenant_id,
            issued_at=now,
            expires_at=now + ttl,
        )
        self._by_value[token.value] = token
        self._current[(kind, app_id, tenant_id)] = token
        return token

    def _forget_dead(self, now: float) -> None:
        # Keeps memory flat in load tests: a token expired an hour ago can only answer "unknown"
        # instead of "expired", which no client can tell apart from a real platform's purge.
        # A pass reads every token, so the next one waits until the book has doubled: with
        # 10,000 live tenants a pass on every call made each call cost milliseconds.
        if len(self._by_value) < self._forget_at:
            return
        current = {id(t) for t in self._current.values()}
        for value, token in list(self._by_value.items()):
            if token.expires_at < now - 3600 and id(token) not in current:
                del self._by_value[value]
        self._forget_at = max(FORGET_FROM, 2 * len(self._by_value))
