"""`suite-server db`: the database schema."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from suite_server import schema


@click.group("db", cls=AppGroup)
def db_group() -> None:
    """Database schema."""


@db_group.command("upgrade")
def db_upgrade() -> None:
    """Apply Alembic migrations up to the newest revision."""
    schema.upgrade(current_app._get_current_object())
    click.echo("database is up to date")
