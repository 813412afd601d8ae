"""What the command modules share: the schema guard, the app lookup, tables and secrets printed
once. Every user error is one line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click
from flask import current_app
from sqlalchemy.orm import Session

from suite_server import db, schema
from suite_server.admin import apps as admin_apps
from suite_server.errors import ValidationError
from suite_server.models import App
from suite_server.ops import logs


def needs_schema(command: Callable[..., Any]) -> Callable[..., Any]:
    """Commands that read or write tables. In development the database is brought up to date on
    the spot so a fresh checkout just works; production requires `suite-server db upgrade`."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        app = current_app._get_current_object()
        if app.config["ENV"] != "production":
            schema.upgrade(app)
        elif not schema.is_current(app):
            raise click.ClickException("database is not up to date: run `suite-server db upgrade`")
        try:
            return command(*args, **kwargs)
        except ValidationError as exc:
            db.session().rollback()
            raise click.ClickException(str(exc)) from None

    return wrapper


def find_app(session: Session, app_id: str) -> App:
    app = admin_apps.find(session, app_id)
    if app is None:
        raise click.ClickException(f"no app {app_id!r}")
    return app


def table(headers: list[str], rows: list[list[str]]) -> None:
    # Names and errors come from tenants and platforms: an escape code must not reach a terminal.
    cells = [[logs.printable(c) for c in row] for row in [headers, *rows]]
    widths = [max(len(c) for c in column) for column in zip(*cells, strict=True)]
    for row in cells:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    if not rows:
        click.echo("(none)")


def print_secret(secret: str | None) -> None:
    if secret:
        click.echo(f"webhook secret: {secret}")
        click.echo("store this secret now: it is not shown again", err=True)
