"""Activity by the hour, for the admin's charts: pushes received, tokens refreshed, refresh
failures, webhook deliveries and delivery failures, per app (tenant_id "") and per tenant.

The raw rows are the truth (inbound_events, token_refreshes, webhook_attempts), but a month of
them is too much to count on every page view and they will be pruned, so `fold` (the periodic
job `activity.fold`, every minute) counts them into activity_counts, one row per app or tenant,
metric and UTC hour, and the pages read only that (`series`):

- each run recounts the current hour from the raw rows, and the previous one too during the
  first LATE minutes of the hour, and writes the counts that differ from those stored, in one
  transaction: running it twice changes nothing, a crash leaves the old counts, and a row
  committed late (up to LATE after its hour ended) is still counted. Writing only what changed
  keeps a run's writes to the tenants active since the last one: rewriting every count of two
  hours each minute took 10 s a run after 20 minutes at 100,000 tenants (bench/tokens.py
  --steady), and grew with the hour;
- hours older than that are never recounted, so pruning raw rows leaves the charts as they are;
- on an empty activity_counts (the first run after the upgrade) it first counts the last
  BACKFILL_DAYS day by day, in the same transaction;
- it prunes token_refreshes and activity_counts older than KEEP, a few batches per run.

Metrics are disjoint: `refreshes` are refreshes that worked, `refresh_failures` those that did
not; `deliveries` are POSTs a receiver answered 2xx, `delivery_failures` every other attempt
(each retry is one more). Pushes are stored pushes: a duplicate the platform resent is not one.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from sqlalchemy import and_, bindparam, case, delete, func, insert, literal_column, select, update
from sqlalchemy.orm import Session

from suite_server.db import utcnow
from suite_server.models import (
    ActivityCount,
    InboundEvent,
    TokenRefresh,
    WebhookAttempt,
    WebhookDelivery,
)
from suite_server.models.activity import METRICS

HOUR, DAY = timedelta(hours=1), timedelta(days=1)
LATE = timedelta(minutes=15)  # the previous hour is recounted for this long into the next
BACKFILL_DAYS = 30
KEEP = timedelta(days=35)  # the longest chart is 30 days
PRUNE_BATCH, PRUNE_BATCHES = 1000, 10  # token_refreshes rows per batch, batches per run
PRUNE_HOURS = 6  # hours of old activity_counts deleted per run
SPANS = {"day": 24, "month": 30}  # buckets per chart: hours, or days in the admin's time zone


def hour_of(moment: datetime) -> datetime:
    """The start of the UTC hour `moment` falls in."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


# -- folding the raw rows into hourly counts -----------------------------------------------------


def fold(session: Session, now: datetime | None = None) -> dict[str, int]:
    """Recount the current hour, and the previous one during the first LATE of this one (after
    a backfill when there are no counts at all), commit, then prune. Returns how many count rows
    were written and rows pruned."""
    now = now or utcnow()
    current = hour_of(now)
    start = current - HOUR if now - current < LATE else current
    written = 0
    if session.scalar(select(ActivityCount.hour).limit(1)) is None:
        day = current - BACKFILL_DAYS * DAY
        while day < start:
            written += _replace(session, day, min(day + DAY, start))
            day += DAY
    written += _replace(session, start, current + HOUR)
    session.commit()
    return {"written": written, **prune(session, now)}


def _replace(session: Session, start: datetime, end: datetime) -> int:
    """Make the counts of the hours in [start, end) those of a recount of the raw rows, writing
    only the rows that differ. Returns how many were written."""
    counts = count(session, start, end)
    c = ActivityCount
    stored = {
        (a, t, m, _as_hour(h)): n
        for a, t, m, h, n in session.execute(
            select(c.app_pk, c.tenant_id, c.metric, c.hour, c.count).where(
                c.hour >= start, c.hour < end
            )
        )
    }
    differ = {k: n for k, n in counts.items() if stored.get(k) != n}
    gone = stored.keys() - counts.keys()
    key = and_(
        c.app_pk == bindparam("a"),
        c.tenant_id == bindparam("t"),
        c.metric == bindparam("m"),
        c.hour == bindparam("h"),
    )
    if gone:
        rows = [dict(zip("atmh", k, strict=True)) for k in gone]
        session.connection().execute(delete(c).where(key), rows)  # Core: one statement, many rows
    changed = [
        {**dict(zip("atmh", k, strict=True)), "n": n} for k, n in differ.items() if k in stored
    ]
    if changed:
        session.connection().execute(update(c).where(key).values(count=bindparam("n")), changed)
    columns = ("app_pk", "tenant_id", "metric", "hour")
    new = [
        {**dict(zip(columns, k, strict=True)), "count": n}
        for k, n in differ.items()
        if k not in stored
    ]
    if new:
        session.execute(insert(c), new)
    return len(differ) + len(gone)


def count(session: Session, start: datetime, end: datetime) -> Counter:
    """The raw rows of [start, end), counted by (app_pk, tenant_id, metric, hour): each under its
    tenant (when it has one) and under its app's total (tenant_id "")."""
    counts: Counter = Counter()

    def add(app_pk, tenant_id, metric, hour, n) -> None:
        hour = _as_hour(hour)
        counts[(app_pk, "", metric, hour)] += n
        if tenant_id:
            counts[(app_pk, tenant_id, metric, hour)] += n

    hour = _hour(session, InboundEvent.received_at)
    pushes = (
        select(InboundEvent.app_pk, InboundEvent.tenant_id, hour, func.count())
        .where(InboundEvent.received_at >= start, InboundEvent.received_at < end)
        .group_by(InboundEvent.app_pk, InboundEvent.tenant_id, hour)
    )
    for app_pk, tenant_id, at, n in session.execute(pushes):
        add(app_pk, tenant_id, "pushes", at, n)

    hour = _hour(session, TokenRefresh.at)
    refreshes = (
        select(TokenRefresh.app_pk, TokenRefresh.tenant_id, TokenRefresh.ok, hour, func.count())
        .where(TokenRefresh.at >= start, TokenRefresh.at < end)
        .group_by(TokenRefresh.app_pk, TokenRefresh.tenant_id, TokenRefresh.ok, hour)
    )
    for app_pk, tenant_id, ok, at, n in session.execute(refreshes):
        add(app_pk, tenant_id, "refreshes" if ok else "refresh_failures", at, n)

    hour = _hour(session, WebhookAttempt.attempted_at)
    attempts = (
        select(
            WebhookDelivery.app_pk,
            WebhookDelivery.tenant_id,
            WebhookAttempt.status_code,
            hour,
            func.count(),
        )
        .join(WebhookDelivery, WebhookDelivery.id == WebhookAttempt.delivery_pk)
        .where(WebhookAttempt.attempted_at >= start, WebhookAttempt.attempted_at < end)
        .group_by(
            WebhookDelivery.app_pk, WebhookDelivery.tenant_id, WebhookAttempt.status_code, hour
        )
    )
    for app_pk, tenant_id, status, at, n in session.execute(attempts):
        ok = status is not None and 200 <= status < 300  # as delivery.py judges an attempt
        add(app_pk, tenant_id, "deliveries" if ok else "delivery_failures", at, n)
    return counts


def _hour(session: Session, column):
    """The start of the UTC hour of `column`, in SQL. No bound parameter in it, so PostgreSQL
    sees the same expression in the SELECT and in the GROUP BY."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date_trunc(literal_column("'hour'"), column)
    return func.strftime(literal_column("'%Y-%m-%d %H:00:00'"), column)


def _as_hour(value) -> datetime:
    """An hour as the database returns it (a naive UTC datetime, or SQLite's text)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def prune(session: Session, now: datetime) -> dict[str, int]:
    """Delete token_refreshes and activity_counts older than KEEP, in short transactions and
    a bounded amount per run: a backlog is finished by the next runs."""
    cutoff = now - KEEP
    refreshes = 0
    for _ in range(PRUNE_BATCHES):
        ids = session.scalars(
            select(TokenRefresh.id).where(TokenRefresh.at < cutoff).limit(PRUNE_BATCH)
        ).all()
        if ids:
            session.execute(delete(TokenRefresh).where(TokenRefresh.id.in_(ids)))
        session.commit()
        refreshes += len(ids)
        if len(ids) < PRUNE_BATCH:
            break
    counts = 0
    oldest = session.scalar(select(func.min(ActivityCount.hour)))
    if oldest is not None and oldest < cutoff:
        until = min(cutoff, oldest + PRUNE_HOURS * HOUR)
        counts = session.execute(delete(ActivityCount).where(ActivityCount.hour < until)).rowcount
        session.commit()
    return {"pruned_refreshes": refreshes, "pruned_counts": counts}


# -- reading them -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Series:
    span: str  # "day": one bucket an hour; "month": one a day in the zone given
    starts: list[datetime]  # each bucket's start, oldest first (aware, in the zone given)
    counts: dict[str, list[int]]  # by metric, one number per bucket

    def total(self, metric: str) -> int:
        return sum(self.counts[metric])


def series(
    session: Session,
    app_pk: int | None = None,
    tenant_id: str = "",
    span: str = "day",
    now: datetime | None = None,
    zone: tzinfo = UTC,
) -> Series:
    """Every metric per bucket, zeros filled: of all apps (app_pk None), one app (tenant_id "")
    or one tenant, over the last 24 hours (the current one last) or the last 30 days (today in
    `zone` last). Reads activity_counts only, at most one row per bucket and metric."""
    now = (now or utcnow()).astimezone(zone)
    if span == "day":
        first = hour_of(now) - (SPANS["day"] - 1) * HOUR
        starts = [(first + i * HOUR).astimezone(zone) for i in range(SPANS["day"])]
        end = starts[-1] + HOUR
    elif span == "month":
        today = now.replace(hour=0, minute=0, second=0, microsecond=0)
        # Wall-clock days (aware arithmetic keeps the wall time): a day of a DST change is 23
        # or 25 hours long, as it should be.
        starts = [today - (SPANS["month"] - 1 - i) * DAY for i in range(SPANS["month"])]
        end = today + DAY
    else:
        raise ValueError(f"span must be one of {', '.join(SPANS)}, not {span!r}")
    # Hour rows to buckets in SQL, so the answer is buckets x metrics rows at most. A zone a
    # half hour off UTC puts each hour in the day it starts in.
    bucket = case(
        *[(ActivityCount.hour >= start, i) for i, start in reversed(list(enumerate(starts)))],
        else_=-1,
    ).label("bucket")
    rows = select(ActivityCount.metric, bucket, ActivityCount.count).where(
        ActivityCount.tenant_id == tenant_id,
        ActivityCount.hour >= starts[0],
        ActivityCount.hour < end,
    )
    if app_pk is not None:
        rows = rows.where(ActivityCount.app_pk == app_pk)
    rows = rows.subquery()
    counts = {metric: [0] * len(starts) for metric in METRICS}
    for metric, i, n in session.execute(
        select(rows.c.metric, rows.c.bucket, func.sum(rows.c.count)).group_by(
            rows.c.metric, rows.c.bucket
        )
    ):
        if metric in counts and 0 <= i < len(starts):
            counts[metric][i] = int(n)
    return Series(span, starts, counts)


def recent_refreshes(
    session: Session, app_pk: int, tenant_id: str, limit: int = 10
) -> list[TokenRefresh]:
    """A tenant's (or, with tenant_id "", the app token's) latest refreshes, newest first."""
    return list(
        session.scalars(
            select(TokenRefresh)
            .where(TokenRefresh.app_pk == app_pk, TokenRefresh.tenant_id == tenant_id)
            .order_by(TokenRefresh.at.desc(), TokenRefresh.id.desc())
            .limit(limit)
        )
    )
