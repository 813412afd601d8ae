"""Paid-app orders and editions through the sandbox over HTTP: each order push is read back with
get_order and stored, each push makes one lifecycle event (`order.opened`, `order.paid`,
`edition.changed`, ...) for handlers and webhooks, with the stored order and the tenant as the
token API shows it; the tenant's edition follows the platform; upstream faults are retried."""

from __future__ import annotations

import time
import uuid

import requests
from sqlalchemy import select

from suite_server import db
from suite_server.accounts import create_api_key
from suite_server.billing import orders
from suite_server.models import App, AppOrder, InboundEvent
from suite_server.processing import pipeline
from suite_server.tenants import events
from tests.authorization.conftest import drain, miss_pushes, push
from tests.dispatch.test_lifecycle import hooked, received


def lifecycle(app: App, tenant_id: str) -> list[InboundEvent]:
    db.session().expire_all()
    query = select(InboundEvent).where(
        InboundEvent.app_pk == app.id,
        InboundEvent.channel == events.CHANNEL,
        InboundEvent.tenant_id == tenant_id,
    )
    return list(db.session().scalars(query.order_by(InboundEvent.id)))


def kinds(app: App, tenant_id: str) -> list[str]:
    return sorted(event.kind for event in lifecycle(app, tenant_id))


def pushes_of(app: App, kind: str) -> list[InboundEvent]:
    db.session().expire_all()
    query = select(InboundEvent).where(InboundEvent.app_pk == app.id, InboundEvent.kind == kind)
    return list(db.session().scalars(query.order_by(InboundEvent.id)))


def stored(app: App, order_id: str) -> AppOrder | None:
    db.session().expire_all()
    return db.session().scalar(
        select(AppOrder).where(AppOrder.app_pk == app.id, AppOrder.order_id == order_id)
    )


def place(platform, app: App, corp: str, **details) -> str:
    answer = platform.control(f"apps/{app.app_id}/orders", tenant_id=corp, **details)
    return answer["order"]["orderid"]


def act(platform, app: App, order_id: str, action: str) -> dict:
    answer = platform.control(f"apps/{app.app_id}/orders/{order_id}/{action}")
    platform.join()  # change_editon follows in the background
    return answer


def tenant_view(platform, app: App, corp: str) -> dict:
    key = create_api_key(db.session(), f"billing-{uuid.uuid4().hex[:8]}")
    db.session().commit()
    response = requests.get(
        f"{platform.server}/api/v1/apps/{app.app_id}/tenants/{corp}",
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_open_pay_and_refund_make_order_and_edition_events(
    app, platform, suite, receivers, handlers
):
    receiver = receivers(200)
    hooked(suite, receiver)
    paid = []
    handlers.lifecycle("order.paid")(paid.append)
    push(platform, suite, "create_auth", tenant_id="wwpayer", name="Payer")
    drain(app)
    trial = tenant_view(platform, suite, "wwpayer")["edition"]
    assert trial["edition_id"] == "sandbox_trial" and trial["app_status"] == 1

    order_id = place(platform, suite, "wwpayer", user_count=20)
    drain(app)
    order = stored(suite, order_id)
    assert (order.tenant_id, order.order_status, order.user_count) == ("wwpayer", 0, 20)
    assert order.paid_time is None and order.order_time is not None
    act(platform, suite, order_id, "pay")
    drain(app)

    order = stored(suite, order_id)
    assert order.order_status == 1 and order.paid_time and order.end_time > order.begin_time
    assert order.edition_id == "sandbox_standard" and order.answer["orderid"] == order_id
    assert kinds(suite, "wwpayer") == [
        "edition.changed",
        "order.opened",
        "order.paid",
        "tenant.authorized",
    ]
    assert all(event.status == "done" for event in lifecycle(suite, "wwpayer"))
    # The raw pushes are stored and processed, no longer handed on as they came.
    assert [e.status for e in pushes_of(suite, "pay_for_app_success")] == ["done"]
    bodies = {body["kind"]: body for body in received(receiver)}
    assert set(bodies) == {"tenant.authorized", "order.opened", "order.paid", "edition.changed"}
    assert bodies["order.opened"]["order"]["order_status"] == 0
    body = bodies["order.paid"]
    assert body["tenant_id"] == "wwpayer" and body["tenant"]["tenant_id"] == "wwpayer"
    assert body["order"]["order_id"] == order_id and body["order"]["order_status"] == 1
    assert body["order"]["user_count"] == 20 and body["order"]["paid_time"]
    edition = bodies["edition.changed"]["edition"]
    assert (edition["edition_id"], edition["user_limit"], edition["app_status"]) == (
        "sandbox_standard",
        20,
        3,
    )
    [message] = paid
    assert message.kind == "order.paid" and message.lifecycle["order"]["order_id"] == order_id
    view = tenant_view(platform, suite, "wwpayer")["edition"]
    assert (view["edition_id"], view["user_limit"]) == ("sandbox_standard", 20)
    assert view["expired_time"].startswith(order.end_time.date().isoformat()[:4])

    # A push is told from a platform retry by its whole text, TimeStamp included (whole
    # seconds of the real clock): the second change_editon must come in another second.
    time.sleep(1.05)
    act(platform, suite, order_id, "refund")
    drain(app)
    assert stored(suite, order_id).order_status == 5
    assert kinds(suite, "wwpayer").count("order.refunded") == 1
    assert kinds(suite, "wwpayer").count("edition.changed") == 2
    refunded = [b for b in received(receiver) if b["kind"] == "order.refunded"]
    assert [b["order"]["order_status"] for b in refunded] == [5]
    assert tenant_view(platform, suite, "wwpayer")["edition"]["edition_id"] == "sandbox_trial"


def test_a_changed_order_stores_both(app, platform, suite, receivers):
    receiver = receivers(200)
    hooked(suite, receiver)
    push(platform, suite, "create_auth", tenant_id="wwchanger")
    drain(app)
    old_id = place(platform, suite, "wwchanger", user_count=5)
    drain(app)
    new_id = platform.control(f"apps/{suite.app_id}/orders/{old_id}/change", user_count=50)[
        "order"
    ]["orderid"]
    drain(app)
    assert stored(suite, old_id).order_status == 2
    assert (stored(suite, new_id).order_status, stored(suite, new_id).user_count) == (0, 50)
    [body] = [b for b in received(receiver) if b["kind"] == "order.changed"]
    assert body["order"]["order_id"] == new_id and body["old_order"]["order_id"] == old_id


def test_an_order_of_a_corp_not_installed_here_is_stored_with_no_tenant(
    app, platform, suite, receivers
):
    """The corp installed on the platform, but its push never reached us."""
    receiver = receivers(200)
    hooked(suite, receiver)
    miss_pushes(platform, suite, True)
    platform.control("push", app_id=suite.app_id, kind="create_auth", tenant_id="wwelsewhere")
    miss_pushes(platform, suite, False)
    order_id = place(platform, suite, "wwelsewhere")
    drain(app)
    assert stored(suite, order_id).tenant_id == "wwelsewhere"
    [event] = lifecycle(suite, "wwelsewhere")
    assert (event.kind, event.status) == ("order.opened", "done")
    [body] = received(receiver)
    assert body["kind"] == "order.opened" and body["tenant"] is None
    assert body["tenant_id"] == "wwelsewhere" and body["order"]["order_id"] == order_id


def test_get_order_faults_are_retried_and_a_second_run_tells_nothing_new(
    app, platform, suite, fast_retries
):
    push(platform, suite, "create_auth", tenant_id="wwretry")
    drain(app)
    platform.control("faults", endpoint="get_order", errcode=-1, count=2)
    order_id = place(platform, suite, "wwretry")
    drain(app)
    [push_event] = pushes_of(suite, "open_order")
    assert (push_event.status, push_event.attempts) == ("done", 3)
    assert stored(suite, order_id).order_status == 0
    assert kinds(suite, "wwretry") == ["order.opened", "tenant.authorized"]

    assert pipeline.process(push_event.id) is None  # done: nothing to do
    drain(app)
    assert kinds(suite, "wwretry") == ["order.opened", "tenant.authorized"]


def test_get_order_refused_fails_the_push_and_stores_nothing(app, platform, suite):
    push(platform, suite, "create_auth", tenant_id="wwrefused")
    drain(app)
    platform.control("faults", endpoint="get_order", errcode=40058, count=1)
    order_id = place(platform, suite, "wwrefused")
    drain(app)
    [push_event] = pushes_of(suite, "open_order")
    assert push_event.status == "failed" and "errcode 40058" in push_event.error
    assert stored(suite, order_id) is None
    assert kinds(suite, "wwrefused") == ["tenant.authorized"]


def test_orders_whose_pushes_were_lost_are_caught_up_and_told_once(app, platform, suite, receivers):
    receiver = receivers(200)
    hooked(suite, receiver)
    push(platform, suite, "create_auth", tenant_id="wwmissed")
    drain(app)
    miss_pushes(platform, suite, True)
    order_id = place(platform, suite, "wwmissed", user_count=30)
    act(platform, suite, order_id, "pay")  # open_order, pay_for_app_success, change_editon: lost
    miss_pushes(platform, suite, False)
    assert stored(suite, order_id) is None

    assert orders.catch_up() == {suite.app_id: 1}
    drain(app)
    assert stored(suite, order_id).order_status == 1
    bodies = {b["kind"]: b for b in received(receiver) if b["kind"] != "tenant.authorized"}
    assert sorted(bodies) == ["edition.changed", "order.paid"]
    assert all(body["caught_up"] for body in bodies.values())
    assert bodies["edition.changed"]["edition"]["user_limit"] == 30
    assert tenant_view(platform, suite, "wwmissed")["edition"]["user_limit"] == 30

    assert orders.catch_up() == {suite.app_id: 0}  # nothing new: nothing told again
    time.sleep(1.05)  # a change_editon in another second than the lost one
    act(platform, suite, order_id, "refund")  # this push arrives
    drain(app)
    assert orders.catch_up() == {suite.app_id: 0}
    drain(app)
    told = [b["kind"] for b in received(receiver) if b["kind"].startswith("order.")]
    assert told == ["order.paid", "order.refunded"]
