"""Mini-program registrations through the sandbox over HTTP: started through the API with the
component token and kept pending; the platform's push ends each one, once: a success exchanges
its code into an active tenant carrying the request's ref and tells `registration.succeeded`;
a failure keeps the platform's message and tells `registration.failed`; a beta registration is
tied by its unique_id and its tenant comes with the `authorized` push that follows. Bad requests
get a 4xx, and a platform refusal its errcode."""

from __future__ import annotations

import pytest
import requests
from sqlalchemy import select

from suite_server import db
from suite_server.models import InboundEvent, Registration
from suite_server.processing import pipeline
from tests.admin.conftest import admin_user, client, signed_in
from tests.api.conftest import api_key
from tests.authorization.conftest import drain, tenant_of
from tests.dispatch.conftest import receivers
from tests.dispatch.test_lifecycle import hooked, received

__all__ = ["admin_user", "api_key", "client", "receivers", "signed_in"]  # the fixtures

ENTERPRISE = {
    "kind": "enterprise",
    "name": "Corner Cafe Ltd",
    "code": "91440300MA5XXXXXXX",
    "code_type": 1,
    "legal_persona_wechat": "cafe_owner",
    "legal_persona_name": "Li Lei",
}


def api(platform, key: str, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(
        method,
        f"{platform.server}/api/v1{path}",
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
        **kwargs,
    )


def start(platform, key: str, component, **body) -> dict:
    response = api(platform, key, "POST", f"/apps/{component.app_id}/registrations", json=body)
    assert response.status_code == 201, response.text
    return response.json()["registration"]


def complete(platform, component, **body) -> dict:
    return platform.control("registrations/complete", app_id=component.app_id, **body)


def stored(registration_id: int) -> Registration:
    db.session().expire_all()
    return db.session().get(Registration, registration_id)


def pushes(component, kind: str) -> list[InboundEvent]:
    db.session().expire_all()
    query = select(InboundEvent).where(
        InboundEvent.app_pk == component.id, InboundEvent.kind == kind
    )
    return list(db.session().scalars(query))


def test_an_enterprise_registration_ends_in_an_active_tenant(
    app, platform, component, api_key, receivers
):
    receiver = receivers(200)
    hooked(component, receiver)
    made = start(platform, api_key, component, **ENTERPRISE, ref="merchant-42")
    assert (made["status"], made["kind"], made["ref"]) == ("pending", "enterprise", "merchant-42")
    assert made["request"]["legal_persona_name"] == "Li Lei"

    done = complete(platform, component, kind="enterprise", name=ENTERPRISE["name"])
    appid = done["registration"]["appid"]
    drain(app)
    row = stored(made["id"])
    assert (row.status, row.appid) == ("succeeded", appid) and row.completed_at is not None
    tenant = tenant_of(component, appid)
    assert tenant.status == "active" and tenant.credential
    assert (tenant.install_ref, tenant.install_ref_from) == ("merchant-42", "link")
    [body] = [b for b in received(receiver) if b["kind"] == "registration.succeeded"]
    assert body["tenant_id"] == appid and body["tenant"]["status"] == "active"
    assert body["registration"]["id"] == made["id"] and body["registration"]["appid"] == appid
    assert [b["kind"] for b in received(receiver)].count("tenant.authorized") == 1

    [event] = pushes(component, "notify_third_fasteregister")
    assert event.status == "done"
    assert pipeline.process(event.id) is None  # done: a second run tells nothing
    drain(app)
    assert [b["kind"] for b in received(receiver)].count("registration.succeeded") == 1

    listed = api(platform, api_key, "GET", f"/apps/{component.app_id}/registrations").json()
    assert [r["id"] for r in listed["registrations"]] == [made["id"]]
    one = api(platform, api_key, "GET", f"/apps/{component.app_id}/registrations/{made['id']}")
    assert one.json()["registration"]["status"] == "succeeded"


def test_a_refused_registration_keeps_the_platforms_message(
    app, platform, component, api_key, receivers
):
    receiver = receivers(200)
    hooked(component, receiver)
    made = start(platform, api_key, component, **ENTERPRISE)
    complete(
        platform,
        component,
        kind="enterprise",
        name=ENTERPRISE["name"],
        status=-1,
        msg="法人验证失败",
    )
    drain(app)
    row = stored(made["id"])
    assert (row.status, row.appid, row.message) == ("failed", None, "法人验证失败")
    [body] = [b for b in received(receiver) if b["kind"] == "registration.failed"]
    assert body["tenant_id"] == "" and body["registration"]["message"] == "法人验证失败"
    pending = api(
        platform, api_key, "GET", f"/apps/{component.app_id}/registrations?status=pending"
    )
    assert pending.json()["registrations"] == []


def test_a_beta_registration_is_tied_by_its_unique_id(app, platform, component, api_key, receivers):
    receiver = receivers(200)
    hooked(component, receiver)
    made = start(platform, api_key, component, kind="beta", name="Cafe Trial", openid="oOwner")
    assert made["unique_id"] and made["authorize_url"]
    done = complete(platform, component, kind="beta", unique_id=made["unique_id"])
    appid = done["registration"]["appid"]
    drain(app)
    row = stored(made["id"])
    assert (row.status, row.appid) == ("succeeded", appid)
    assert tenant_of(component, appid).status == "active"  # from the authorized push after it
    kinds = [b["kind"] for b in received(receiver)]
    assert kinds.count("registration.succeeded") == 1 and kinds.count("tenant.authorized") == 1


def test_a_registration_started_elsewhere_gets_a_row_of_its_own(app, platform, component, api_key):
    personal = {"kind": "personal", "idname": "Han Meimei", "wxuser": "hmm_wx"}
    made = start(platform, api_key, component, **personal)
    assert made["taskid"] and made["authorize_url"]
    db.session().execute(Registration.__table__.delete())  # as if it was started elsewhere
    db.session().commit()
    done = complete(platform, component, kind="personal", taskid=made["taskid"])
    drain(app)
    [row] = db.session().scalars(select(Registration)).all()
    assert (row.kind, row.status, row.appid) == (
        "personal",
        "succeeded",
        done["registration"]["appid"],
    )
    assert row.ref is None and row.request.get("wxuser") == "hmm_wx"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"kind": "shop"}, "kind must be one of"),
        ({**ENTERPRISE, "code_type": 9}, "code_type must be 1, 2 or 3"),
        ({"kind": "beta", "name": "x"}, "openid must be a text"),
        ({**ENTERPRISE, "colour": "red"}, "unknown field 'colour'"),
        ({**ENTERPRISE, "ref": "no spaces please"}, "ref"),
    ],
)
def test_bad_requests_get_a_400_and_keep_nothing(platform, component, api_key, body, message):
    response = api(platform, api_key, "POST", f"/apps/{component.app_id}/registrations", json=body)
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]["message"]
    assert db.session().scalars(select(Registration)).all() == []


def test_the_platforms_refusal_and_the_wrong_platform(platform, component, suite, api_key):
    start(platform, api_key, component, **ENTERPRISE)
    again = api(
        platform, api_key, "POST", f"/apps/{component.app_id}/registrations", json=ENTERPRISE
    )
    assert again.status_code == 400 and again.json()["error"]["code"] == "platform_refused"
    assert "89249" in again.json()["error"]["message"]
    wecom = api(platform, api_key, "POST", f"/apps/{suite.app_id}/registrations", json=ENTERPRISE)
    assert wecom.status_code == 400
    missing = api(platform, api_key, "GET", f"/apps/{component.app_id}/registrations/999999")
    assert missing.status_code == 404


def test_the_components_admin_page_lists_them(platform, component, api_key, signed_in):
    start(platform, api_key, component, **ENTERPRISE, ref="merchant-42")
    body = signed_in.get(f"/admin/apps/{component.app_id}").get_data(as_text=True)
    table = body.split('id="registrations"', 1)[1].split("</table>", 1)[0]
    assert "Corner Cafe Ltd" in table and "merchant-42" in table and "pending" in table
