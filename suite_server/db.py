"""The database: engine and session per app, the declarative Base, and the UTC column type."""

from __future__ import annotations

import functools
import select
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from flask import Flask, current_app, g
from sqlalchemy import BigInteger, DateTime, Engine, MetaData, case, create_engine, event, text
from sqlalchemy import cast as sa_cast
from sqlalchemy.exc import DBAPIError, InvalidatePoolError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(value: datetime | None) -> str | None:
    """A stored time as ISO 8601 text for JSON and tables; no time stays None."""
    return value.isoformat() if value is not None else None


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in Python, naive UTC in the database: SQLite keeps no time zone, so
    storing naive UTC everywhere makes both databases behave the same."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None:
            if value.tzinfo is None:
                raise ValueError("naive datetime given to a UTC column")
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        return value.replace(tzinfo=UTC) if value is not None else None


def init_app(app: Flask) -> None:
    url = app.config["SQLALCHEMY_URL"]
    if url.startswith("sqlite"):
        # SQLite serialises writers; wait for the lock instead of failing at once.
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        pushes = engine
    else:
        # A worker's refresh threads (tokens/tasks.py) each hold a connection, returned between
        # statements: the pool keeps that many open, as connections past pool_size are closed
        # on return and opened again (a new PostgreSQL backend) on the next checkout.
        size = max(5, app.config["REFRESH_CONCURRENCY"] + 2)
        engine = create_engine(url, pool_size=size, max_overflow=10)
        event.listen(engine, "connect", _postgres_session)
        # The push store's one statement commits itself (callbacks/inbox.py): a pool of its own
        # in autocommit and without the custom plans, so PostgreSQL plans that prepared INSERT
        # once instead of on every push, much of its database time (bench/callbacks.py).
        pushes = create_engine(url, isolation_level="AUTOCOMMIT", pool_size=1)
        for each in (engine, pushes):
            event.listen(each, "checkout", _ping_if_in_doubt)
            event.listen(each, "checkin", _mark_checkin)
    app.extensions["suite_server.engine"] = engine
    app.extensions["suite_server.push_engine"] = pushes
    app.extensions["suite_server.sessionmaker"] = sessionmaker(engine, expire_on_commit=False)
    app.teardown_appcontext(_close_session)


IDLE_PING_SECONDS = 30.0


def _mark_checkin(_dbapi_connection, record) -> None:
    record.info["checked_in"] = time.monotonic()


def _ping_if_in_doubt(dbapi_connection, record, proxy) -> None:
    """Pessimistic disconnect handling without pool_pre_ping's round trip on every checkout
    (a cost every push paid, bench/callbacks.py). A connection is pinged when its socket shows
    the server wrote to it while it sat in the pool: a backend ended by a restart, a failover or
    pg_terminate_backend says so before it closes, and nothing else speaks unasked on an idle
    connection of ours (no LISTEN). Also when it sat idle a while, for a peer that vanished
    without a word. A dead one is replaced before use, with every connection the pool opened
    before it, instead of failing a request."""
    idle = time.monotonic() - record.info.get("checked_in", 0.0)
    if idle < IDLE_PING_SECONDS and not _has_unread_input(dbapi_connection):
        return
    try:
        cursor = dbapi_connection.cursor()
        cursor.execute("SELECT 1")
        cursor.close()
        dbapi_connection.rollback()  # hand the connection out idle, as the pool keeps it
    except Exception as exc:
        raise InvalidatePoolError() from exc  # the pool reconnects and retries the checkout


def _has_unread_input(dbapi_connection) -> bool:
    """Whether the server sent something on this idle connection (a poll, no round trip)."""
    try:
        poller = select.poll()
        poller.register(dbapi_connection.fileno(), select.POLLIN)
    except Exception:  # closed already, or no poll() on this system: let the ping decide
        return True
    return bool(poller.poll(0))


def _postgres_session(dbapi_connection, _record) -> None:
    """Plan every statement for the values it runs with. psycopg prepares a statement run 5
    times, and PostgreSQL then may reuse one plan made without the values: for the tenant
    search, `ILIKE '%rare name%' ... LIMIT $1`, that plan walked the whole table, many times
    slower than a plan made for the values (bench/admin.py). Our statements are cheap to plan. A
    SET rather than a startup option, which PgBouncer refuses."""
    cursor = dbapi_connection.cursor()
    cursor.execute("SET plan_cache_mode = force_custom_plan")
    cursor.close()
    dbapi_connection.commit()


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def engine() -> Engine:
    return current_app.extensions["suite_server.engine"]


def push_engine() -> Engine:
    """What pushes are stored with: on PostgreSQL an autocommit engine of its own (see init_app),
    on SQLite the one engine."""
    return current_app.extensions["suite_server.push_engine"]


def dispose(app: Flask) -> None:
    """Close the app's pooled connections, for both engines."""
    app.extensions["suite_server.engine"].dispose()
    app.extensions["suite_server.push_engine"].dispose()


def session() -> Session:
    """The session of the current app context (request, CLI command or job), closed at its end."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["suite_server.sessionmaker"]()
    return g.db_session


@contextmanager
def transaction() -> Iterator[Session]:
    """The context's session inside one transaction: committed on success, rolled back on error."""
    db = session()
    try:
        yield db
        db.commit()
    except BaseException:
        db.rollback()
        raise


def _close_session(_exc) -> None:
    db = g.pop("db_session", None)
    if db is not None:
        db.close()


@contextmanager
def raw_connection(engine: Engine, statement: str) -> Iterator[PoolProxiedConnection]:
    """A pooled DBAPI connection, for a statement run without SQLAlchemy (callbacks/inbox.py),
    with SQLAlchemy's error handling kept: the driver's errors come out as SQLAlchemy's (an
    OperationalError when the database is away, which the app answers with 503, see
    guards.py), and a connection the error shows dead is discarded, not put back in the pool."""
    dialect = engine.dialect
    driver_error = dialect.loaded_dbapi.Error

    def wrapped(exc: Exception, gone: bool = False):
        return DBAPIError.instance(
            statement,
            None,
            exc,
            driver_error,
            hide_parameters=True,
            connection_invalidated=gone,
            dialect=dialect,
        )

    try:
        connection = engine.raw_connection()
    except driver_error as exc:  # no connection to be had
        raise wrapped(exc) from exc
    try:
        yield connection
    except driver_error as exc:
        gone = dialect.is_disconnect(exc, connection.dbapi_connection, None)
        if gone:
            connection.invalidate(exc)
        raise wrapped(exc, gone) from exc
    finally:
        connection.close()  # back to the pool (a discarded one opens afresh next time)


def ping() -> None:
    with engine().connect() as connection:
        connection.execute(text("SELECT 1"))


def json_number(session: Session, value):
    """A JSON element (`Model.column[("a", "b")]`) as a whole number in SQL, NULL when absent
    or not a number, on both databases."""
    if session.get_bind().dialect.name == "postgresql":
        # A cast of text that is not a number would fail the whole query: test it first.
        as_text = value.as_string()
        number = sa_cast(as_text, BigInteger)
        return case((as_text.regexp_match("^-?[0-9]{1,12}$"), number), else_=None)
    return value.as_integer()  # SQLite's JSON_EXTRACT: a number compares as one, text never


def insert_ignoring_conflict(
    session: Session, model: type, values: dict, conflict: list[str], returning: str = "id"
):
    """INSERT ... ON CONFLICT DO NOTHING RETURNING id (or `returning`): the new row's id, or None
    when a row with the same `conflict` columns already exists. One statement, safe against
    concurrent writers on both PostgreSQL and SQLite (no read-then-write race)."""
    dialect = session.get_bind().dialect.name
    statement = _insert_ignoring(dialect, model.__table__, tuple(conflict), (returning,))
    return session.scalar(statement, values)


@functools.cache
def _insert_ignoring(dialect: str, table, conflict: tuple[str, ...], returning=("id",)):
    # Built once and given values at execution: this runs on every push.
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = insert(table).on_conflict_do_nothing(index_elements=conflict)
    return statement.returning(*(table.c[name] for name in returning))


class GroupCommit:
    """Group commit: writes that arrive together are written in one transaction, with one
    commit (one WAL flush) for all of them. The first caller to find no write running writes
    everything waiting, its own included; callers arriving meanwhile wait, and the first of them
    writes their batch next. No caller returns before the transaction holding its write has
    committed, so "stored before acknowledged" holds for each. With one request at a time it
    costs nothing: the caller writes its own batch of one at once.

    `write(items)` runs one transaction and returns one result per item, in order. If it raises
    for a batch, each item is written again alone, so one bad write fails only its caller."""

    def __init__(self, write: Callable[[list], list]) -> None:
        self._write = write
        self._lock = threading.Condition()
        self._waiting: list[_Pending] = []
        self._writing = False

    def submit(self, item):
        """Write `item` with whatever else is waiting; returns its result or raises its error."""
        mine = _Pending(item)
        with self._lock:
            self._waiting.append(mine)
            while not mine.done:
                if self._writing:
                    self._lock.wait()
                    continue
                batch, self._waiting, self._writing = self._waiting, [], True
                self._lock.release()
                try:
                    self._write_batch(batch)
                finally:
                    for pending in batch:  # the writer was interrupted (a BaseException)
                        if not pending.done:
                            pending.finish(None, RuntimeError("the batch's writer was stopped"))
                    self._lock.acquire()
                    self._writing = False
                    self._lock.notify_all()
        if mine.error is not None:
            raise mine.error
        return mine.result

    def _write_batch(self, batch: list[_Pending]) -> None:
        try:
            results = self._write([pending.item for pending in batch])
        except Exception as exc:
            if len(batch) > 1:
                for pending in batch:
                    self._write_batch([pending])
            else:
                batch[0].finish(None, exc)
            return
        for pending, result in zip(batch, results, strict=True):
            pending.finish(result, None)


class _Pending:
    __slots__ = ("item", "done", "result", "error")

    def __init__(self, item) -> None:
        self.item, self.done, self.result, self.error = item, False, None, None

    def finish(self, result, error: BaseException | None) -> None:
        self.result, self.error, self.done = result, error, True
