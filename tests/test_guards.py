"""The app's global request guards: NUL characters refused with a 400 on every URL (PostgreSQL
cannot hold them, and they reached queries as 500s), and a database that refuses connections
answered with a plain-text 503 the platforms retry, pooled connections checked before use so
none fails a request after the database is back."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.engine import make_url

from suite_server import db, schema
from suite_server.models import InboundEvent, Ticket
from tests import factories
from tests.admin.conftest import admin_user, csrf_token, signed_in  # noqa: F401
from tests.admin.conftest import client as browser  # noqa: F401
from tests.callbacks import pushes
from tests.conftest import make_app

KEY = factories.AES_KEY


@pytest.fixture
def suite(app):
    suite = factories.wecom_app(db.session(), app_id="wwsuite", provider_corpid="wwprovider")
    factories.tenant(db.session(), suite, tenant_id="wwcorp1")
    return suite


NUL_URLS = [
    ("GET", "/callback/wecom/ww%00suite/command?echostr=x&timestamp=1&nonce=1&msg_signature=x"),
    ("POST", "/callback/wecom/ww%00suite/data"),
    ("POST", "/callback/open/wx%00/auth"),
    ("POST", "/callback/open/wxcomponent/msg/wx%00account"),
    ("POST", "/callback/wecom/wwsuite/command?timestamp=%00&nonce=1&msg_signature=x"),
    ("GET", "/install/ww%00suite"),
    ("GET", "/install/wwsuite/done?state=%00&auth_code=x"),
    ("GET", "/install/wwsuite/done?state=abc&auth_code=%00"),
    ("GET", "/install/wwsuite?state=%00"),
    ("GET", "/admin/login?next=%00"),
    ("GET", "/api/v1/apps/ww%00suite/access-token"),
    ("GET", "/api/v1/apps/wwsuite/tenants/ww%00corp1"),
    ("GET", "/api/v1/apps/wwsuite/tenants?q=%00"),
    ("GET", "/nothing/here/%00"),
]


@pytest.mark.parametrize(("method", "url"), NUL_URLS)
def test_nul_in_a_path_or_query_is_400_everywhere(app, suite, method, url):
    answer = app.test_client().open(url, method=method, data=b"<xml/>")
    assert answer.status_code == 400, (url, answer.status_code)
    assert b"NUL" in answer.data
    if url.startswith("/api/"):  # in the token API's error shape
        assert answer.json["error"]["code"] == "bad_request"


def test_nul_in_the_signed_in_admin_pages_is_400(app, suite, signed_in):  # noqa: F811
    for url in [
        "/admin/tenants?q=%00",
        "/admin/tenants?app=ww%00",
        "/admin/tenants/wwsuite/ww%00corp",
        "/admin/apps/ww%00suite",
        "/admin/events?app=%00",
        "/admin/webhooks?cursor=%00",
    ]:
        answer = signed_in.get(url)
        assert answer.status_code == 400, (url, answer.status_code)


def test_nul_in_a_form_field_is_400(app, browser, admin_user):  # noqa: F811
    token = csrf_token(browser, "/admin/login")
    for username in ("ops\x00", "\x00"):
        answer = browser.post(
            "/admin/login", data={"csrf_token": token, "username": username, "password": "x"}
        )
        assert answer.status_code == 400, answer.status_code


def test_the_callbacks_still_read_an_xml_body_sent_as_a_form(app, suite):
    """The form check skips the callback URLs: their body is XML whatever the Content-Type."""
    query, body = pushes.push(
        "wecom", "QDG6eK", KEY, "wwsuite", pushes.suite_ticket("wwsuite", "T")
    )
    answer = app.test_client().post(
        "/callback/wecom/wwsuite/command",
        query_string=query,
        data=body,
        content_type="application/x-www-form-urlencoded",
    )
    assert (answer.status_code, answer.data) == (200, b"success")


# -- the database away -----------------------------------------------------------------------


class Postgres:
    """One PostgreSQL database of the test's own, which the test can make refuse connections and
    whose backends it can end, as a restart or a failover does."""

    def __init__(self, url: str) -> None:
        self.name = make_url(url).database
        self.admin = sa.create_engine(
            make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT"
        )

    def refuse(self, refusing: bool) -> None:
        with self.admin.connect() as connection:
            connection.execute(
                sa.text(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS {str(not refusing)}')
            )

    def end_backends(self) -> None:
        """pg_terminate_backend on every connection to the database until none is left (ending
        is asynchronous, and a job of the app may open one meanwhile)."""
        query = "SELECT pid FROM pg_stat_activity WHERE datname = :name AND pid <> pg_backend_pid()"
        terminate = "SELECT pg_terminate_backend(:pid)"
        deadline = time.monotonic() + 10
        with self.admin.connect() as connection:
            pids = connection.scalars(sa.text(query), {"name": self.name}).all()
            assert pids, "the app holds no pooled connection: nothing to end"
            while pids:
                for pid in pids:
                    connection.execute(sa.text(terminate), {"pid": pid})
                assert time.monotonic() < deadline, "backends did not end"
                time.sleep(0.05)
                pids = connection.scalars(sa.text(query), {"name": self.name}).all()

    def close(self) -> None:
        self.refuse(False)
        self.admin.dispose()


@pytest.fixture
def own_postgres(postgres, tmp_path):
    url = postgres.empty_url(tmp_path)
    app = make_app(tmp_path / "instance", url)
    schema.upgrade(app)
    server = Postgres(url)
    with app.app_context():
        yield app, server
    db.dispose(app)
    server.close()


def ticket(client, value: str):
    query, body = pushes.push(
        "wecom", "QDG6eK", KEY, "wwsuite", pushes.suite_ticket("wwsuite", value)
    )
    return client.post("/callback/wecom/wwsuite/command", query_string=query, data=body)


def text_message(client, msg_id: str):
    """A corp's message: encrypted with the corp's id, so its receive id is looked up (the
    main engine) before the push is stored (the push engine)."""
    message = pushes.text_message("wwcorp1", "zhangsan", "hi", msg_id)
    query, body = pushes.push("wecom", "QDG6eK", KEY, "wwcorp1", message, to="wwcorp1")
    return client.post("/callback/wecom/wwsuite/data", query_string=query, data=body)


def stored_tickets() -> list[str]:
    db.session().rollback()
    return sorted(db.session().scalars(select(Ticket.value)))


def test_a_database_refusing_connections_gets_503_in_plain_text(own_postgres):
    app, server = own_postgres
    suite = factories.wecom_app(db.session(), app_id="wwsuite")
    factories.tenant(db.session(), suite, tenant_id="wwcorp1")
    client = app.test_client()
    assert ticket(client, "BEFORE").data == b"success"
    assert text_message(client, "1").data == b"success"
    db.session().close()

    server.refuse(True)
    server.end_backends()
    for answer in (
        ticket(client, "DURING"),
        text_message(client, "2"),
        client.get("/install/wwsuite"),
    ):
        assert answer.status_code == 503, answer.data
        assert answer.content_type.startswith("text/plain")
        assert answer.headers["Retry-After"]
        assert b"Traceback" not in answer.data and b"<" not in answer.data
    answer = client.get("/api/v1/apps", headers={"Authorization": "Bearer sk_whatever"})
    assert answer.status_code == 503 and answer.json["error"]["code"] == "database_unavailable"

    server.refuse(False)
    assert ticket(client, "AFTER").data == b"success"
    assert ticket(client, "DURING").data == b"success"  # the platform's retry
    assert text_message(client, "2").data == b"success"
    assert stored_tickets() == ["AFTER", "BEFORE", "DURING"]


def test_connections_ended_by_a_restart_fail_no_request(own_postgres):
    """The pools hold connections the database ended (a restart, a failover) a moment ago, well
    inside the idle time after which one is pinged anyway: each is found dead on checkout and
    replaced, and the pushes are stored."""
    app, server = own_postgres
    suite = factories.wecom_app(db.session(), app_id="wwsuite")
    factories.tenant(db.session(), suite, tenant_id="wwcorp1")
    client = app.test_client()
    for round_ in range(3):
        assert ticket(client, f"T{round_}").data == b"success"
        assert text_message(client, str(round_)).data == b"success"
        db.session().close()
        server.end_backends()
    assert ticket(client, "LAST").status_code == 200
    assert text_message(client, "99").status_code == 200
    assert stored_tickets() == ["LAST", "T0", "T1", "T2"]
    db.session().rollback()
    texts = db.session().scalars(select(InboundEvent).where(InboundEvent.kind == "text")).all()
    assert len(texts) == 4
