"""/healthz and /readyz."""

from __future__ import annotations

from tests.conftest import make_app


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_readyz_checks_the_database(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json["checks"] == {"database": "ok"}


def test_readyz_checks_redis_when_configured(database, tmp_path, redis_url):
    app = make_app(tmp_path, database.for_test(tmp_path), REDIS_URL=redis_url)
    response = app.test_client().get("/readyz")
    assert response.status_code == 200
    assert response.json["checks"] == {"database": "ok", "redis": "ok"}


def test_readyz_is_503_when_a_dependency_is_down(tmp_path):
    app = make_app(
        tmp_path,
        "postgresql://postgres@127.0.0.1:1/nothing",
        REDIS_URL="redis://127.0.0.1:1/0",
    )
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["status"] == "unavailable"
    assert response.json["checks"]["database"].startswith("error")
    assert response.json["checks"]["redis"].startswith("error")
