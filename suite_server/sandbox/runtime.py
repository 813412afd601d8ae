"""The running sandbox's parts (state, pusher, ticker) as one object, and how routes find it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import current_app

if TYPE_CHECKING:
    from suite_server.sandbox.pushes import Pusher
    from suite_server.sandbox.state import SandboxState
    from suite_server.sandbox.ticker import Ticker

EXTENSION = "suite_server.sandbox"


@dataclass
class Sandbox:
    state: SandboxState
    pusher: Pusher
    ticker: Ticker


def current_sandbox() -> Sandbox:
    return current_app.extensions[EXTENSION]
