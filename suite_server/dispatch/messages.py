"""What a handler gets: one tenant message or event as a typed object.

The common header fields are attributes; every field of the decrypted XML is in `fields` (the
platforms add fields per type: Content, PicUrl, Event, EventKey, ChangeType, ...). A tenant
lifecycle event (`tenant.authorized`, ...: tenants/events.py) has no XML: its `kind` names it,
`lifecycle` holds the tenant as the token API showed it and what changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from suite_server.models import App, InboundEvent, Tenant
from suite_server.protocol.xml import whole_number


@dataclass
class Message:
    event_id: int
    platform: str  # "wecom" or "open"
    app: App
    tenant: Tenant | None  # None when the corp / account is not (or no longer) a tenant here
    tenant_id: str | None
    kind: str  # what the router matches on: MsgType, "event:<Event>" or the InfoType
    msg_type: str  # "text", "image", "event", ... ("" for command pushes)
    event: str  # Event of an event message ("subscribe", "LOCATION", ...), else ""
    info_type: str  # InfoType of a command push ("change_contact", ...), else ""
    from_user: str  # FromUserName: the sender's openid / userid
    to_user: str  # ToUserName: the account's gh_ id / the corp id
    create_time: int
    msg_id: str
    fields: dict[str, str] = field(default_factory=dict)
    # Lifecycle events only: {"tenant": {...}, "change": {"action", "source", "detail"}}.
    lifecycle: dict[str, Any] | None = None

    @property
    def content(self) -> str:
        """A text message's Content ("" for other types)."""
        return self.fields.get("Content", "")

    @classmethod
    def of(cls, event: InboundEvent, app: App, tenant: Tenant | None, fields: dict[str, str]):
        create_time = whole_number(fields.get("CreateTime") or fields.get("TimeStamp") or "")
        return cls(
            event_id=event.id,
            platform=app.platform,
            app=app,
            tenant=tenant,
            tenant_id=event.tenant_id,
            kind=event.kind,
            msg_type=fields.get("MsgType", ""),
            event=fields.get("Event", ""),
            info_type=fields.get("InfoType", ""),
            from_user=fields.get("FromUserName", ""),
            to_user=fields.get("ToUserName", ""),
            create_time=create_time or 0,
            msg_id=fields.get("MsgId", ""),
            fields=dict(fields),
        )

    @classmethod
    def of_lifecycle(cls, event: InboundEvent, app: App, tenant: Tenant | None, body: dict):
        created = event.received_at
        return cls(
            event_id=event.id,
            platform=app.platform,
            app=app,
            tenant=tenant,
            tenant_id=event.tenant_id,
            kind=event.kind,
            msg_type="",
            event="",
            info_type="",
            from_user="",
            to_user="",
            create_time=int(created.timestamp()) if created else 0,
            msg_id="",
            lifecycle=body,
        )

    @property
    def ref(self) -> str | None:
        """A lifecycle event's install reference (the tenant's `ref`), else None."""
        return ((self.lifecycle or {}).get("tenant") or {}).get("ref")

    def as_json(self) -> dict[str, Any]:
        """The message as webhooks send it (no secrets: the payload the platform pushed; for a
        lifecycle event the tenant as the token API shows it, and the change)."""
        if self.lifecycle is not None:
            return {**self._header(), **self.lifecycle}
        return self._header()

    def _header(self) -> dict[str, Any]:
        return {
            "id": f"evt_{self.event_id}",
            "platform": self.platform,
            "app_id": self.app.app_id,
            "tenant_id": self.tenant_id,
            "kind": self.kind,
            "msg_type": self.msg_type,
            "event": self.event,
            "info_type": self.info_type,
            "from_user": self.from_user,
            "to_user": self.to_user,
            "create_time": self.create_time,
            "msg_id": self.msg_id,
            "fields": self.fields,
        }
