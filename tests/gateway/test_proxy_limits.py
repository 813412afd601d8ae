"""What the proxy refuses and what it keeps: media bytes through unchanged both ways, 400 for a
path outside the platform's API trees or a token in the query, 403 outside a key's path
prefixes (audited), 409 for a cancelled tenant, 413 over the body limit, 502 / 504 without an
answer, and the errcodes counted per tenant and path for the admin's tenant page."""

from __future__ import annotations

import os

import pytest
import requests
from sqlalchemy import select

from suite_server import db
from suite_server.accounts import create_api_key
from suite_server.api import proxy as api_proxy
from suite_server.gateway import proxy as gateway
from suite_server.models import AuditEntry, ProxyErrcode
from tests.authorization.conftest import drain, push
from tests.gateway.helpers import TENANT_API, USER_GET, proxied, tenant_call

CANCEL = {"wecom": "cancel_auth", "open": "unauthorized"}


def tenant_path(app, path: str) -> str:
    return f"/apps/{app.app_id}/tenants/tenant-api/proxy/{path}"


@pytest.mark.parametrize("either", ["wecom"], indirect=True)
def test_media_goes_up_and_comes_back_byte_for_byte(platform, installed, live_server, api_key):
    photo = os.urandom(2 * 1024 * 1024 + 17)  # over the in-memory spool and the sandbox's 1 MiB
    up = proxied(
        live_server,
        api_key,
        tenant_path(installed, "cgi-bin/media/upload"),
        "POST",
        params={"type": "image"},
        files={"media": ("photo.png", photo, "image/png")},
    )
    assert up.status_code == 200 and "media_id" in up.json(), up.text
    media_id = up.json()["media_id"]
    down = proxied(
        live_server,
        api_key,
        tenant_path(installed, "cgi-bin/media/get"),
        params={"media_id": media_id},
        stream=True,
    )
    assert down.status_code == 200
    assert down.headers["Content-Type"] == "image/png"
    assert down.headers["Content-Disposition"] == 'attachment; filename="photo.png"'
    assert down.headers["Content-Length"] == str(len(photo))
    assert down.raw.read() == photo
    # A media_id the platform does not know: its JSON error, as it was.
    missing = proxied(
        live_server,
        api_key,
        tenant_path(installed, "cgi-bin/media/get"),
        params={"media_id": "nope"},
    )
    assert missing.json()["errcode"] == 40007


def test_paths_outside_the_platform_apis_and_token_parameters_are_400(
    platform, installed, live_server, api_key
):
    outside = "wxa/getwxacode" if installed.platform == "wecom" else "pay/orderquery"
    for path in (outside, "cgi-bin/../admin", "cgi-bin//user/get", "cgi-bin/user/get%3Fx"):
        refused = proxied(live_server, api_key, tenant_path(installed, path))
        assert refused.status_code == 400, (path, refused.text)
        assert refused.json()["error"]["code"] == "bad_request"
    for name in gateway.TOKEN_PARAMS:
        refused = proxied(
            live_server, api_key, tenant_path(installed, USER_GET), params={name: "mine"}
        )
        assert refused.status_code == 400 and name in refused.json()["error"]["message"]
    assert platform.calls().get(TENANT_API[installed.platform], 0) == 0


def test_a_key_with_path_prefixes_proxies_only_under_them(
    platform, installed, live_server, api_key
):
    mine = "/cgi-bin/message/" if installed.platform == "open" else "/cgi-bin/user/"
    key = create_api_key(db.session(), "limited", path_prefixes=[mine])
    db.session().commit()
    assert tenant_call(live_server, key, installed).json()["errcode"] == 0
    path = tenant_path(installed, "cgi-bin/media/get")
    refused = proxied(live_server, key, path, params={"media_id": "x"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    entry = db.session().scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert (entry.actor, entry.action) == ("apikey:limited", "api.refused")
    assert entry.detail["reason"] == "path outside the key's path prefixes"
    assert entry.detail["path"] == f"/api/v1{path}"
    # The token endpoints are not limited by path prefixes.
    token = proxied(live_server, key, f"/apps/{installed.app_id}/tenants/tenant-api/access-token")
    assert token.status_code == 200


def test_a_cancelled_tenant_is_409_and_unknown_ids_404(
    app, platform, installed, live_server, api_key
):
    push(platform, installed, CANCEL[installed.platform], tenant_id="tenant-api")
    drain(app)
    refused = tenant_call(live_server, api_key, installed)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "tenant_cancelled"
    for path in (
        f"/apps/{installed.app_id}/tenants/nobody/proxy/{USER_GET}",
        f"/apps/wwnoapp/tenants/tenant-api/proxy/{USER_GET}",
        f"/apps/wwnoapp/proxy/{USER_GET}",
        f"/providers/wwnoprovider/proxy/{USER_GET}",
        f"/providers/{installed.app_id}/proxy/{USER_GET}",  # an app is not a provider
    ):
        missing = proxied(live_server, api_key, path)
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_a_body_over_the_limit_is_413(platform, installed, live_server, api_key, monkeypatch):
    monkeypatch.setattr(api_proxy, "MAX_BODY", 1000)
    path = tenant_path(installed, "cgi-bin/message/custom/send")
    over = proxied(live_server, api_key, path, "POST", data=b"x" * 1001)
    assert over.status_code == 413
    assert over.json()["error"]["code"] == "request_entity_too_large"
    # Sent in chunks, without a length: counted as it comes.
    chunked = proxied(live_server, api_key, path, "POST", data=iter([b"x" * 600, b"y" * 600]))
    assert chunked.status_code == 413
    assert platform.calls().get("custom_send", 0) == 0


def test_no_answer_is_502_and_too_late_504_never_sent_again(
    app, platform, installed, live_server, api_key, monkeypatch
):
    assert tenant_call(live_server, api_key, installed).status_code == 200  # token in hand
    endpoint = TENANT_API[installed.platform]
    monkeypatch.setattr(gateway, "DEFAULT_TIMEOUT", (3.05, 0.3))
    platform.control("faults", endpoint=endpoint, delay=1, count=1)
    late = tenant_call(live_server, api_key, installed)
    assert late.status_code == 504 and late.json()["error"]["code"] == "upstream_timeout"
    assert platform.calls()[endpoint] == 2
    setting = "WECOM_API_BASE" if installed.platform == "wecom" else "WECHAT_API_BASE"
    monkeypatch.setitem(app.config, setting, "http://127.0.0.1:9")
    gone = tenant_call(live_server, api_key, installed)
    assert gone.status_code == 502 and gone.json()["error"]["code"] == "upstream_unreachable"
    assert "access_token" not in gone.text and "127.0.0.1:9" in gone.text


def test_errcodes_are_counted_per_tenant_and_path_and_shown_to_admins(
    platform, installed, live_server, api_key, admin_browser
):
    endpoint = TENANT_API[installed.platform]
    platform.control("faults", endpoint=endpoint, errcode=45009, count=2)
    for _ in range(2):
        assert tenant_call(live_server, api_key, installed).json()["errcode"] == 45009
    assert tenant_call(live_server, api_key, installed).json()["errcode"] == 0
    db.session().expire_all()
    rows = db.session().scalars(select(ProxyErrcode)).all()
    path = USER_GET if installed.platform == "wecom" else "cgi-bin/message/custom/send"
    assert [(r.tenant_id, r.path, r.errcode, r.count) for r in rows] == [
        ("tenant-api", path, 45009, 2)
    ]
    assert rows[0].last_errmsg.startswith("api freq out of limit") or rows[0].last_errmsg
    page = admin_browser.get(f"/admin/tenants/{installed.app_id}/tenant-api")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    table = html[html.index('id="proxy-errcodes"') :]
    assert f"<code>/{path}</code></td><td>45009</td><td>2</td>" in table
    metrics = requests.get(f"{live_server}/metrics", timeout=10).text
    line = f'suite_server_proxy_calls_total{{app_id="{installed.app_id}",errcode="45009"}}'
    assert line in metrics
