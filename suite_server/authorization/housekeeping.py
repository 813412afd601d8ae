"""Pruning what installs leave behind: install states past their 20 minutes, pre-auth codes
past their lifetime and install links past theirs. Every anonymous `GET /install/<app_id>` writes
a state, so without this the table only grows. A code dedicated to one install (context.py) is
kept STATE_LIFETIME longer: a late Open push still finds its install's state through it.

The periodic job `installs.prune` (jobs/schedule.py) deletes them in batches of BATCH rows, each
its own short transaction, so no lock is held long and a killed run leaves only rows the next one
deletes. A run stops after MAX_BATCHES; a backlog larger than that is finished by the next runs.
An expired state is refused whether its row exists or not, so deleting it changes no answer.
"""

from __future__ import annotations

from sqlalchemy import delete, or_, select

from suite_server import db
from suite_server.authorization.flow import STATE_LIFETIME
from suite_server.db import utcnow
from suite_server.jobs.tasks import task
from suite_server.models import InstallLink, InstallState, PreAuthCode

BATCH = 500
MAX_BATCHES = 40


@task("installs.prune", queue="low")
def prune_installs() -> dict[str, int]:
    """Delete expired install states, pre-auth codes and install links; returns how many of
    each."""
    return {
        "install_states": _prune(InstallState),
        "pre_auth_codes": _prune(PreAuthCode),
        "install_links": _prune(InstallLink),
    }


def _prune(model: type[InstallState] | type[PreAuthCode] | type[InstallLink]) -> int:
    session = db.session()
    deleted = 0
    for _ in range(MAX_BATCHES):
        now = utcnow()
        expired = model.expires_at < now
        if model is PreAuthCode:
            late = PreAuthCode.expires_at < now - STATE_LIFETIME
            expired = expired & or_(PreAuthCode.dedicated.is_(False), late)
        batch = select(model.id).where(expired).order_by(model.id).limit(BATCH)
        result = session.execute(delete(model.__table__).where(model.id.in_(batch)))
        session.commit()
        deleted += result.rowcount
        if result.rowcount < BATCH:
            break
    return deleted
