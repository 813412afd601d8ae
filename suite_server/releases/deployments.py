"""Deployments (docs/releases.md): one template version shipped to chosen mini programs of a
component, each target moved on by steps.py. Starting one, reading its progress, retrying its
failed targets and stopping it."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from suite_server.db import iso, utcnow
from suite_server.errors import ValidationError
from suite_server.models import App, Deployment, DeploymentTarget, Tenant
from suite_server.releases import steps

MAX_TARGETS = 5000
SPACING = 0.2  # seconds between the first steps of two targets: a gentle start
TEXT_LIMIT = {"template_id": 64, "user_version": 64, "user_desc": 2000}


def start(session: Session, app: App, body: dict[str, Any], actor: str) -> Deployment:
    """Check the request, choose the targets, store the deployment and enqueue each target's
    first step. ValidationError with one line for anything wrong."""
    if app.platform != "open":
        raise ValidationError("deployments ship mini-program code: this app is not a component")
    known = {"template_id", "user_version", "user_desc", "ext_json", "targets", "gray_percentage"}
    unknown = sorted(set(body) - known)
    if unknown:
        raise ValidationError(f"unknown field {unknown[0][:40]!r}")
    values = {}
    for name, limit in TEXT_LIMIT.items():
        value = body.get(name, "" if name == "user_desc" else None)
        if value is not None and isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # template ids are numbers on the platform
        if not isinstance(value, str) or len(value) > limit or (name != "user_desc" and not value):
            raise ValidationError(f"{name} must be a text of up to {limit} characters")
        values[name] = value
    ext = body.get("ext_json", {})
    if isinstance(ext, dict):
        ext = json.dumps(ext, ensure_ascii=False, separators=(",", ":"))
    if not isinstance(ext, str) or not _is_object(ext):
        raise ValidationError("ext_json must be a JSON object (or its text)")
    gray = body.get("gray_percentage")
    if gray is not None and (type(gray) is not int or not 1 <= gray <= 100):
        raise ValidationError("gray_percentage must be a whole number from 1 to 100, or null")
    tenants = choose(session, app, body.get("targets", "all"))
    if not tenants:
        raise ValidationError("no active mini program matches the targets")
    deployment = Deployment(
        app_pk=app.id, ext_json=ext, gray_percentage=gray, created_by=actor[:200], **values
    )
    session.add(deployment)
    session.flush()
    for tenant in tenants:
        session.add(
            DeploymentTarget(
                deployment_pk=deployment.id, tenant_pk=tenant.id, tenant_id=tenant.tenant_id
            )
        )
    session.commit()
    for number, target_pk in enumerate(_target_pks(session, deployment.id)):
        steps.enqueue(target_pk, "commit", delay=number * SPACING)
    return deployment


def choose(session: Session, app: App, targets: Any) -> list[Tenant]:
    """The active mini programs of the component `targets` names: "all", a list of appids, or
    {"q": text} (an appid prefix or a part of the name)."""
    query = select(Tenant).where(Tenant.app_pk == app.id, Tenant.status == "active")
    if targets == "all":
        pass
    elif isinstance(targets, list) and targets and all(isinstance(t, str) for t in targets):
        if len(targets) > MAX_TARGETS:
            raise ValidationError(f"at most {MAX_TARGETS} targets")
        query = query.where(Tenant.tenant_id.in_(targets))
    elif isinstance(targets, dict) and set(targets) == {"q"} and isinstance(targets["q"], str):
        query = query.where(Tenant.matching(targets["q"][:100]))
    else:
        raise ValidationError('targets must be "all", a list of appids, or {"q": "..."}')
    found = session.scalars(query.order_by(Tenant.id).limit(MAX_TARGETS + 1)).all()
    if len(found) > MAX_TARGETS:
        raise ValidationError(f"more than {MAX_TARGETS} targets: narrow them")
    if isinstance(targets, list):
        missing = sorted(set(targets) - {t.tenant_id for t in found})
        if missing:
            raise ValidationError(f"not an active account of this component: {missing[0][:64]}")
    return [t for t in found if _mini_program(t)]


def _mini_program(tenant: Tenant) -> bool:
    info = (tenant.auth_info or {}).get("authorizer_info") or {}
    return "MiniProgramInfo" in info


def _is_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


def _target_pks(session: Session, deployment_pk: int) -> list[int]:
    return list(
        session.scalars(
            select(DeploymentTarget.id)
            .where(DeploymentTarget.deployment_pk == deployment_pk)
            .order_by(DeploymentTarget.id)
        )
    )


def retry(session: Session, deployment: Deployment) -> int:
    """Put the failed targets back at the step they failed at and run them (an audit rejected:
    submitted again); a stopped or finished deployment runs again. Returns how many."""
    failed = session.scalars(
        select(DeploymentTarget).where(
            DeploymentTarget.deployment_pk == deployment.id, DeploymentTarget.step == "failed"
        )
    ).all()
    for target in failed:
        target.step, target.failed_step = target.failed_step or "commit", None
        target.error, target.attempts, target.claimed_at = None, 0, None
    if failed or deployment.status == "stopped":
        deployment.status, deployment.finished_at = "running", None
    session.commit()
    for target in failed:
        steps.enqueue(target.id, target.step)
    if deployment.status == "running":
        for target_pk, step_name in _runnable(session, deployment.id):
            steps.enqueue(target_pk, step_name)
    return len(failed)


def _runnable(session: Session, deployment_pk: int) -> list[tuple[int, str]]:
    return list(
        session.execute(
            select(DeploymentTarget.id, DeploymentTarget.step).where(
                DeploymentTarget.deployment_pk == deployment_pk,
                DeploymentTarget.step.in_(steps.RUN),
            )
        )
    )


def revert(session: Session, deployment: Deployment) -> int:
    """Take the released targets back to the version online before (`revertcoderelease`, or
    `revertgrayrelease` for a gray deployment); returns how many. The deployment runs again
    until they are reverted."""
    released = session.scalars(
        select(DeploymentTarget).where(
            DeploymentTarget.deployment_pk == deployment.id, DeploymentTarget.step == "released"
        )
    ).all()
    for target in released:
        target.step, target.attempts, target.claimed_at, target.error = "revert", 0, None, None
    if released:
        deployment.status, deployment.finished_at = "running", None
    session.commit()
    for target in released:
        steps.enqueue(target.id, "revert")
    return len(released)


def stop(session: Session, deployment: Deployment) -> None:
    """No further step starts; a step running now ends, and the target stays where it got."""
    session.execute(
        update(Deployment.__table__)
        .where(Deployment.id == deployment.id, Deployment.status == "running")
        .values(status="stopped", finished_at=utcnow())
    )
    session.commit()
    session.refresh(deployment)


def progress(session: Session, deployment: Deployment) -> dict[str, int]:
    rows = session.execute(
        select(DeploymentTarget.step).where(DeploymentTarget.deployment_pk == deployment.id)
    ).scalars()
    return dict(Counter(rows))


def recent(session: Session, app: App, limit: int = 20) -> list[Deployment]:
    return list(
        session.scalars(
            select(Deployment)
            .where(Deployment.app_pk == app.id)
            .order_by(Deployment.id.desc())
            .limit(limit)
        )
    )


def targets_of(session: Session, deployment: Deployment) -> list[DeploymentTarget]:
    return list(
        session.scalars(
            select(DeploymentTarget)
            .where(DeploymentTarget.deployment_pk == deployment.id)
            .order_by(DeploymentTarget.id)
        )
    )


def as_json(session: Session, deployment: Deployment, with_targets: bool = False) -> dict:
    body: dict[str, Any] = {
        "id": deployment.id,
        "template_id": deployment.template_id,
        "user_version": deployment.user_version,
        "user_desc": deployment.user_desc,
        "gray_percentage": deployment.gray_percentage,
        "status": deployment.status,
        "created_by": deployment.created_by,
        "created_at": iso(deployment.created_at),
        "finished_at": iso(deployment.finished_at),
        "progress": progress(session, deployment),
    }
    if with_targets:
        body["targets"] = [
            {
                "tenant_id": t.tenant_id,
                "step": t.step,
                "failed_step": t.failed_step,
                "auditid": t.auditid,
                "audit_status": t.audit_status,
                "reason": t.reason,
                "error": t.error,
                "attempts": t.attempts,
                "log": t.log or [],
                "updated_at": iso(t.updated_at),
            }
            for t in targets_of(session, deployment)
        ]
    return body
