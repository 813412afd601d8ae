"""How long to wait before trying again: one backoff for everything here that retries, a job
after a failed attempt (attempts.py) and a webhook delivery after its receiver failed it
(dispatch/webhooks/delivery.py). Each passes its own base and cap."""

from __future__ import annotations

import random


def backoff(failures: int, base: float, cap: float) -> float:
    """Seconds to wait after the `failures`-th failure: `base` doubling with each failure, capped
    at `cap`, half of it random ("equal jitter") so what failed together, say during an outage
    upstream or at a receiver, does not all come back in the same second."""
    ceiling = min(cap, base * 2 ** (failures - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)
