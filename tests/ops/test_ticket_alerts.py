"""The warning that an app's ticket pushes are failing: for an app whose tickets stopped, or a new
one that has had none for 20 minutes; never for an app registered a minute ago."""

from __future__ import annotations

import hashlib
import logging
import socket
from datetime import timedelta

from sqlalchemy import update

from suite_server import db
from suite_server.db import utcnow
from suite_server.models import App, Ticket
from suite_server.tokens import service
from tests import factories


def registered(app_id: str, minutes_ago: float, ticket_minutes_ago: float | None = None) -> App:
    session = db.session()
    app = factories.wecom_app(session, app_id=app_id)
    now = utcnow()
    session.execute(
        update(App.__table__)
        .where(App.id == app.id)
        .values(created_at=now - timedelta(minutes=minutes_ago))
    )
    if ticket_minutes_ago is not None:
        at = now - timedelta(minutes=ticket_minutes_ago)
        value = f"ticket-of-{app_id}"
        session.add(
            Ticket(
                app_pk=app.id,
                value=value,
                value_hash=hashlib.sha256(value.encode()).hexdigest(),
                pushed_at=at,
                received_at=at,
            )
        )
    session.commit()
    return app


def test_no_ticket_warning_for_an_app_registered_just_now(app, caplog):
    with socket.socket() as sock:  # the refreshes the sweep starts go nowhere
        sock.bind(("127.0.0.1", 0))
        app.config["WECOM_API_BASE"] = f"http://127.0.0.1:{sock.getsockname()[1]}"
    registered("wwjustadded", minutes_ago=0.5)
    registered("wwneverpushed", minutes_ago=21)
    registered("wwstopped", minutes_ago=600, ticket_minutes_ago=21)
    registered("wwfine", minutes_ago=600, ticket_minutes_ago=2)
    registered("wwnewandfine", minutes_ago=1, ticket_minutes_ago=0.5)
    caplog.set_level(logging.WARNING)

    counts = service.sweep()

    warned = sorted(
        r.getMessage().split(":")[0]
        for r in caplog.records
        if "no ticket received" in r.getMessage()
    )
    assert warned == ["app wwneverpushed", "app wwstopped"]
    assert counts["stale_tickets"] == 2
