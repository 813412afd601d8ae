"""Which handler gets a message: handlers registered like Flask views, by what they handle.

    @router.message("text")                     every text message, every app
    @router.event("subscribe", platform="open")  subscribe events of Open accounts
    @router.info("change_contact", app_id="ww...")
    @router.message(sync=True)                  the default for messages; may return a Reply
    @router.lifecycle("tenant.cancelled")       a tenant's lifecycle (tenants/events.py)

A message goes to the most specific matching handler: one naming its tenant beats one naming its
app, which beats one naming its platform, which beats one naming none; an exact type beats the
default ("*"). One handler per message. `sync=True` handlers run inside the platform's request
and may return a reply; the others run in a job after `success` was answered.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from suite_server.dispatch.messages import Message

Handler = Callable[[Message], Any]
ANY = "*"


@dataclass(frozen=True)
class Route:
    kind: str  # "message", "event", "info" or "lifecycle"
    name: str  # MsgType, Event or InfoType (as the platform spells it), the lifecycle kind, "*"
    platform: str | None
    app_id: str | None
    tenant_id: str | None
    sync: bool
    fn: Handler

    def matches(self, message: Message) -> bool:
        return (
            self.platform in (None, message.platform)
            and self.app_id in (None, message.app.app_id)
            and self.tenant_id in (None, message.tenant_id)
            and self.name in (ANY, _name(self.kind, message))
        )

    def rank(self) -> tuple[int, int, int, int]:
        return (
            self.tenant_id is not None,
            self.app_id is not None,
            self.platform is not None,
            self.name != ANY,
        )


def kind_of(message: Message) -> str:
    if message.lifecycle is not None:
        return "lifecycle"
    if message.info_type:
        return "info"
    return "event" if message.msg_type == "event" else "message"


def _name(kind: str, message: Message) -> str:
    if kind == "lifecycle":
        return message.kind
    return {"info": message.info_type, "event": message.event, "message": message.msg_type}[kind]


class Router:
    def __init__(self) -> None:
        self.routes: list[Route] = []

    def message(self, msg_type: str = ANY, **options: Any) -> Callable[[Handler], Handler]:
        return self._register("message", msg_type, **options)

    def event(self, event: str = ANY, **options: Any) -> Callable[[Handler], Handler]:
        return self._register("event", event, **options)

    def info(self, info_type: str = ANY, **options: Any) -> Callable[[Handler], Handler]:
        return self._register("info", info_type, **options)

    def lifecycle(self, kind: str = ANY, **options: Any) -> Callable[[Handler], Handler]:
        """Tenant lifecycle events: `tenant.authorized`, `tenant.cancelled`, ... (run in a job,
        never in a platform's request: `sync` does not apply)."""
        if options.get("sync"):
            raise ValueError("lifecycle handlers run in jobs: sync=True does not apply")
        return self._register("lifecycle", kind, **options)

    def _register(
        self,
        kind: str,
        name: str,
        *,
        platform: str | None = None,
        app_id: str | None = None,
        tenant_id: str | None = None,
        sync: bool = False,
    ) -> Callable[[Handler], Handler]:
        if platform not in (None, "wecom", "open"):
            raise ValueError("platform must be wecom, open or None")

        def decorate(fn: Handler) -> Handler:
            self.routes.append(Route(kind, name, platform, app_id, tenant_id, sync, fn))
            return fn

        return decorate

    def resolve(self, message: Message) -> Route | None:
        """The most specific route for this message, or None."""
        kind = kind_of(message)
        candidates = [r for r in self.routes if r.kind == kind and r.matches(message)]
        return max(candidates, key=Route.rank, default=None)

    def clear(self) -> None:
        self.routes.clear()


router = Router()


def load(modules: Iterable[str]) -> None:
    """Import the handler modules named in settings (HANDLERS): importing one registers its
    handlers on `router`. An import error stops the start with the module's name."""
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise ImportError(f"HANDLERS: cannot import {name!r}: {exc}") from exc
