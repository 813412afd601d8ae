"""Sign-in throttling: failed attempts counted per client address and per account, with growing
delays, decided in the database before any password is checked.

- Per client address (`address:<ip>`): every failed attempt from the address, whatever the
  username. After ADDRESS_FREE failures in a row each further attempt must wait, 1 minute, then
  2, 4, 8, and 15 minutes from then on.
- Per account (`account:<id>`): failures from addresses the admin has not signed in from in the
  last KNOWN_FOR. An address adds at most its ADDRESS_FREE attempts (later ones are already held
  back by its own delays), and the account's delays start at ACCOUNT_FREE > ADDRESS_FREE: so
  guesses from one place never delay the account; only guesses from several places do, and then
  only for addresses the admin has not used: from a place they signed in from before, the real
  admin is never held back by anyone else's guesses.

An attempt is counted when it is let through, before its password is checked, by one statement
per key (INSERT ... ON CONFLICT DO UPDATE ... WHERE not blocked RETURNING): concurrent attempts
on any number of processes queue on the row and each sees the count of the ones before it, so a
burst gets exactly ADDRESS_FREE checks and the attempts behind them wait, the right password
included. A success resets its address and gives the account back the attempt. Failures are
forgotten FORGET_AFTER the last one.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, case, delete, exists, literal, select, update
from sqlalchemy.orm import Session

from suite_server.models import AdminSession, LoginThrottle

ADDRESS_FREE = 5
ACCOUNT_FREE = 10
DELAYS = tuple(timedelta(minutes=m) for m in (1, 2, 4, 8, 15))  # the last one repeats
FORGET_AFTER = timedelta(hours=24)
KNOWN_FOR = timedelta(days=30)


@dataclass(frozen=True)
class Admission:
    admitted: bool
    # The address's count with this attempt (None: held back before it was counted).
    address_failures: int | None = None
    # The account's count with this attempt, when it was counted on the account.
    account_failures: int | None = None

    @property
    def delays_address(self) -> bool:
        """This attempt, if its password is wrong, starts the address's delays."""
        return self.address_failures == ADDRESS_FREE

    @property
    def locks_account(self) -> bool:
        """This attempt, if its password is wrong, starts the account's delays."""
        return self.account_failures == ACCOUNT_FREE


def address_key(address: str) -> str:
    return f"address:{address}"[:100]


def account_key(admin_pk: int) -> str:
    return f"account:{admin_pk}"


def known_address(session: Session, admin_pk: int, address: str, now: datetime) -> bool:
    """Has the admin signed in from this address within KNOWN_FOR?"""
    return bool(
        session.scalar(
            select(
                exists().where(
                    AdminSession.admin_pk == admin_pk,
                    AdminSession.client_address == address,
                    AdminSession.created_at >= now - KNOWN_FOR,
                )
            )
        )
    )


def admit(session: Session, address: str, admin_pk: int | None, now: datetime) -> Admission:
    """Count this attempt and say whether its password may be checked; commits. `admin_pk`:
    the account, when it exists and the address is not one of its known ones."""
    session.commit()  # SQLite: the counting must not start on an older read snapshot
    at_address = _count(session, address_key(address), ADDRESS_FREE, now)
    admitted, account = at_address is not None, None
    if admitted and admin_pk is not None:
        key = account_key(admin_pk)
        if at_address <= ADDRESS_FREE:
            account = _count(session, key, ACCOUNT_FREE, now)
            admitted = account is not None
        else:
            admitted = not _blocked(session, key, now)
    session.commit()
    return Admission(admitted, at_address, account)


def succeeded(
    session: Session, address: str, admission: Admission, admin_pk: int, now: datetime
) -> None:
    """The password was right: the address starts afresh, and the account gets this attempt
    back. The caller commits."""
    session.execute(delete(LoginThrottle).where(LoginThrottle.key == address_key(address)))
    if admission.account_failures is not None:
        key, table = account_key(admin_pk), LoginThrottle.__table__
        session.execute(delete(table).where(table.c.key == key, table.c.failures <= 1))
        session.execute(
            update(table)
            .where(table.c.key == key, table.c.failures > 1)
            .values(
                failures=table.c.failures - 1,
                blocked_until=case(
                    (table.c.failures - 1 < ACCOUNT_FREE, None), else_=table.c.blocked_until
                ),
            )
        )
    forgotten = now - FORGET_AFTER
    session.execute(delete(LoginThrottle).where(LoginThrottle.last_failure_at < forgotten))


def _blocked(session: Session, key: str, now: datetime) -> bool:
    until = session.scalar(select(LoginThrottle.blocked_until).where(LoginThrottle.key == key))
    return until is not None and until > now


def _count(session: Session, key: str, free: int, now: datetime) -> int | None:
    """One more failure on `key` unless it is blocked: the new count, or None when blocked."""
    statement = _count_statement(session.get_bind().dialect.name, free)
    values = {"key": key, "now": now, "forget_before": now - FORGET_AFTER}
    values.update({f"wait_{n}": now + delay for n, delay in enumerate(DELAYS)})
    return session.scalar(statement, values)


@functools.cache
def _count_statement(dialect: str, free: int):
    """INSERT (a first failure) or, when the row exists and is not blocked, UPDATE it: the
    count plus one (or 1 once the last failure is FORGET_AFTER old) and the wait that count
    earns. The times are bound per call: both databases compare them, neither computes them."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert

    table = LoginThrottle.__table__
    now = bindparam("now", type_=table.c.last_failure_at.type)
    count = case(
        (table.c.last_failure_at < bindparam("forget_before", type_=now.type), literal(1)),
        else_=table.c.failures + 1,
    )
    waits = [
        (count == free + n, bindparam(f"wait_{n}", type_=now.type)) for n in range(len(DELAYS))
    ]
    blocked_until = case(
        (count < free, None), *waits, else_=bindparam(f"wait_{len(DELAYS) - 1}", type_=now.type)
    )
    statement = insert(table).values(
        key=bindparam("key"), failures=1, last_failure_at=now, blocked_until=None
    )
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.key],
        set_={"failures": count, "last_failure_at": now, "blocked_until": blocked_until},
        where=(table.c.blocked_until.is_(None)) | (table.c.blocked_until <= now),
    )
    return statement.returning(table.c.failures)
