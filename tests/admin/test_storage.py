"""The dashboard's storage table: each pruned table's rows, size and oldest row kept, and the
retention that applies (processing/retention.py)."""

from __future__ import annotations

from suite_server import db
from suite_server.processing import retention
from tests.processing.test_retention import days_ago, event, suite  # noqa: F401


def test_the_dashboard_shows_rows_and_the_oldest_row_kept(app, suite, signed_in):  # noqa: F811
    event(suite, "a", "failed", 50)
    event(suite, "b", "done", 1)
    retention.estimate_rows_fresh(db.session())
    body = signed_in.get("/admin/").get_data(as_text=True)
    assert 'id="storage-inbound_events"' in body
    row = body.split('id="storage-inbound_events"')[1].split("</tr>")[0]
    assert '<td class="rows">2</td>' in row
    oldest = days_ago(50).strftime("%Y-%m-%d")
    assert f'datetime="{oldest}' in row
    assert "<code>events</code> 30" in row and "<code>failed_events</code> 90" in row
