"""The install context against the sandbox over HTTP: a `ref` given at the start reaches the tenant
and exactly one `tenant.authorized` event, whichever of the redirect and the push arrives first
(WeCom by the state, Open by a pre-auth code of its own, customized templates by the QR push), and
the landing redirect carries a signed assertion the client helper verifies."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import requests
from sqlalchemy import select

from suite_server import db
from suite_server.authorization import context, flow, housekeeping
from suite_server.client import verify_install
from suite_server.db import utcnow
from suite_server.models import App, InboundEvent, InstallLink, InstallState, PreAuthCode
from suite_server.sandbox.install_pages import NEW
from suite_server.tenants import events
from tests import factories
from tests.authorization.conftest import drain, push, query_of, tenant_of
from tests.callbacks import pushes as wire

SECRET = "landing-secret-of-the-tests"
PROVIDER = "wwprovidercontext"


@pytest.fixture(params=["wecom", "open"])
def either(request) -> App:
    """The suite or the component, each test running once per platform."""
    return request.getfixturevalue("suite" if request.param == "wecom" else "component")


@pytest.fixture
def template(platform) -> App:
    """A customized-app template (QR installs) with its provider account on both sides."""
    provider = factories.provider(db.session(), corpid=PROVIDER, secret="provider-secret")
    platform.register_provider(provider)
    app = factories.wecom_app(db.session(), app_id="dkcontexttemplate", provider_corpid=PROVIDER)
    platform.register(app, provider_corpid=PROVIDER)
    return app


def authorized_events(app: App) -> list[dict]:
    """The bodies of the app's `tenant.authorized` lifecycle events."""
    db.session().expire_all()
    rows = db.session().scalars(
        select(InboundEvent)
        .where(
            InboundEvent.app_pk == app.id,
            InboundEvent.channel == events.CHANNEL,
            InboundEvent.kind == "tenant.authorized",
        )
        .order_by(InboundEvent.id)
    )
    return [json.loads(row.payload) for row in rows]


def with_landing(app: App, url: str = "https://isv.example.com/welcome") -> None:
    app.landing_url, app.landing_secret = url, SECRET
    db.session().commit()


def state_row(app: App, state: str) -> InstallState:
    db.session().expire_all()
    return db.session().scalar(
        select(InstallState).where(InstallState.app_pk == app.id, InstallState.state == state)
    )


def state_of(page: str, app: App) -> str:
    params = query_of(page)
    return params["state"] if app.platform == "wecom" else query_of(params["redirect_uri"])["state"]


# -- ref through the page ------------------------------------------------------------------


def test_a_ref_given_on_the_page_reaches_the_tenant_its_event_and_the_landing(
    app, platform, either
):
    with_landing(either)
    page = platform.start_install(either, ref="cust-42/org:7")
    assert state_row(either, state_of(page, either)).ref == "cust-42/org:7"
    back = platform.approve_in_browser(page, "tenant-ref", "Ref Corp")
    done = requests.get(back, allow_redirects=False, timeout=30)
    platform.join()  # Open: the `authorized` push with the same code, whenever it comes
    drain(app)

    assert done.status_code == 302, done.text
    assert tenant_of(either, "tenant-ref").install_ref == "cust-42/org:7"
    [event] = authorized_events(either)  # one, though Open's push carried the code again
    assert (event["tenant"]["ref"], event["tenant"]["ref_from"]) == ("cust-42/org:7", "query")
    assert event["tenant"]["tenant_id"] == "tenant-ref"
    where = done.headers["Location"]
    assert where.startswith("https://isv.example.com/welcome?install=")
    claims = verify_install(query_of(where)["install"], SECRET, app_id=either.app_id)
    assert (claims["platform"], claims["tenant_id"], claims["ref"]) == (
        either.platform,
        "tenant-ref",
        "cust-42/org:7",
    )
    assert claims["ref_from"] == "query"  # anyone may write ?ref=: not proof of who chose it
    assert claims["exp"] - claims["iat"] == 600


def test_open_push_arriving_before_the_redirect_still_carries_the_ref(app, platform, component):
    with_landing(component)
    page = platform.start_install(component, ref="cust-early")
    back = platform.approve_in_browser(page, "wxaccount-early", "Early")
    platform.join()  # the sandbox's `authorized` push is delivered...
    drain(app)  # ...and processed before the browser comes back
    early = tenant_of(component, "wxaccount-early")
    assert early is not None and early.install_ref == "cust-early"
    [event] = authorized_events(component)
    assert (event["tenant"]["ref"], event["tenant"]["ref_from"]) == ("cust-early", "query")

    done = requests.get(back, allow_redirects=False, timeout=30)  # the second arrival
    drain(app)
    assert done.status_code == 302, done.text
    claims = verify_install(query_of(done.headers["Location"])["install"], SECRET)
    assert (claims["tenant_id"], claims["ref"]) == ("wxaccount-early", "cust-early")
    assert len(authorized_events(component)) == 1  # the redirect made no second event
    assert platform.calls()["api_query_auth"] == 1


def test_an_open_install_with_a_ref_gets_a_pre_auth_code_of_its_own(app, platform, component):
    def code_of(page: str) -> str:
        return query_of(page)["pre_auth_code"]

    plain = platform.start_install(component)
    assert code_of(platform.start_install(component)) == code_of(plain)  # shared
    with_ref = platform.start_install(component, ref="cust-own")
    assert code_of(with_ref) != code_of(plain)
    assert code_of(platform.start_install(component)) == code_of(plain)  # never handed out
    assert code_of(platform.start_install(component, ref="cust-own")) != code_of(with_ref)
    db.session().expire_all()
    dedicated = db.session().scalars(select(PreAuthCode).where(PreAuthCode.dedicated)).all()
    assert len(dedicated) == 2
    assert platform.calls()["api_create_preauthcode"] == 3

    # A plain install approved with the shared code: its push finds no ref (not the other's).
    back = platform.approve_in_browser(plain, "wxaccount-plain")
    platform.join()
    drain(app)
    assert tenant_of(component, "wxaccount-plain").install_ref is None
    assert requests.get(back, timeout=30).status_code == 200


def test_wecom_redirect_then_create_auth_with_the_same_code_makes_one_event(app, platform, suite):
    page = platform.start_install(suite, ref="cust-twice")
    state = state_of(page, suite)
    back = platform.approve_in_browser(page, "wwcorp-twice")
    assert requests.get(back, timeout=30).status_code == 200
    message = (
        f"<xml><SuiteId><![CDATA[{suite.app_id}]]></SuiteId>"
        f"<AuthCode><![CDATA[{query_of(back)['auth_code']}]]></AuthCode>"
        f"<InfoType><![CDATA[create_auth]]></InfoType><TimeStamp>1700000000</TimeStamp>"
        f"<State><![CDATA[{state}]]></State></xml>"
    )
    query, body = wire.push("wecom", suite.token, suite.aes_key, suite.app_id, message)
    answer = requests.post(
        f"{platform.server}/callback/wecom/{suite.app_id}/command", params=query, data=body
    )
    assert answer.text == "success"
    drain(app)
    [event] = authorized_events(suite)
    assert event["tenant"]["ref"] == "cust-twice"
    assert platform.calls()["get_permanent_code"] == 1


# -- ref through a push alone --------------------------------------------------------------


def test_a_wecom_market_install_finds_its_ref_by_the_pushed_state(app, platform, suite):
    page = platform.start_install(suite, ref="cust-market")
    state = state_of(page, suite)
    # The admin approves where no redirect comes back: only create_auth, with State.
    approved = platform.control(
        "approve",
        app_id=suite.app_id,
        pre_auth_code=query_of(page)["pre_auth_code"],
        tenant_id="wwcorp-market",
        via="market",
        state=state,
    )
    assert approved["redirect_url"] is None and approved["push"]["delivered"]
    drain(app)
    assert tenant_of(suite, "wwcorp-market").install_ref == "cust-market"
    [event] = authorized_events(suite)
    assert event["tenant"]["ref"] == "cust-market" and event["change"]["source"] == "push"


def test_a_push_naming_no_install_of_ours_makes_a_tenant_without_ref(app, platform, either):
    platform.start_install(either, ref="cust-other")  # another install, still open
    push(platform, either, "create_auth" if either.platform == "wecom" else "authorized",
         tenant_id="tenant-noref", state="0" * 32)  # fmt: skip
    drain(app)
    assert tenant_of(either, "tenant-noref").install_ref is None
    [event] = authorized_events(either)
    assert event["tenant"]["ref"] is None


def test_the_push_state_and_the_answer_state_each_find_the_ref(app, platform, suite):
    """Either suffices: a create_auth without State still finds it by the answer's."""
    page = platform.start_install(suite, ref="cust-answer")
    state = state_of(page, suite)
    pushed = context.of_push(db.session(), suite, {"State": state})
    assert (pushed.ref, pushed.ref_from) == ("cust-answer", "query")
    assert context.of_push(db.session(), suite, {"State": ""}) is None
    found = context.of_answer(db.session(), suite, {"state": state})
    assert (found.ref, found.ref_from) == ("cust-answer", "query")
    assert context.of_answer(db.session(), suite, {"state": "f" * 32}) is None
    assert context.of_answer(db.session(), suite, {}) is None


def test_a_customized_template_qr_install_carries_the_ref(app, platform, template, live_server):
    start = requests.get(
        f"{live_server}/install/{template.app_id}", params={"ref": "cust-qr"}, timeout=30,
        allow_redirects=False,
    )  # fmt: skip
    assert start.status_code == 302, start.text
    row = db.session().scalar(select(InstallState).where(InstallState.app_pk == template.id))
    assert row.ref == "cust-qr"
    scanned = requests.post(
        start.headers["Location"], data={"tenant": NEW, "new_id": "wwcorp-qr"}, timeout=30
    )
    assert scanned.status_code == 200, scanned.text
    platform.join()
    drain(app)
    assert tenant_of(template, "wwcorp-qr").install_ref == "cust-qr"
    [event] = authorized_events(template)
    assert event["tenant"]["ref"] == "cust-qr"


def test_a_templates_install_link_starts_its_qr_install_once_and_lives_as_the_qr(
    app, platform, template, live_server
):
    link = context.mint_link(db.session(), template, live_server, ref="cust-qrl", return_to=None)
    first = requests.get(link.url, allow_redirects=False, timeout=30)
    assert first.status_code == 302, first.text
    row = db.session().scalar(select(InstallState).where(InstallState.app_pk == template.id))
    assert row.ref == "cust-qrl"
    # The QR code lives 10 days (doc/98744); its state as long, up to 7 days, so a late scan
    # still finds the ref.
    assert row.expires_at - row.created_at > timedelta(days=6, hours=23)
    again = requests.get(link.url, allow_redirects=False, timeout=30)
    assert again.status_code == 400 and "already used" in again.text


# -- refused refs --------------------------------------------------------------------------


@pytest.mark.parametrize("ref", ["", "x" * 129, "has space", "ünïcode", "<script>", "a#b"])
def test_a_malformed_ref_is_the_400_page(platform, either, ref):
    response = requests.get(
        f"{platform.server}/install/{either.app_id}", params={"ref": ref}, timeout=30,
        allow_redirects=False,
    )  # fmt: skip
    assert response.status_code == 400
    assert "ref must be 1 to 128 characters" in response.text
    assert db.session().scalar(select(InstallState)) is None  # nothing was started
    assert not {"get_pre_auth_code", "api_create_preauthcode"} & set(platform.calls())


def test_the_longest_ref_and_every_allowed_character_are_taken(platform, suite):
    ref = ("AZaz09._~:@+=/-" * 9)[:128]
    page = platform.start_install(suite, ref=ref)
    assert state_row(suite, state_of(page, suite)).ref == ref


# -- the landing ---------------------------------------------------------------------------


def test_an_app_without_a_secret_gets_one_at_its_first_landing_with_a_warning(
    app, platform, suite, caplog
):
    suite.landing_url = "https://isv.example.com/welcome#top"
    db.session().commit()
    response = platform.install(suite, "wwcorp-nosecret")
    db.session().expire_all()
    secret = db.session().get(App, suite.id).landing_secret
    assert secret and secret not in caplog.text
    assert "had no landing secret" in caplog.text and "--rotate-secret" in caplog.text
    where = response.headers["Location"]
    assert where.endswith("#top") and "?install=" in where  # the query goes before the fragment
    assert verify_install(query_of(where)["install"], secret)["tenant_id"] == "wwcorp-nosecret"


def test_no_landing_url_shows_the_built_in_page(platform, suite):
    response = platform.install(suite, "wwcorp-builtin")
    assert response.status_code == 200 and "Installed" in response.text
    db.session().expire_all()
    assert db.session().get(App, suite.id).landing_secret is None  # nothing was signed


def test_an_install_parameter_of_the_landing_url_is_replaced(platform, suite):
    with_landing(suite, "https://isv.example.com/welcome?install=forged&x=a%20b")
    where = platform.install(suite, "wwcorp-replaced").headers["Location"]
    assert where.startswith("https://isv.example.com/welcome?x=a%20b&install=")
    assert verify_install(query_of(where)["install"], SECRET)["tenant_id"] == "wwcorp-replaced"


def test_pruning_keeps_a_dedicated_code_while_a_late_push_may_need_it(app, platform, component):
    platform.start_install(component)  # a shared code
    platform.start_install(component, ref="cust-prune")  # a code of its own
    context.mint_link(db.session(), component, platform.server, ref="r", return_to=None)
    session = db.session()

    def expire_all(ago: timedelta) -> dict:
        for model in (PreAuthCode, InstallLink, InstallState):
            session.execute(model.__table__.update().values(expires_at=utcnow() - ago))
        session.commit()
        return housekeeping.prune_installs()

    pruned = expire_all(timedelta(seconds=1))
    assert pruned == {"install_states": 2, "pre_auth_codes": 1, "install_links": 1}
    [kept] = session.scalars(select(PreAuthCode)).all()
    assert kept.dedicated
    assert expire_all(flow.STATE_LIFETIME + timedelta(seconds=1))["pre_auth_codes"] == 1
