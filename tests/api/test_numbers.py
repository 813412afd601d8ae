"""Numbers in query strings are parsed strictly everywhere (suite_server/whole_numbers.py): the
token API's `limit` and cursor, and the admin list pages' `before`. Bad input is a clear 400,
never a 500, and never a way past a maximum."""

from __future__ import annotations

import base64

import pytest

from suite_server import db
from suite_server.errors import BadNumber
from suite_server.models import Tenant
from suite_server.whole_numbers import MAX_ID, whole_number
from tests import factories
from tests.api.test_routes import error_of

FAR_TOO_LONG = "0001" + "0" * 5000  # int() refuses it (ValueError) after 4,300 digits


@pytest.mark.parametrize(
    "value",
    [
        "0",
        "-1",
        "+5",
        " 5",
        "5 ",
        "5\n",
        "5_0",
        "1e3",
        "0x10",
        "010",
        "0001000",
        "501",
        "1000",
        "\u00b2",
        "\u0665",
        "\uff15",
        FAR_TOO_LONG,
        "9" * 40,
    ],
)
def test_the_parser_takes_plain_ascii_digits_in_range_only(value):
    with pytest.raises(BadNumber, match="^limit must be a whole number from 1 to 500$"):
        whole_number(value, "limit", minimum=1, maximum=500)


def test_the_parser_reads_what_it_should():
    assert whole_number("1", "n", minimum=1, maximum=500) == 1
    assert whole_number("500", "n", minimum=1, maximum=500) == 500
    assert whole_number("0", "n", minimum=0, maximum=9) == 0
    assert whole_number(None, "n", minimum=1, maximum=5, default=3) == 3
    assert whole_number("", "n", minimum=1, maximum=5) is None
    assert whole_number(str(MAX_ID), "n", minimum=1, maximum=MAX_ID) == MAX_ID


# -- the token API -----------------------------------------------------------------------------


@pytest.fixture
def seven_hundred(app, auth):
    session = db.session()
    suite = factories.wecom_app(session, app_id="wwsuite")
    session.add_all(
        Tenant(app_pk=suite.id, tenant_id=f"ww{n:04d}", name=f"Corp {n}", credential="pc")
        for n in range(700)
    )
    session.commit()


def test_limit_tricks_are_400_not_a_bigger_page_or_a_500(client, auth, seven_hundred):
    for limit in ["0001000", "0500", "010", FAR_TOO_LONG, "+5", "%205", "5_0", "%EF%BC%95"]:
        response = client.get(f"/api/v1/apps/wwsuite/tenants?limit={limit}", headers=auth)
        message = error_of(response, 400, "bad_request")
        assert message == "limit must be a whole number from 1 to 500", limit


def test_the_largest_page_is_500(client, auth, seven_hundred):
    response = client.get("/api/v1/apps/wwsuite/tenants?limit=500", headers=auth)
    assert len(response.get_json()["tenants"]) == 500


def test_a_cursor_holds_a_plain_number(client, auth, seven_hundred):
    # 2**31: past any tenant id (an INTEGER key, which PostgreSQL will not compare with it).
    for inside in [b"0005", b"+5", b" 5", b"5_0", b"", b"0", b"2147483648", b"253402300800"]:
        cursor = base64.urlsafe_b64encode(inside).decode().rstrip("=") or "="
        response = client.get(f"/api/v1/apps/wwsuite/tenants?cursor={cursor}", headers=auth)
        assert error_of(response, 400, "bad_request") == "cursor is not one this API gave out"


# -- the admin list pages ----------------------------------------------------------------------


LISTS = ["/admin/tenants", "/admin/events", "/admin/webhooks", "/admin/audit"]


def test_a_bad_before_on_an_admin_list_is_a_clear_400_and_a_good_one_pages(admin_browser):
    for page in LISTS:
        for before in ["%C2%B2", "abc", "-1", "0", "007", FAR_TOO_LONG, "9" * 30]:
            response = admin_browser.get(f"{page}?before={before}")
            assert response.status_code == 400, (page, before)
            assert "before must be a whole number from 1 to" in response.get_data(as_text=True)
        assert admin_browser.get(f"{page}?before=5").status_code == 200
        assert admin_browser.get(f"{page}?before=").status_code == 200
        # Past what the list's id column holds (tenants: INTEGER; the others: BIGINT).
        too_big = "2147483648" if page == "/admin/tenants" else str(2**62 + 1)
        assert admin_browser.get(f"{page}?before={too_big}").status_code == 400, page
    assert admin_browser.get("/admin/tenants?before=2147483647").status_code == 200
    assert admin_browser.get(f"/admin/events?before={2**62}").status_code == 200


def test_an_id_past_any_row_is_404_not_500(admin_browser):
    for page in ["/admin/events/99999999999999999999999", "/admin/webhooks/" + "9" * 40]:
        assert admin_browser.get(page).status_code == 404, page
