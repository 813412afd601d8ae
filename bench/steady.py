"""Steady state for bench/tokens.py part b (`--steady`): every tenant starts with a token, their
ages spread evenly over one lifetime, as tenants look after the server has run for a while, so
each lifetime has the same refreshes spread over it instead of the fill's burst. And the time each
`tokens.sweep` job took, read from the workers' logs.

The tokens are minted in the sandbox's own book (it runs in the bench's process) and stored in
our database as a refresh would have stored them.
"""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from suite_server import db
from suite_server.models import Tenant, TenantToken
from suite_server.tokens import policy

CHUNK = 5_000
SWEEP_DONE = re.compile(r"completed tokens\.sweep job in (\d+:\d\d:\d\d(?:\.\d+)?)")


def spread_tokens(app, state, suite_id: str, tenant_ids: list[str], ttl: int) -> None:
    """A WeCom corp token per tenant, issued a uniform 0..ttl seconds ago, in the sandbox and in
    our token rows (refresh_at: 1 s after it expires, the WeCom rule of tokens/policy.py)."""
    now = state.now()
    minted = {}
    with state.lock:
        for tenant_id in tenant_ids:
            issued = now - random.uniform(0, ttl * 0.95)  # none dead before the window starts
            minted[tenant_id] = state.tokens._mint("corp", suite_id, tenant_id, issued, ttl)
    with app.app_context():
        session = db.session()
        for first in range(0, len(tenant_ids), CHUNK):
            chunk = tenant_ids[first : first + CHUNK]
            rows = session.execute(
                sa.select(TenantToken, Tenant.tenant_id)
                .join(Tenant, Tenant.id == TenantToken.tenant_pk)
                .where(Tenant.tenant_id.in_(chunk))
            ).all()
            for row, tenant_id in rows:
                token = minted[tenant_id]
                row.access_token = token.value
                row.obtained_at = datetime.fromtimestamp(token.issued_at, UTC)
                row.expires_at = datetime.fromtimestamp(token.expires_at, UTC)
                row.refresh_at = policy.next_refresh(True, row.obtained_at, row.expires_at)
                row.version = 1
            session.commit()
            session.expunge_all()


def sweep_times(workdir: Path, names: list[str]) -> list[float]:
    """How long each `tokens.sweep` job took, from the workers' logs (RQ logs every job's time
    when it completes: "Successfully completed tokens.sweep job in 0:00:00.81s")."""
    seconds = []
    for name in names:
        for line in (workdir / f"{name}.log").read_text(errors="replace").splitlines():
            found = SWEEP_DONE.search(line)
            if found:
                hours, minutes, secs = found.group(1).split(":")
                seconds.append(int(hours) * 3600 + int(minutes) * 60 + float(secs))
    return seconds
