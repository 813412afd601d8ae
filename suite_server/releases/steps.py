"""Moving each target of a deployment through its steps (docs/releases.md), one RQ job a step:

    commit -> submit -> auditing -> release -> released        (or failed, at a step)

- `commit`: `/wxa/commit` with the deployment's template, version and ext_json.
- `submit`: `/wxa/queryquota` first (no audit left this month: wait QUOTA_WAIT and ask again),
  then `/wxa/submit_audit`; the target waits in `auditing` for the platform's verdict.
- `auditing`: no job. The `weapp_audit_success` / `_fail` / `_delay` event on the account's
  message URL moves it (`on_audit`, called when the push is stored); an audit waiting longer than
  POLL_AFTER is asked for (`/wxa/get_auditstatus`) by the sweep, in case its push was lost.
- `release`: `/wxa/release`, or `/wxa/grayrelease` for a gray deployment.

No step is done twice. A job claims its target's step with a compare-and-set and marks it
`uncertain` until the call's outcome is committed; a job that finds the step uncertain (its
predecessor died after calling, before recording) asks the platform first whether the step took
(`getversioninfo` for commit and release, `get_latest_auditstatus` for submit) and records it
instead of calling again. The sweep (every minute) enqueues targets whose job was lost. Upstream
trouble that may pass is retried with backoff; anything else fails the target with its error,
which a person may retry.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from suite_server import db
from suite_server.db import utcnow
from suite_server.errors import UpstreamError
from suite_server.jobs import runner
from suite_server.jobs.tasks import Retry, task
from suite_server.models import App, Deployment, DeploymentTarget, Tenant
from suite_server.tokens.service import TokenUnavailable, serve_tenant_token
from suite_server.upstream import api_for

log = logging.getLogger(__name__)

RUN = ("commit", "submit", "release", "revert")  # the steps a job does
NEXT = {"commit": "submit", "submit": "auditing", "release": "released", "revert": "reverted"}
DONE = ("released", "failed", "reverted")  # a target there does not move any more
LEASE = timedelta(minutes=2)  # a claim older than this belongs to a dead job
LOST_AFTER = timedelta(minutes=2)  # a runnable target untouched this long lost its job
POLL_AFTER = timedelta(minutes=30)  # an audit this quiet is asked for
QUOTA_WAIT = 3600.0  # seconds to wait when the month's audits are used up
RETRIES = 8
SWEEP_BATCH = 500
AUDIT_EVENTS = {
    "event:weapp_audit_success": 0,
    "event:weapp_audit_fail": 1,
    "event:weapp_audit_delay": 4,
}


def enqueue(target_pk: int, step_name: str, delay: float = 0) -> None:
    """The job of one target's step; its id names both, so the job doing a step can enqueue the
    next one."""
    try:
        job_id = f"release:{target_pk}:{step_name}"
        runner.enqueue("releases.step", target_pk, delay=delay, job_id=job_id, retries=RETRIES)
    except Exception:
        log.exception("target %s: enqueue failed; the sweep will retry it", target_pk)


def _failed(name: str, args: list, kwargs: dict, exc: BaseException) -> None:
    """on_failure: retries are spent."""
    session = db.session()
    target = session.get(DeploymentTarget, args[0])
    if target is not None and target.step in RUN:
        _fail(target, target.step, f"{type(exc).__name__}: {exc}")
        session.commit()


@task("releases.step", on_failure=_failed)
def step(target_pk: int) -> str | None:
    """Do the target's current step once; returns the step it moved to (None: nothing to do)."""
    session = db.session()
    target = session.get(DeploymentTarget, target_pk)
    deployment = session.get(Deployment, target.deployment_pk) if target else None
    if target is None or target.step not in RUN or deployment.status != "running":
        return None
    doing, probe, now = target.step, target.uncertain, utcnow()
    claimed = session.execute(
        update(DeploymentTarget.__table__)
        .where(
            DeploymentTarget.id == target_pk,
            DeploymentTarget.step == doing,
            DeploymentTarget.uncertain == probe,
            or_(DeploymentTarget.claimed_at.is_(None), DeploymentTarget.claimed_at < now - LEASE),
        )
        .values(claimed_at=now, uncertain=True, attempts=DeploymentTarget.attempts + 1)
    ).rowcount
    session.commit()
    if not claimed:
        return None  # another job has it
    session.refresh(target)
    tenant = session.get(Tenant, target.tenant_pk)
    app = session.get(App, deployment.app_pk)
    api = api_for(app.platform, current_app.config)
    try:
        token = serve_tenant_token(session, tenant).access_token
        outcome = _do(api, token, deployment, doing, probe)
    except TokenUnavailable as exc:
        session.rollback()
        _release_claim(session, target_pk, uncertain=False)
        if exc.retryable:
            raise
        _fail(session.get(DeploymentTarget, target_pk), doing, f"no token: {exc.message}")
        session.commit()
        return "failed"
    except UpstreamError as exc:
        session.rollback()
        # No answer at all: the call may have been acted on; ask before calling again.
        _release_claim(session, target_pk, uncertain=exc.errcode is None)
        if exc.retryable or exc.kind == "token":
            raise
        _fail(
            session.get(DeploymentTarget, target_pk), doing, f"errcode {exc.errcode} {exc.errmsg}"
        )
        session.commit()
        return "failed"
    except Retry:
        session.rollback()
        _release_claim(session, target_pk, uncertain=False)
        raise
    target = session.get(DeploymentTarget, target_pk)
    _advance(target, doing, NEXT[doing], outcome)
    session.commit()
    if target.step in RUN:
        enqueue(target_pk, target.step)
    finish_if_done(session, deployment.id)
    return target.step


def _do(api, token: str, deployment: Deployment, doing: str, probe: bool) -> dict[str, Any]:
    """Call the platform for one step (or, after a crash, ask whether it took); returns what to
    record. Raises UpstreamError, or Retry while the audit quota is used up."""
    version = deployment.user_version
    if doing == "commit":
        if probe and _version_of(api.wxa(token, "getversioninfo", {}), "exp_info") == version:
            return {"probed": True}
        api.wxa(
            token,
            "commit",
            {
                "template_id": deployment.template_id,
                "ext_json": deployment.ext_json,
                "user_version": version,
                "user_desc": deployment.user_desc,
            },
        )
        return {}
    if doing == "submit":
        if probe:
            latest = api.wxa(token, "get_latest_auditstatus")
            if str(latest.get("user_version") or "") == version and latest.get("auditid"):
                return {"auditid": str(latest["auditid"]), "probed": True}
        quota = api.wxa(token, "queryquota", {})
        if int(quota.get("rest") or 0) <= 0:
            raise Retry(QUOTA_WAIT, "no audit left this month")
        answer = api.wxa(token, "submit_audit", {"version_desc": deployment.user_desc})
        return {"auditid": str(answer.get("auditid") or "")}
    if doing == "revert":
        online = _version_of(api.wxa(token, "getversioninfo", {}), "release_info")
        if probe and online != version:
            return {"probed": True}
        api.wxa(token, "revertgrayrelease" if deployment.gray_percentage else "revertcoderelease")
        return {}
    if probe and _version_of(api.wxa(token, "getversioninfo", {}), "release_info") == version:
        return {"probed": True}
    if deployment.gray_percentage:
        api.wxa(token, "grayrelease", {"gray_percentage": deployment.gray_percentage})
    else:
        api.wxa(token, "release", {})
    return {}


def _version_of(info: dict[str, Any], part: str) -> str:
    value = info.get(part) or {}
    key = "exp_version" if part == "exp_info" else "release_version"
    return str(value.get(key) or "") if isinstance(value, dict) else ""


def _advance(target: DeploymentTarget, done: str, to: str, outcome: dict[str, Any]) -> None:
    target.step, target.claimed_at, target.uncertain, target.error = to, None, False, None
    if outcome.get("auditid"):
        target.auditid, target.audit_status = outcome["auditid"], 2
    entry = {"step": done, "at": utcnow().isoformat(), "outcome": "done"}
    if outcome.get("probed"):
        entry["outcome"] = "found done"  # a crashed run had done it
    target.log = [*(target.log or []), entry]


def _fail(target: DeploymentTarget, at: str, error: str, reason: str | None = None) -> None:
    target.step, target.failed_step, target.error = "failed", at, error[:2000]
    target.claimed_at, target.uncertain = None, False
    if reason is not None:
        target.reason = reason
    entry = {"step": at, "at": utcnow().isoformat(), "outcome": "failed", "error": error[:500]}
    target.log = [*(target.log or []), entry]


def _release_claim(session: Session, target_pk: int, *, uncertain: bool) -> None:
    session.execute(
        update(DeploymentTarget.__table__)
        .where(DeploymentTarget.id == target_pk)
        .values(claimed_at=None, uncertain=uncertain)
    )
    session.commit()


def finish_if_done(session: Session, deployment_pk: int) -> None:
    """A running deployment none of whose targets can move any more is finished."""
    open_steps = session.scalar(
        select(DeploymentTarget.id)
        .where(
            DeploymentTarget.deployment_pk == deployment_pk,
            DeploymentTarget.step.not_in(DONE),
        )
        .limit(1)
    )
    if open_steps is None:
        session.execute(
            update(Deployment.__table__)
            .where(Deployment.id == deployment_pk, Deployment.status == "running")
            .values(status="finished", finished_at=utcnow())
        )
        session.commit()


# -- the audit's verdict -------------------------------------------------------------------------


def on_audit(session: Session, app_pk: int, tenant_id: str, kind: str, fields: dict) -> bool:
    """An audit event of an account stored: move its auditing target (of a running deployment)
    on. Commits; returns whether a target moved. A verdict can come before the submitting job
    has recorded the audit (an audit decided at once): the target is then asked for
    (`releases.poll`) once it has. A failure here loses nothing: the sweep asks the platform
    for audits that stay quiet."""
    status = AUDIT_EVENTS.get(kind)
    if status is None:
        return False
    target = session.scalar(
        select(DeploymentTarget)
        .join(Deployment, Deployment.id == DeploymentTarget.deployment_pk)
        .join(Tenant, Tenant.id == DeploymentTarget.tenant_pk)
        .where(
            Deployment.app_pk == app_pk,
            Deployment.status == "running",
            Tenant.tenant_id == tenant_id,
            DeploymentTarget.step.in_(("submit", "auditing")),
        )
        .order_by(DeploymentTarget.id.desc())
        .limit(1)
    )
    if target is None:
        return False
    if target.step == "submit":
        session.rollback()
        runner.enqueue("releases.poll", target.id, delay=1.0, job_id=f"release-poll:{target.id}")
        return False
    moved = _verdict(target, status, fields.get("Reason") or None)
    session.commit()
    if moved and target.step == "release":
        enqueue(target.id, "release")
    finish_if_done(session, target.deployment_pk)
    return moved


def _verdict(target: DeploymentTarget, status: int, reason: str | None) -> bool:
    """Apply an audit status (0 passed, 1 rejected, 2 auditing, 3 withdrawn, 4 delayed)."""
    target.audit_status = status
    if status == 0:
        target.log = [
            *(target.log or []),
            {"step": "auditing", "at": utcnow().isoformat(), "outcome": "passed"},
        ]
        target.step, target.reason = "release", None
        return True
    if status in (1, 3):
        why = reason or ("withdrawn" if status == 3 else "rejected")
        _fail(target, "submit", f"audit {'withdrawn' if status == 3 else 'rejected'}: {why}", why)
        return True
    if status == 4:
        target.reason = reason
    return False


# -- the sweep ------------------------------------------------------------------------------------


@task("releases.sweep", queue="low")
def sweep() -> dict[str, int]:
    """Enqueue runnable targets whose job was lost, and ask for audits that stayed quiet."""
    session = db.session()
    now = utcnow()
    running = select(Deployment.id).where(Deployment.status == "running")
    lost = session.execute(
        select(DeploymentTarget.id, DeploymentTarget.step)
        .where(
            DeploymentTarget.deployment_pk.in_(running),
            DeploymentTarget.step.in_(RUN),
            or_(
                and_(
                    DeploymentTarget.claimed_at.is_(None),
                    DeploymentTarget.updated_at < now - LOST_AFTER,
                ),
                DeploymentTarget.claimed_at < now - LEASE,
            ),
        )
        .limit(SWEEP_BATCH)
    ).all()
    quiet = session.scalars(
        select(DeploymentTarget.id)
        .where(
            DeploymentTarget.deployment_pk.in_(running),
            DeploymentTarget.step == "auditing",
            DeploymentTarget.updated_at < now - POLL_AFTER,
        )
        .limit(SWEEP_BATCH)
    ).all()
    session.rollback()
    for pk, step_name in lost:
        enqueue(pk, step_name)
    for pk in quiet:
        runner.enqueue("releases.poll", pk, job_id=f"release-poll:{pk}", retries=3)
    return {"lost": len(lost), "polled": len(quiet)}


@task("releases.poll", queue="low")
def poll(target_pk: int) -> bool:
    """Ask the platform how the target's audit went (its push may be lost)."""
    session = db.session()
    target = session.get(DeploymentTarget, target_pk)
    if target is not None and target.step == "submit":
        session.rollback()
        raise Retry(1.0, "the audit is not recorded yet")  # its submitting job is running
    if target is None or target.step != "auditing" or not target.auditid:
        return False
    tenant = session.get(Tenant, target.tenant_pk)
    app = session.get(App, tenant.app_pk)
    api = api_for(app.platform, current_app.config)
    token = serve_tenant_token(session, tenant).access_token
    answer = api.wxa(token, "get_auditstatus", {"auditid": target.auditid})
    target = session.get(DeploymentTarget, target_pk)
    moved = _verdict(target, int(answer.get("status", 2)), answer.get("reason") or None)
    target.updated_at = utcnow()  # asked: quiet again for POLL_AFTER
    session.commit()
    if moved and target.step == "release":
        enqueue(target.id, "release")
    finish_if_done(session, target.deployment_pk)
    return moved
