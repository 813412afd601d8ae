"""Mini-program code releases across many authorizers (isv-capabilities §12): a deployment of one
template version to chosen accounts, and each account's progress through its steps."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from suite_server.db import Base, UTCDateTime, utcnow

# A deployment: running until every target is released or failed, or stopped by a person.
DEPLOYMENT_STATUSES = ("running", "finished", "stopped")
# A target's step: commit -> submit -> auditing (waiting for the platform) -> release ->
# released; or failed (at failed_step, with its error); a released one reverted: revert ->
# reverted.
STEPS = ("commit", "submit", "auditing", "release", "released", "failed", "revert", "reverted")


class Deployment(Base):
    __tablename__ = "deployments"
    __table_args__ = (Index("ix_deployments_app_pk_created_at", "app_pk", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    app_pk: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    template_id: Mapped[str] = mapped_column(String(64))
    user_version: Mapped[str] = mapped_column(String(64))
    user_desc: Mapped[str] = mapped_column(Text, default="")
    ext_json: Mapped[str] = mapped_column(Text, default="{}")  # as /wxa/commit takes it
    gray_percentage: Mapped[int | None] = mapped_column(Integer)  # None: a full release
    status: Mapped[str] = mapped_column(String(16), default="running")
    created_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class DeploymentTarget(Base):
    __tablename__ = "deployment_targets"
    __table_args__ = (
        UniqueConstraint("deployment_pk", "tenant_pk"),
        Index("ix_deployment_targets_tenant_pk_step", "tenant_pk", "step"),
        Index("ix_deployment_targets_step_updated_at", "step", "updated_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_pk: Mapped[int] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"))
    tenant_pk: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    tenant_id: Mapped[str] = mapped_column(String(64))
    step: Mapped[str] = mapped_column(String(16), default="commit")  # STEPS
    failed_step: Mapped[str | None] = mapped_column(String(16))
    # A job is doing `step` since then; `uncertain` while its call's outcome is not recorded (a
    # crash there makes the next run ask the platform before calling again).
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    uncertain: Mapped[bool] = mapped_column(default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    auditid: Mapped[str | None] = mapped_column(String(64))
    audit_status: Mapped[int | None] = mapped_column(Integer)  # 0 passed, 1 rejected, 2, 3, 4
    reason: Mapped[str | None] = mapped_column(Text)  # the audit's reason (rejected, delayed)
    error: Mapped[str | None] = mapped_column(Text)  # the last step's error
    log: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # each step's outcome
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
