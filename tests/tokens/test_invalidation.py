"""A refused app token is expired through the compare-and-set: only while it is still the stored
one. A token another process stored after the refused one was read survives."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from suite_server import db
from suite_server.authorization import pushes
from suite_server.db import utcnow
from suite_server.errors import UpstreamError
from suite_server.jobs import tasks
from suite_server.models import AppToken, InboundEvent
from tests import factories


def app_with_token(access_token: str):
    session = db.session()
    app = factories.wecom_app(session)
    now = utcnow()
    session.add(
        AppToken(
            app_pk=app.id,
            access_token=access_token,
            obtained_at=now,
            expires_at=now + timedelta(hours=2),
            refresh_at=now + timedelta(hours=1),
            version=1,
        )
    )
    session.commit()
    return app


def pending_push(app) -> int:
    event = InboundEvent(
        app_pk=app.id,
        tenant_id="wwcorp",
        channel="command",
        kind="change_auth",
        dedupe_key="change_auth:1",
        raw="",
        payload="<xml></xml>",
    )
    db.session().add(event)
    db.session().commit()
    return event.id


def app_token_row(app) -> AppToken:
    db.session().expire_all()
    return db.session().scalar(select(AppToken).where(AppToken.app_pk == app.id))


@pytest.mark.parametrize("refreshed_meanwhile", [False, True])
def test_a_refused_app_token_is_expired_only_while_it_is_stored(
    app, monkeypatch, refreshed_meanwhile
):
    owner = app_with_token("stale-token")
    event_id = pending_push(owner)
    used = []

    def refused(session, app, event, api, app_token):
        used.append(app_token)
        if refreshed_meanwhile:  # another process stores a new token, then ours is refused
            session.execute(
                update(AppToken.__table__)
                .where(AppToken.app_pk == app.id)
                .values(access_token="newer-token", version=AppToken.version + 1)
            )
            session.commit()
        raise UpstreamError("get_auth_info", 42001, "access_token expired", "token")

    monkeypatch.setattr(pushes, "process", refused)
    tasks.load()
    with pytest.raises(UpstreamError):  # retried by the runner
        tasks.get("events.process").fn(event_id)

    row = app_token_row(owner)
    assert used == ["stale-token"]
    if refreshed_meanwhile:
        assert row.access_token == "newer-token"
        assert row.expires_at is not None  # not wiped: still served, not refreshed again
        assert row.expires_at > utcnow() + timedelta(hours=1)
    else:
        assert row.access_token == "stale-token"
        assert row.expires_at is None or row.expires_at <= utcnow()  # the next caller refreshes
