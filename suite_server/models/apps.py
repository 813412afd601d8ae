"""Apps (a WeCom suite or an Open Platform component) and the tickets the platform pushes them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from suite_server.crypto.secrets import EncryptedText
from suite_server.db import Base, UTCDateTime, utcnow

PLATFORMS = ("wecom", "open")
# What an app row is (docs/tokens.md "Three kinds of WeCom token"):
# - suite: a WeCom third-party app; its tenants' tokens come from get_corp_token;
# - template: a WeCom customized-app template (代开发, suite id `dk...`): its tenants' permanent
#   code is their app's secret and their token comes from gettoken;
# - provider: the ISV's WeCom provider account (服务商): provider token and system event URL,
#   no tenants and no tickets;
# - component: an Open Platform third-party platform.
KINDS = ("suite", "template", "provider", "component")


def kind_for(platform: str, app_id: str) -> str:
    """The kind an app registered with `apps add` gets: WeCom template ids start with `dk`."""
    if platform == "open":
        return "component"
    return "template" if app_id.startswith("dk") else "suite"


class App(Base):
    __tablename__ = "apps"
    __table_args__ = (
        CheckConstraint("platform IN ('wecom', 'open')", name="platform"),
        CheckConstraint("kind IN ('suite', 'template', 'provider', 'component')", name="kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(16), default="suite")  # KINDS
    # suite_id (WeCom), provider corpid or component_appid (Open): the id in every URL and
    # upstream call.
    app_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    secret: Mapped[str] = mapped_column(EncryptedText)
    # The callback Token and EncodingAESKey from the console. The previous key is kept so pushes
    # still decrypt while the console rotates it (open-platform.md §0 "Key rotation").
    token: Mapped[str] = mapped_column(EncryptedText)
    aes_key: Mapped[str] = mapped_column(EncryptedText)
    previous_aes_key: Mapped[str | None] = mapped_column(EncryptedText)
    # WeCom suites and templates: their provider account (an app of kind provider, when one is
    # registered): URL checks (GET echostr) are encrypted with its corpid (wecom-suite.md §1),
    # and a template's install link needs its token.
    provider_corpid: Mapped[str | None] = mapped_column(String(64))
    test_mode: Mapped[bool] = mapped_column(default=False)
    landing_url: Mapped[str | None] = mapped_column(String(500))
    # Signs the assertion the landing redirect carries (authorization/context.py); made when
    # first needed, shown once by `suite-server apps landing`.
    landing_secret: Mapped[str | None] = mapped_column(EncryptedText)
    # Where an install link may send the browser back to: URL prefixes, one per line.
    return_to_allowed: Mapped[str | None] = mapped_column(Text)
    # Where tenant messages are POSTed, signed with the secret (dispatch/webhooks/).
    webhook_url: Mapped[str | None] = mapped_column(String(500))
    webhook_secret: Mapped[str | None] = mapped_column(EncryptedText)
    # Pushes refused because neither AES key decrypts them (the console has another key): since
    # when, and the latest. Shown on the "at risk" page until a ticket decrypts again.
    key_mismatch_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    key_mismatch_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Open: the permission sets (func_info ids) the app needs; a tenant without one is at risk.
    required_func_info: Mapped[list[int] | None] = mapped_column(JSON)
    # Open: when we last asked the platform to resume ticket pushes (api_start_push_ticket).
    ticket_push_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @property
    def is_template(self) -> bool:
        return self.kind == "template"

    @property
    def is_provider(self) -> bool:
        return self.kind == "provider"

    def aes_keys(self) -> list[str]:
        """Current key first, then the previous one: the order pushes are tried in."""
        return [k for k in (self.aes_key, self.previous_aes_key) if k]


class Ticket(Base):
    """One suite_ticket / component_verify_ticket as pushed. Several are kept: the newest by the
    push's own timestamp is used, and an older unexpired one is the fallback when the platform
    rejects the newest (wecom-suite.md §3, open-platform.md §1)."""

    __tablename__ = "tickets"
    __table_args__ = (
        UniqueConstraint("app_pk", "value_hash"),
        Index("ix_tickets_app_pk_pushed_at", "app_pk", "pushed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    app_pk: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    value: Mapped[str] = mapped_column(EncryptedText)
    # sha256 of the value: the platform may push the same ticket many times (open-platform.md §1).
    value_hash: Mapped[str] = mapped_column(String(64))
    pushed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
