"""The background thread that pushes a ticket to every registered app every `ticket_interval`
seconds (wecom-suite.md §3, open-platform.md §1: every 10 minutes), give or take: the gaps
observed are 7-14 minutes (wecom-suite.md §3), and the Open Platform repeats a ticket now and then
(open-platform.md §1), so a server that counts on either rhythm fails here as it would there."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from suite_server.sandbox import audits
from suite_server.sandbox.events import push_scheduled_ticket
from suite_server.sandbox.pushes import Pusher
from suite_server.sandbox.state import SandboxState

log = logging.getLogger(__name__)
# A gap between two tickets is 0.7-1.4 x ticket_interval: 7-14 minutes around the nominal 10.
JITTER = (0.7, 1.4)


class Ticker:
    """Pushes due tickets, one app after the other. Cadence uses the real monotonic clock (the
    state's clock may be moved by tests); registration pushes its own first ticket, so a new app
    is first due one interval after the ticker sees it. The gaps are drawn from the state's
    (seedable) random generator."""

    def __init__(
        self,
        state: SandboxState,
        pusher: Pusher,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.state = state
        self.pusher = pusher
        self._monotonic = monotonic
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
            # Mini-program audits that fell due are decided and pushed (audits.py).
            try:
                wait = min(wait, audits.settle(self.state, self.pusher))
            except Exception:  # a broken audit must not stop the tickets
                log.exception("deciding due audits failed")
            self._wake.wait(wait)
            self._wake.clear()

    def _push_due(self) -> float:
        """Push every due app; return the seconds until the next one is due."""
        interval = float(self.state.settings.ticket_interval)
        longest = interval * JITTER[1] if self.state.settings.ticket_jitter else interval
        now = self._monotonic()
        with self.state.lock:
            apps = list(self.state.apps.values())
        known = {app.app_id for app in apps}
        for app_id in list(self._next_due):
            if app_id not in known:
                del self._next_due[app_id]
        for app in apps:
            if self._stopping.is_set():
                break
            due = self._next_due.get(app.app_id)
            if due is None:
                due = now + self._gap(interval)
            # A shorter interval set at run time takes effect at once.
            due = min(due, now + longest)
            if due > now:
                self._next_due[app.app_id] = due
                continue
            try:
                push_scheduled_ticket(self.state, self.pusher, app)
            except Exception:  # a broken app must not stop tickets for the others
                log.exception("ticket push to %s failed", app.app_id)
            self._next_due[app.app_id] = self._monotonic() + self._gap(interval)
        if not self._next_due:
            return interval
        return max(0.05, min(self._next_due.values()) - self._monotonic())

    def _gap(self, interval: float) -> float:
        if not self.state.settings.ticket_jitter:
            return interval
        with self.state.lock:
            return interval * self.state.random.uniform(*JITTER)
