"""What the admin's charts are drawn from: a history of token refreshes (nothing else keeps one),
and hourly counts of every kind of activity, folded from the raw tables (ops/activity.py) so the
charts cost a few rows to read and outlive the raw rows when those are pruned."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from suite_server.db import Base, UTCDateTime, utcnow

BIG_ID = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements INTEGER only
METRICS = ("pushes", "refreshes", "refresh_failures", "deliveries", "delivery_failures")


class TokenRefresh(Base):
    """One refresh of an app token or a tenant token, as it ended: appended by the token engine
    in the transaction that records the outcome (tokens/store.py). No token, no secret: only
    whether it worked and, when not, the platform's errcode and a short reason."""

    __tablename__ = "token_refreshes"
    __table_args__ = (
        # A tenant's page lists its latest refreshes; the fold reads a time range.
        Index("ix_token_refreshes_app_pk_tenant_id_at", "app_pk", "tenant_id", "at"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    app_pk: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    tenant_id: Mapped[str] = mapped_column(String(64), default="")  # "": the app's own token
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    ok: Mapped[bool] = mapped_column()
    errcode: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)  # at most ERROR_LENGTH characters


class ActivityCount(Base):
    """How many of `metric` an app (tenant_id "") or one of its tenants had in one UTC hour."""

    __tablename__ = "activity_counts"

    app_pk: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    metric: Mapped[str] = mapped_column(String(24), primary_key=True)  # METRICS
    hour: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True, index=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
