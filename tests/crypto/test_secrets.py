"""Secrets at rest: nothing readable in a raw dump; keys rotate and old rows still decrypt."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from suite_server import db
from suite_server.cli import cli
from suite_server.db import Base
from suite_server.errors import UndecryptableSecret
from suite_server.models import App, AppToken, InboundEvent, Tenant, TenantToken
from tests import factories
from tests.conftest import make_app

SECRETS = {
    "secret": "APP-SECRET-0123456789",
    "token": "CallbackTok3n",
    "aes": factories.AES_KEY,
    "previous_aes": "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR",
    "permanent_code": "PERMANENT-CODE-abcdef",
    "previous_credential": "OLD-REFRESH-TOKEN-xyz",
    "app_token": "SUITE-ACCESS-TOKEN-777",
    "tenant_token": "CORP-ACCESS-TOKEN-888",
    "payload": "<xml><SuiteTicket>TICKET-VALUE-999</SuiteTicket></xml>",
}


def fill_every_secret(session) -> None:
    app = factories.wecom_app(
        session,
        secret=SECRETS["secret"],
        token=SECRETS["token"],
        aes_key=SECRETS["aes"],
    )
    app.previous_aes_key = SECRETS["previous_aes"]
    tenant = factories.tenant(
        session,
        app,
        credential=SECRETS["permanent_code"],
        previous_credential=SECRETS["previous_credential"],
    )
    session.add_all(
        [
            AppToken(app_pk=app.id, access_token=SECRETS["app_token"]),
            TenantToken(tenant_pk=tenant.id, access_token=SECRETS["tenant_token"]),
            InboundEvent(
                app_pk=app.id,
                channel="command",
                kind="suite_ticket",
                dedupe_key="k",
                raw="<xml/>",
                payload=SECRETS["payload"],
            ),
        ]
    )
    session.commit()


def raw_dump(app) -> str:
    """Every value of every table as text, read past the ORM's types."""
    lines = []
    with app.extensions["suite_server.engine"].connect() as connection:
        for table in Base.metadata.sorted_tables:
            for row in connection.execute(sa.text(f'SELECT * FROM "{table.name}"')):
                lines.append(" ".join(str(value) for value in row))
    return "\n".join(lines)


def test_raw_dump_shows_no_secret(app):
    fill_every_secret(db.session())
    dump = raw_dump(app)
    assert "wwprovider0001" in dump  # the dump is real: public ids are there
    for name, value in SECRETS.items():
        assert value not in dump, name
    assert "TICKET-VALUE-999" not in dump
    if app.config["DATABASE_URL"].startswith("sqlite"):
        path = Path(app.config["DATABASE_URL"].removeprefix("sqlite:///"))
        data = path.read_bytes() + path.with_name(path.name + "-wal").read_bytes()
        for name, value in SECRETS.items():
            assert value.encode() not in data, name


def test_keys_rotate_and_old_rows_still_decrypt(app, database, tmp_path):
    fill_every_secret(db.session())
    old_key = app.config["ENCRYPTION_KEYS"][0]
    new_key = Fernet.generate_key().decode()
    url = app.config["DATABASE_URL"]

    # A new key in front: rows written with the old key still read.
    both = make_app(tmp_path / "both", url, ENCRYPTION_KEYS=f"{new_key},{old_key}")
    with both.app_context():
        assert db.session().scalar(sa.select(Tenant)).credential == SECRETS["permanent_code"]
        result = both.test_cli_runner().invoke(cli, ["keys", "rotate"])
        assert result.exit_code == 0, result.output
        assert "re-encrypted 5 rows" in result.output  # app, tenant, 2 tokens, event
    db.dispose(both)

    # After rotation the old key can go: everything decrypts with the new one alone.
    new_only = make_app(tmp_path / "new", url, ENCRYPTION_KEYS=new_key)
    with new_only.app_context():
        session = db.session()
        stored = session.scalar(sa.select(App))
        assert (stored.secret, stored.previous_aes_key) == (
            SECRETS["secret"],
            SECRETS["previous_aes"],
        )
        tenant = session.scalar(sa.select(Tenant))
        assert tenant.previous_credential == SECRETS["previous_credential"]
        assert session.scalar(sa.select(TenantToken)).access_token == SECRETS["tenant_token"]
        assert session.scalar(sa.select(InboundEvent)).payload == SECRETS["payload"]
    db.dispose(new_only)

    # And the old key alone no longer reads anything.
    old_only = make_app(tmp_path / "old", url, ENCRYPTION_KEYS=old_key)
    with old_only.app_context(), pytest.raises(UndecryptableSecret):
        db.session().scalar(sa.select(App)).secret  # noqa: B018
    db.dispose(old_only)
