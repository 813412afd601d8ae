"""The floor for bench/proxy.py: a bare forwarder at the proxy's URL, as small as a proxy can be:
the token from memory (BENCH_PROXY_TOKEN), the platform from BENCH_PROXY_UPSTREAM, requests with
one kept-alive session; no key, no database, no retry, nothing streamed."""

from __future__ import annotations

import os

import requests
from flask import Flask, Response, request

app = Flask(__name__)
UPSTREAM = os.environ.get("BENCH_PROXY_UPSTREAM", "http://127.0.0.1:9")
TOKEN = os.environ.get("BENCH_PROXY_TOKEN", "")
session = requests.Session()


@app.route("/api/v1/apps/<app_id>/tenants/<tenant_id>/proxy/<path:path>", methods=["GET", "POST"])
def forward(app_id: str, tenant_id: str, path: str) -> Response:
    answer = session.request(
        request.method,
        f"{UPSTREAM}/{path}",
        params=[*request.args.items(multi=True), ("access_token", TOKEN)],
        data=request.get_data(),
        headers={"Content-Type": request.content_type or ""},
        timeout=(3.05, 10),
    )
    return Response(
        answer.content, answer.status_code, content_type=answer.headers.get("Content-Type")
    )
