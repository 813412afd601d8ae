"""Alembic from inside the app: upgrade the database and tell whether it is at head."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask

# migrations/ sits beside the package in the source tree (installed with `pip install -e .`).
MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(app: Flask) -> Config:
    config = Config(str(MIGRATIONS.parent / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS))
    # env.py uses this app's database instead of building another app.
    config.attributes["app"] = app
    return config


def upgrade(app: Flask, revision: str = "head") -> None:
    command.upgrade(alembic_config(app), revision)


def downgrade(app: Flask, revision: str) -> None:
    command.downgrade(alembic_config(app), revision)


def is_current(app: Flask) -> bool:
    """The database is at the newest revision."""
    heads = set(ScriptDirectory.from_config(alembic_config(app)).get_heads())
    with app.extensions["suite_server.engine"].connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads()) == heads
