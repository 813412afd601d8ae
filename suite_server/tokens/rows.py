"""What the token service reads of a token row (app_tokens or tenant_tokens) and what it hands
back to whoever asked for a token."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from suite_server.db import utcnow


@dataclass(frozen=True)
class TokenRow:
    """What serving reads of a token row (app_tokens or tenant_tokens): token_columns()."""

    id: int
    access_token: str | None
    obtained_at: datetime | None
    expires_at: datetime | None
    refresh_at: datetime | None
    version: int


def token_columns(table) -> tuple:
    """The columns of a TokenRow, in its order."""
    return (
        table.c.id,
        table.c.access_token,
        table.c.obtained_at,
        table.c.expires_at,
        table.c.refresh_at,
        table.c.version,
    )


@dataclass(frozen=True)
class Served:
    access_token: str = field(repr=False)
    expires_at: datetime
    version: int = 0
    # The last moment it may be served without a refresh (policy.usable_until); None: not known.
    usable_until: datetime | None = None
    # Whose token it is, as a change of it is announced (invalidations.name): "tenant:12".
    owner: str = ""

    def expires_in(self, now: datetime | None = None) -> int:
        return max(0, int((self.expires_at - (now or utcnow())).total_seconds()))
