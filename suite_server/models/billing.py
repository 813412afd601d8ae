"""Paid-app orders (WeCom 应用付费, isv-capabilities §8): one row per order a corp placed for a
suite, as `service/get_order` last answered it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from suite_server.db import Base, UTCDateTime, utcnow


class AppOrder(Base):
    __tablename__ = "app_orders"
    __table_args__ = (
        UniqueConstraint("app_pk", "order_id"),
        Index("ix_app_orders_app_pk_order_time", "app_pk", "order_time"),
        Index("ix_app_orders_app_pk_tenant_id", "app_pk", "tenant_id", "order_time"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    app_pk: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    order_id: Mapped[str] = mapped_column(String(64))
    # The paying corp (PaidCorpId / paid_corpid): maybe not a tenant here (yet).
    tenant_id: Mapped[str] = mapped_column(String(64))
    # 0 unpaid, 1 paid, 2 closed (changed), 5 refunded, ... ; 0 new, 1 seats, 2 renewal, 3 edition
    order_status: Mapped[int] = mapped_column(Integer)
    order_type: Mapped[int] = mapped_column(Integer, default=0)
    edition_id: Mapped[str | None] = mapped_column(String(64))
    edition_name: Mapped[str | None] = mapped_column(String(200))
    price: Mapped[int] = mapped_column(Integer, default=0)  # in fen (cents)
    user_count: Mapped[int] = mapped_column(Integer, default=0)
    order_period: Mapped[int] = mapped_column(Integer, default=0)  # days
    order_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paid_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    begin_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    answer: Mapped[dict[str, Any]] = mapped_column(JSON)  # get_order's whole answer
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
