"""The small error hierarchy the services raise; each blueprint maps them to HTTP in one place."""

from __future__ import annotations


class BadCallback(Exception):
    """A push refused with an HTTP status (contract.md "Callback URLs": 404 unknown app,
    403 bad signature / stale timestamp / foreign receive id, 400 malformed, 413 too large)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
