"""What WeCom corps pay for: paid-app orders (应用付费, isv-capabilities §8), one row per order a
corp placed for a suite as `service/get_order` last answered it; and interface licenses (接口许可,
§4): the provider's license orders, the members holding an account, each tenant's license state."""

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
    told: Mapped[list[str] | None] = mapped_column(JSON)  # lifecycle kinds told of it, once each
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class LicenseOrder(Base):
    """An interface-license order (接口许可, isv-capabilities §4) the provider placed for a corp, as
    `license/get_order` last answered it: kept per provider account, since licenses are bought
    by the provider for a corp, whichever of its apps the corp installed."""

    __tablename__ = "license_orders"
    __table_args__ = (
        UniqueConstraint("provider_pk", "order_id"),
        Index("ix_license_orders_provider_pk_corpid", "provider_pk", "corpid", "create_time"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_pk: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    order_id: Mapped[str] = mapped_column(String(64))
    corpid: Mapped[str] = mapped_column(String(64))
    # 1 buy, 2 renew (order_type); 0 unpaid, 1 paid, 2 cancelled, 3 expired unpaid, 4 refund
    # requested, 5 refunded, 6 refund refused (order_status)
    order_type: Mapped[int] = mapped_column(Integer, default=1)
    order_status: Mapped[int] = mapped_column(Integer, default=0)
    base_count: Mapped[int] = mapped_column(Integer, default=0)
    external_contact_count: Mapped[int] = mapped_column(Integer, default=0)
    months: Mapped[int] = mapped_column(Integer, default=0)
    days: Mapped[int] = mapped_column(Integer, default=0)
    price: Mapped[int] = mapped_column(Integer, default=0)  # in fen (cents)
    create_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pay_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    answer: Mapped[dict[str, Any]] = mapped_column(JSON)  # get_order's `order`
    told: Mapped[list[str] | None] = mapped_column(JSON)  # lifecycle kinds told of it, once each
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class LicenseAccount(Base):
    """A member of a corp holding an activated license account of the provider (1 basic, 2
    interop), as `list_actived_account` or an `auto_activate` push last told it."""

    __tablename__ = "license_accounts"
    __table_args__ = (UniqueConstraint("provider_pk", "corpid", "userid", "type"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_pk: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    corpid: Mapped[str] = mapped_column(String(64))
    userid: Mapped[str] = mapped_column(String(64))
    type: Mapped[int] = mapped_column(Integer, default=1)
    active_code: Mapped[str | None] = mapped_column(String(64))  # when a push named it
    active_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expire_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class TenantLicense(Base):
    """A WeCom tenant's license state for its app, from `license/get_app_license_info` (the
    check, the 90-day trial), what members the platform refused, and its accounts' count."""

    __tablename__ = "tenant_licenses"
    __table_args__ = (Index("ix_tenant_licenses_trial_end", "trial_end"),)

    tenant_pk: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    license_status: Mapped[int | None] = mapped_column(Integer)  # 1 checked, 0 not (yet)
    trial_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    trial_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    check_time: Mapped[datetime | None] = mapped_column(UTCDateTime)  # license_check_time
    active_accounts: Mapped[int] = mapped_column(Integer, default=0)  # basic, not expired
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    check_error: Mapped[str | None] = mapped_column(String(300))
    # unlicensed_notify: a member opened the app without a license after the trial.
    unlicensed_count: Mapped[int] = mapped_column(Integer, default=0)
    unlicensed_userid: Mapped[str | None] = mapped_column(String(64))
    unlicensed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
