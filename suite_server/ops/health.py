"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from suite_server import db, redis_client

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """The process is up and serving requests."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    """The database answers, and Redis too when it is configured."""
    checks = {"database": "ok"}
    try:
        db.ping()
    except SQLAlchemyError as exc:
        checks["database"] = f"error: {exc.__class__.__name__}"
    redis_url = current_app.config["REDIS_URL"]
    if redis_url:
        try:
            redis_client.connect(redis_url, timeout=2).ping()
            checks["redis"] = "ok"
        except RedisError as exc:
            checks["redis"] = f"error: {exc.__class__.__name__}"
    ready = all(value == "ok" for value in checks.values())
    return jsonify(status="ok" if ready else "unavailable", checks=checks), 200 if ready else 503
