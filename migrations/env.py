"""Alembic environment: runs against the database of a suite-server app."""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context

import suite_server.models  # noqa: F401  (registers every table on Base.metadata)
from suite_server import create_app
from suite_server.crypto.secrets import EncryptedText
from suite_server.db import Base, UTCDateTime

config = context.config
if config.config_file_name and not config.attributes.get("app"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

# `suite-server db upgrade` passes its app; plain `alembic` builds one from the environment.
app = config.attributes.get("app") or create_app()


def render_item(type_, obj, autogen_context):
    # Our column types are storage details of plain types: migrations name the plain type so
    # they never import application code that may change.
    if type_ == "type" and isinstance(obj, EncryptedText):
        return "sa.Text()"
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime()"
    return False


def run_migrations() -> None:
    engine = app.extensions["suite_server.engine"]
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # A batch migration rebuilds a table (copy, DROP, rename); with foreign keys enforced
            # DROP TABLE apps would cascade and delete every tenant and event. The pragma only
            # takes effect outside a transaction, hence the commit.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_item=render_item,
            render_as_batch=sqlite,  # SQLite cannot ALTER much
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        if sqlite:
            connection.commit()
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            connection.commit()


run_migrations()
