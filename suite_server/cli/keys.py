"""`suite-server keys`: the encryption keys of secrets at rest."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from suite_server import db
from suite_server.cli.common import needs_schema
from suite_server.cli.progress import progress
from suite_server.crypto import secrets


@click.group("keys", cls=AppGroup)
def keys_group() -> None:
    """Encryption keys for secrets at rest (SUITE_SERVER_ENCRYPTION_KEYS)."""


@keys_group.command("generate", with_appcontext=False)
def keys_generate() -> None:
    """Print a new key to put first in SUITE_SERVER_ENCRYPTION_KEYS."""
    click.echo(secrets.generate_key())


@keys_group.command("rotate")
@needs_schema
def keys_rotate() -> None:
    """Re-encrypt every stored secret with the first key of SUITE_SERVER_ENCRYPTION_KEYS."""
    with progress("re-encrypting") as on_progress:
        count = secrets.rotate(db.session(), on_progress=on_progress)
    click.echo(f"re-encrypted {count} rows with the first key")
