"""The running sandbox's parts (state, pusher, ticker) as one object, and how routes find it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import current_app

if TYPE_CHECKING:
    from suite_server.sandbox.pushes import Pusher
    from suite_server.sandbox.state import App, Provider, SandboxState
    from suite_server.sandbox.ticker import Ticker

EXTENSION = "suite_server.sandbox"


@dataclass
class Sandbox:
    state: SandboxState
    pusher: Pusher
    ticker: Ticker

    def register(self, app: App, push_ticket: bool = True) -> App | None:
        """Add or replace an app (its tenants stay); returns the app it replaced. Like the
        platform at approval, pushes a first ticket (in the background) unless told not to."""
        from suite_server.sandbox import events

        with self.state.lock:
            existing = self.state.apps.get(app.app_id)
            self.state.apps[app.app_id] = app
        if push_ticket:
            self.pusher.deliver_later(lambda: events.push_ticket(self.state, self.pusher, app))
        self.ticker.wake()
        return existing

    def register_provider(self, provider: Provider) -> Provider | None:
        """Add or replace a provider account; returns the one it replaced."""
        with self.state.lock:
            existing = self.state.providers.get(provider.corpid)
            self.state.providers[provider.corpid] = provider
        return existing

    def verify_urls(self, app_id: str) -> list[dict]:
        """What the console does when the ISV saves the app's callback URLs: WeCom checks both
        with a GET echostr (url_check.py); the Open Platform checks none, so [] for a component.
        Each outcome has `verified`, `error` and a one-line `summary`. A provider corpid checks
        the provider's system-event URL."""
        from suite_server.sandbox import url_check
        from suite_server.sandbox.pushes import SYSTEM
        from suite_server.sandbox.state import WECOM

        app = self.state.app(app_id, WECOM)
        if app is None and self.state.app(app_id) is None:
            provider = self.state.provider(app_id)
            if provider is not None:
                return url_check.verify_urls(self.state, provider.as_app(), [SYSTEM])
        return [] if app is None else url_check.verify_urls(self.state, app)


def current_sandbox() -> Sandbox:
    return current_app.extensions[EXTENSION]
