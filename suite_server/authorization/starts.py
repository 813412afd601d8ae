"""How many installs one client may start. Each anonymous `GET /install/<app_id>` writes an
install state (and, when no pre-auth code is shared, costs an upstream call), so a client address
gets LIMIT starts per WINDOW, counted from the recent install states of that address (shared by
every process through the database); the next start is refused with 429 and Retry-After.

A person installing clicks the link a few times at most; an office behind one NAT address rarely
has more than one admin installing at once. The address is `request.remote_addr`: behind a proxy,
the trusted-proxies setting makes it the browser's.
"""

from __future__ import annotations

import ipaddress
import math
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from suite_server.db import utcnow
from suite_server.models import InstallState

LIMIT = 20
WINDOW = timedelta(minutes=10)


class TooManyStarts(Exception):
    """This client started LIMIT installs within WINDOW; it may start another in `retry_after`
    seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many install starts, retry in {retry_after} s")
        self.retry_after = retry_after


def client_key(address: str | None) -> str:
    """What the limit counts against: the host for IPv4, the /64 network for IPv6 (one machine
    usually has a whole /64 to take addresses from)."""
    if not address:
        return "unknown"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def check(session: Session, client: str) -> None:
    """TooManyStarts when `client` (a client_key) has used up its starts for now."""
    now = utcnow()
    count, oldest = session.execute(
        select(func.count(), func.min(InstallState.created_at)).where(
            InstallState.client_addr == client, InstallState.created_at > now - WINDOW
        )
    ).one()
    if count < LIMIT:
        return
    # Once the oldest start leaves the window, one more fits.
    raise TooManyStarts(max(1, math.ceil((oldest + WINDOW - now).total_seconds())))
