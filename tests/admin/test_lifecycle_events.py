"""A lifecycle event in the admin: its page shows the stored JSON (the tenant as it was and the
change), indented and escaped, like a push's XML."""

from __future__ import annotations

from sqlalchemy import select

from suite_server import db
from suite_server.models import InboundEvent, Tenant
from suite_server.tenants import events, lifecycle
from tests import factories


def test_a_lifecycle_event_page_shows_its_json(signed_in, app):
    session = db.session()
    suite = factories.wecom_app(session, app_id="wwlifepage")
    tenant = Tenant(app_pk=suite.id, tenant_id="wwcorp<b>", name="Acme <b>", credential="pc")
    session.add(tenant)
    session.commit()
    lifecycle.cancel_tenant(session, tenant, "admin", "deactivated by alice")
    session.commit()
    event = session.scalar(select(InboundEvent).where(InboundEvent.channel == events.CHANNEL))

    body = signed_in.get(f"/admin/events/{event.id}").get_data(as_text=True)
    assert "tenant.cancelled" in body and "lifecycle" in body
    assert "\n    &#34;status&#34;: &#34;cancelled&#34;," in body  # indented, escaped
    assert "Acme &lt;b&gt;" in body and "Acme <b>" not in body
    assert "pc" not in body.split("<pre", 1)[1].split("</pre>", 1)[0]  # never the credential
