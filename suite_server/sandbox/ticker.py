"""The background thread that pushes a ticket to every registered app every `ticket_interval`
seconds (wecom-suite.md §3, open-platform.md §1: every 10 minutes)."""

from __future__ import annotations

import logging
import threading
import time

from suite_server.sandbox.events import push_ticket
from suite_server.sandbox.pushes import Pusher
from suite_server.sandbox.state import SandboxState

log = logging.getLogger(__name__)


class Ticker:
    """Pushes due tickets, one app after the other. Cadence uses the real monotonic clock (the
    state's clock may be moved by tests); registration pushes its own first ticket, so a new app
    is first due one interval after the ticker sees it."""

    def __init__(self, state: SandboxState, pusher: Pusher) -> None:
        self.state = state
        self.pusher = pusher
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_due: dict[str, float] = {}

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="sandbox-ticker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the thread to stop and wait for it (at most `timeout` s, a push may be under way)."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wake(self) -> None:
        """Look again now: settings or the app list changed."""
        self._wake.set()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        while not self._stopping.is_set():
            wait = self._push_due()
            self._wake.wait(wait)
            self._wake.clear()

    def _push_due(self) -> float:
        """Push every due app; return the seconds until the next one is due."""
        interval = float(self.state.settings.ticket_interval)
        now = time.monotonic()
        with self.state.lock:
            apps = list(self.state.apps.values())
        known = {app.app_id for app in apps}
        for app_id in list(self._next_due):
            if app_id not in known:
                del self._next_due[app_id]
        for app in apps:
            if self._stopping.is_set():
                break
            due = self._next_due.setdefault(app.app_id, now + interval)
            # A shorter interval set at run time takes effect at once.
            due = min(due, now + interval)
            if due > now:
                self._next_due[app.app_id] = due
                continue
            try:
                push_ticket(self.state, self.pusher, app)
            except Exception:  # a broken app must not stop tickets for the others
                log.exception("ticket push to %s failed", app.app_id)
            self._next_due[app.app_id] = time.monotonic() + interval
        if not self._next_due:
            return interval
        return max(0.05, min(self._next_due.values()) - time.monotonic())
