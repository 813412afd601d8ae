"""Webhooks: tenant messages POSTed to the ISV's receivers (docs/webhooks.md).

`delivery.py` (schedule, the deliver job, the HTTP POST, retries, redeliver, the sweep),
`ordering.py` (one tenant's deliveries to a receiver in order, each handing over to the next),
`signing.py` (sign, verify: what a receiver checks), `settings.py` (the app's and tenants'
webhook URLs and the app's secret, the listing), `receivers.py` (an app's other receivers, each
with its own secret and the kinds it gets), `sync.py` (the synchronous receiver, asked inside the
platform's request for a passive reply). The names the rest of the code uses are here:
`from suite_server.dispatch import webhooks`, then `webhooks.schedule(...)`.
"""

from suite_server.db import utcnow  # the clock deliveries are stamped by (tests read it here)
from suite_server.dispatch.webhooks import receivers
from suite_server.dispatch.webhooks.delivery import (
    Outcome,
    Target,
    deliver,
    failed_ids,
    post,
    redeliver,
    schedule,
    sweep,
    targets,
)
from suite_server.dispatch.webhooks.settings import (
    check_url,
    configure_app,
    configure_tenant,
    new_secret,
    overview,
)
from suite_server.dispatch.webhooks.signing import sign, verify
from suite_server.dispatch.webhooks.sync import Asked
from suite_server.dispatch.webhooks.sync import ask as ask_sync

__all__ = [
    "Asked",
    "Outcome",
    "Target",
    "ask_sync",
    "check_url",
    "configure_app",
    "configure_tenant",
    "deliver",
    "failed_ids",
    "new_secret",
    "overview",
    "post",
    "receivers",
    "redeliver",
    "schedule",
    "sign",
    "sweep",
    "targets",
    "utcnow",
    "verify",
]
