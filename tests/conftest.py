"""Shared fixtures: an app on each database (SQLite and PostgreSQL), its client and CLI runner.

PostgreSQL and Redis are real servers on loopback (SUITE_SERVER_TEST_POSTGRES_URL,
SUITE_SERVER_TEST_REDIS_URL). Under CI (CI=true) a test that needs one fails when it does not
answer; elsewhere it is skipped.
"""

from __future__ import annotations

import os
import shutil
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.engine import make_url
from werkzeug.serving import WSGIRequestHandler, make_server

from suite_server import create_app, db, schema
from suite_server.db import Base
from suite_server.jobs.runner import InProcessRunner
from suite_server.sandbox import SandboxServer

POSTGRES_URL = os.environ.get(
    "SUITE_SERVER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("SUITE_SERVER_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
# A fixed Fernet key so tests can build apps in any order; tests of rotation bring their own.
TEST_KEY = "kM6C0b4bq8m1Hq8mS6zq2D3hD1oV0a7k1q0yq4V9c0Q="
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(what: str, error: Exception) -> None:
    message = f"{what} is not reachable: {error}"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(autouse=True, scope="session")
def _clean_environment() -> Iterator[None]:
    """The developer's own SUITE_SERVER_* settings must not leak into tests."""
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("SUITE_SERVER_")}
    yield
    os.environ.update(saved)


def make_app(instance: Path, database_url: str, **overrides) -> Flask:
    config = {
        "INSTANCE_PATH": str(instance),
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret-key",
        "ENCRYPTION_KEYS": TEST_KEY,
        "TESTING": True,
    }
    config.update(overrides)
    return create_app(config)


class Database:
    """One database kind for the test session: a migrated template, handed to each test clean."""

    def __init__(self, kind: str, tmp: Path) -> None:
        self.kind, self.tmp = kind, tmp
        if kind == "sqlite":
            self.template = tmp / "template.db"
            self.url = f"sqlite:///{self.template}"
        else:
            self.admin_url = make_url(POSTGRES_URL)
            self.name = f"suite_server_test_{uuid.uuid4().hex[:10]}"
            self.url = self.admin_url.set(database=self.name).render_as_string(hide_password=False)
            self.create_database(self.name)
        migrator = make_app(tmp / "migrate", self.url)
        schema.upgrade(migrator)
        # Closing the last connection checkpoints SQLite's WAL into the file we copy per test.
        db.dispose(migrator)

    def create_database(self, name: str) -> str:
        """A new empty PostgreSQL database; returns its URL."""
        engine = sa.create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        except sa.exc.OperationalError as exc:
            unavailable("PostgreSQL", exc)
        finally:
            engine.dispose()
        return self.admin_url.set(database=name).render_as_string(hide_password=False)

    def drop_database(self, name: str) -> None:
        engine = sa.create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()

    def empty_url(self, tmp_path: Path) -> str:
        """A database with no tables at all, for migration tests."""
        if self.kind == "sqlite":
            return f"sqlite:///{tmp_path / 'empty.db'}"
        return self.create_database(f"{self.name}_{uuid.uuid4().hex[:6]}")

    def for_test(self, tmp_path: Path) -> str:
        if self.kind == "sqlite":
            target = tmp_path / "suite_server.db"
            shutil.copy(self.template, target)
            return f"sqlite:///{target}"
        return self.url

    def clean(self) -> None:
        if self.kind == "postgresql":
            engine = sa.create_engine(self.url)
            tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
            with engine.begin() as connection:
                connection.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
            engine.dispose()

    def close(self) -> None:
        if self.kind == "postgresql":
            engine = sa.create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
            with engine.connect() as connection:
                names = connection.scalars(
                    sa.text("SELECT datname FROM pg_database WHERE datname LIKE :p"),
                    {"p": f"{self.name}%"},
                ).all()
            engine.dispose()
            for name in names:
                self.drop_database(name)


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database(request, tmp_path_factory) -> Iterator[Database]:
    made = Database(request.param, tmp_path_factory.mktemp(request.param))
    yield made
    made.close()


@pytest.fixture(scope="session")
def postgres(tmp_path_factory) -> Iterator[Database]:
    """PostgreSQL alone, for what only production runs on."""
    made = Database("postgresql", tmp_path_factory.mktemp("postgres-only"))
    yield made
    made.close()


@pytest.fixture
def app(database: Database, tmp_path: Path) -> Iterator[Flask]:
    app = make_app(tmp_path / "instance", database.for_test(tmp_path))
    with app.app_context():
        yield app
    jobs = app.extensions["suite_server.jobs"]
    if isinstance(jobs, InProcessRunner):
        jobs.shutdown(timeout=10)  # no job of this test may touch the next test's database
    db.dispose(app)
    database.clean()


@pytest.fixture
def client(app: Flask):
    return app.test_client()


@pytest.fixture
def runner(app: Flask):
    return app.test_cli_runner()


@pytest.fixture
def redis_url() -> Iterator[str]:
    connection = redis.Redis.from_url(REDIS_URL)
    try:
        connection.ping()
    except redis.RedisError as exc:
        unavailable("Redis", exc)
    connection.flushdb()
    yield REDIS_URL
    connection.flushdb()


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """The app served over real HTTP on a free loopback port; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:
        pass


@pytest.fixture(scope="session")
def _platform_server() -> Iterator[SandboxServer]:
    server = SandboxServer({"ticket_interval": 3600, "push_timeout": 5})
    server.start()
    yield server
    server.stop()


@pytest.fixture
def platform_sandbox(_platform_server: SandboxServer) -> Iterator[SandboxServer]:
    """The sandbox playing both platforms over HTTP (real clock), emptied for each test."""
    _platform_server.sandbox.pusher.join()
    _platform_server.state.reset()
    yield _platform_server
    _platform_server.sandbox.pusher.join()
