"""What the platforms answered to proxied calls: a Prometheus counter per app and errcode
(ops/metrics.py PROXY_CALLS, bounded labels), and the `proxy_errcodes` rows per app, tenant
("" for app and provider calls), path and errcode, counted with the last errmsg and when it was
last seen, for failures only (an errcode other than 0). The admin's tenant page shows a
tenant's rows.

Bookkeeping only: a write that fails (a busy or unreachable database) is logged and dropped,
never the proxied call's failure.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from suite_server.db import utcnow
from suite_server.models import ProxyErrcode
from suite_server.ops.metrics import PROXY_CALLS

log = logging.getLogger(__name__)

MAX_ERRCODE = 10**7  # platform errcodes are at most 6 digits; a larger one is labelled "other"
MAX_ERRMSG = 300
SHOWN = 100  # rows on a tenant's admin page


def label(errcode: int | None) -> str:
    """The counter's errcode label: the number, "none" for an answer that is not a JSON object."""
    if errcode is None:
        return "none"
    return str(errcode) if abs(errcode) < MAX_ERRCODE else "other"


def record(
    session: Callable[[], Session],
    app_pk: int,
    app_id: str,
    tenant_id: str,
    path: str,
    answers: list[tuple[int | None, str]],
) -> None:
    """Count each (errcode, errmsg) the platform answered to one proxied call; failures also
    in proxy_errcodes, with the session `session()` gives (asked for only then). Commits; never
    raises for the database."""
    failures = []
    for errcode, errmsg in answers:
        PROXY_CALLS.labels(app_id=app_id, errcode=label(errcode)).inc()
        if errcode not in (None, 0) and abs(errcode) < MAX_ERRCODE:
            failures.append((errcode, errmsg))
    if not failures:
        return
    session = session()
    statement = _upsert(session.get_bind().dialect.name)
    try:
        for errcode, errmsg in failures:
            session.execute(
                statement,
                {
                    "app_pk": app_pk,
                    "tenant_id": tenant_id,
                    "path": path,
                    "errcode": errcode,
                    "errmsg": errmsg[:MAX_ERRMSG].replace("\x00", ""),
                    "at": utcnow(),
                },
            )
        session.commit()
    except SQLAlchemyError as exc:
        session.rollback()
        log.warning("proxy errcode %s of app %s not recorded (%s)", errcode, app_id, _name(exc))


def of_tenant(session: Session, app_pk: int, tenant_id: str) -> list[dict[str, Any]]:
    """A tenant's rows, the latest first: path, errcode, count, last_at, last_errmsg."""
    rows = session.execute(
        select(
            ProxyErrcode.path,
            ProxyErrcode.errcode,
            ProxyErrcode.count,
            ProxyErrcode.last_at,
            ProxyErrcode.last_errmsg,
        )
        .where(ProxyErrcode.app_pk == app_pk, ProxyErrcode.tenant_id == tenant_id)
        .order_by(ProxyErrcode.last_at.desc(), ProxyErrcode.id.desc())
        .limit(SHOWN)
    )
    return [dict(row._mapping) for row in rows]


@functools.cache
def _upsert(dialect: str):
    # Built once: INSERT, or count + 1 with the new errmsg and time when the row exists; one
    # statement, safe against concurrent writers on both databases.
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    table = ProxyErrcode.__table__
    statement = insert(table).values(
        app_pk=bindparam("app_pk"),
        tenant_id=bindparam("tenant_id"),
        path=bindparam("path"),
        errcode=bindparam("errcode"),
        count=1,
        last_errmsg=bindparam("errmsg"),
        last_at=bindparam("at", type_=table.c.last_at.type),
    )
    return statement.on_conflict_do_update(
        index_elements=[table.c.app_pk, table.c.tenant_id, table.c.path, table.c.errcode],
        set_={
            "count": table.c.count + 1,
            "last_errmsg": statement.excluded.last_errmsg,
            "last_at": statement.excluded.last_at,
        },
    )


def _name(exc: Exception) -> str:
    return type(exc).__name__
