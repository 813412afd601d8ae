"""Rotating the AES key twice before the console switches: the sandbox (playing the console) keeps
sending with the first key, which is in neither of the server's slots any more. Each push is
refused, logged at WARNING with what to do, and the "at risk" page and the app's page say
"pushes refused: no key decrypts them, since ..." until a ticket decrypts again."""

from __future__ import annotations

import logging
import re

from sqlalchemy import select

from suite_server import db
from suite_server.models import App
from tests.admin.conftest import post

ADVICE = "the console and the server disagree on the EncodingAESKey"


def rotate(client, app_id: str) -> None:
    confirm = f"/admin/apps/{app_id}/rotate-aes-key"
    form = client.get(confirm).get_data(as_text=True)
    key = re.search(r'name="key" type="hidden" value="([0-9a-f]+)"', form).group(1)
    response = post(client, confirm, confirm, confirm="yes", key=key)
    assert response.status_code == 303
    client.get(f"/admin/apps/{app_id}")  # the page that shows the new key once


def keys_reach_every_process(app) -> None:
    """Callback keys are cached per process for 5 seconds (callbacks/keys.py): skip the wait."""
    app.extensions["suite_server.callback_keys"].clear()


def stored(suite: App) -> App:
    db.session().expire_all()
    return db.session().scalar(select(App).where(App.id == suite.id))


def test_pushes_no_key_decrypts_are_logged_and_shown_until_the_keys_agree(
    app, platform, suite, signed_in, caplog
):
    console_key = suite.aes_key
    rotate(signed_in, suite.app_id)
    keys_reach_every_process(app)
    # One rotation: the console's key is the previous one, still accepted.
    assert platform.control("push", app_id=suite.app_id, kind="ticket")["delivered"]
    rotate(signed_in, suite.app_id)
    keys_reach_every_process(app)
    assert console_key not in stored(suite).aes_keys()

    caplog.set_level(logging.INFO)
    refused = platform.control("push", app_id=suite.app_id, kind="ticket")
    assert not refused["delivered"] and refused["status"] == 400
    warnings = [
        r for r in caplog.records if r.levelno == logging.WARNING and ADVICE in r.getMessage()
    ]
    assert warnings and suite.app_id in warnings[0].getMessage()
    first = stored(suite).key_mismatch_since
    assert first is not None

    platform.control("push", app_id=suite.app_id, kind="ticket")
    row = stored(suite)
    assert row.key_mismatch_since == first and row.key_mismatch_at > first  # the same spell

    at_risk = signed_in.get("/admin/at-risk").get_data(as_text=True)
    assert "pushes refused: no key decrypts them, since" in at_risk
    assert f'href="/admin/apps/{suite.app_id}"' in at_risk
    assert first.strftime("%Y-%m-%d %H:%M:%S") in at_risk
    app_page = signed_in.get(f"/admin/apps/{suite.app_id}").get_data(as_text=True)
    assert 'id="key-mismatch"' in app_page

    # The admin types the console's key into the settings: the next ticket decrypts, and the
    # warning goes.
    post(
        signed_in,
        f"/admin/apps/{suite.app_id}",
        f"/admin/apps/{suite.app_id}/settings",
        name=suite.name,
        aes_key=console_key,
    )
    keys_reach_every_process(app)
    assert platform.control("push", app_id=suite.app_id, kind="ticket")["delivered"]
    at_risk = signed_in.get("/admin/at-risk").get_data(as_text=True)
    assert "no key decrypts them" not in at_risk
    assert 'id="key-mismatch"' not in signed_in.get(f"/admin/apps/{suite.app_id}").get_data(
        as_text=True
    )


def test_a_new_spell_of_refusals_after_a_ticket_decrypted_starts_a_new_since(app):
    from datetime import timedelta

    from suite_server.apps import key_mismatches, record_key_mismatch
    from suite_server.db import utcnow
    from suite_server.models import Ticket
    from tests import factories

    session = db.session()
    suite = factories.wecom_app(session, app_id="wwspells")
    session.commit()
    start = utcnow() - timedelta(hours=1)
    record_key_mismatch(session, suite.id, start)
    record_key_mismatch(session, suite.id, start + timedelta(minutes=10))
    [row] = key_mismatches(session)
    assert (row.app_id, row.since, row.last) == (
        "wwspells",
        start,
        start + timedelta(minutes=10),
    )
    # A ticket decrypts: the keys agree again, nothing is listed.
    session.add(
        Ticket(
            app_pk=suite.id,
            value="t",
            value_hash="h",
            pushed_at=start,
            received_at=start + timedelta(minutes=20),
        )
    )
    session.commit()
    assert key_mismatches(session) == []
    # Refused again later: a new spell, since then.
    record_key_mismatch(session, suite.id, start + timedelta(minutes=30))
    [row] = key_mismatches(session, suite.id)
    assert row.since == start + timedelta(minutes=30)
