"""The baseline for bench/tokens.py: a bare Flask endpoint at the token API's URL that answers a
token as JSON from memory: no key check, no database."""

from __future__ import annotations

from flask import Flask, jsonify

app = Flask(__name__)
TOKEN = {"access_token": "x" * 64, "expires_at": "2099-01-01T00:00:00+00:00", "expires_in": 7000}


@app.get("/api/v1/apps/<app_id>/tenants/<tenant_id>/access-token")
def access_token(app_id: str, tenant_id: str):
    return jsonify(TOKEN)
