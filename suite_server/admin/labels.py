"""How the admin names the enumerated values it shows as words: statuses, license and account
states, in the admin's language (Flask-Babel, i18n.py).

The values themselves (models' STATUSES, tenants/views.license_state, tenants/capabilities'
ACCOUNT_STATES...) stay in English in the database, the API, the CLI and the logs, and in the
pages' CSS classes and data attributes; only the word a reader sees is looked up here. The
English labels are the values as the pages always showed them, so an English page is unchanged.
A value without a label (one added later) is shown as it is.
"""

from __future__ import annotations

from flask_babel import lazy_gettext

# The badge of a tenant, an event, a webhook delivery or an API key (macros.html `status`).
STATUSES = {
    # models/tenants.STATUSES
    "active": lazy_gettext("active"),
    "needs_reauth": lazy_gettext("needs_reauth"),
    "cancelled": lazy_gettext("cancelled"),
    # models/events.STATUSES and models/webhooks.STATUSES
    "pending": lazy_gettext("pending"),
    "done": lazy_gettext("done"),
    "failed": lazy_gettext("failed"),
    "ignored": lazy_gettext("ignored"),
    "delivered": lazy_gettext("delivered"),
    # API keys (api_keys.html)
    "revoked": lazy_gettext("revoked"),
}

# A WeCom tenant's interface-license state (tenants/views.license_state) and what it means.
LICENSE_STATES = {
    "licensed": lazy_gettext("licensed"),
    "trial": lazy_gettext("trial"),
    "unlicensed": lazy_gettext("unlicensed"),
    "not_required": lazy_gettext("not_required"),
    "unknown": lazy_gettext("unknown"),
}
LICENSE_STATE_NOTES = {
    "licensed": lazy_gettext("members hold active accounts"),
    "trial": lazy_gettext("the 90-day trial is not over"),
    "unlicensed": lazy_gettext(
        "the trial is over and no member holds an active account: calls for members are refused"
    ),
    "not_required": lazy_gettext("the platform does not check licenses for this app"),
    "unknown": lazy_gettext("not read yet"),
}

# An Open Platform account's status as the platform gives it (tenants/capabilities.py
# ACCOUNT_STATES, keyed by their English names).
ACCOUNT_STATES = {
    "normal": lazy_gettext("normal"),
    "deregistered": lazy_gettext("deregistered"),
    "banned": lazy_gettext("banned"),
    "warned": lazy_gettext("warned"),
    "frozen": lazy_gettext("frozen"),
    "unknown": lazy_gettext("unknown"),
}

# A paid app's edition_info app_status (billing/risks.APP_STATUSES names them in English).
EDITION_STATUSES = {
    1: lazy_gettext("trial"),
    2: lazy_gettext("trial expired"),
    3: lazy_gettext("paid"),
    4: lazy_gettext("paid, expired"),
    5: lazy_gettext("unlimited trial"),
    6: lazy_gettext("over its seats, within the 7 days' grace"),
    7: lazy_gettext("over its seats, past the grace"),
}

# Whether a tenant's credential (permanent code, refresh token) is stored (admin/tenants.py).
CREDENTIALS = {"present": lazy_gettext("present"), "missing": lazy_gettext("missing")}

# An Open registration request's kind and status (authorization/registrations.py).
REGISTRATION_KINDS = {
    "enterprise": lazy_gettext("enterprise"),
    "personal": lazy_gettext("personal"),
    "beta": lazy_gettext("beta"),
}
REGISTRATION_STATUSES = {
    "pending": lazy_gettext("pending"),
    "succeeded": lazy_gettext("succeeded"),
    "failed": lazy_gettext("failed"),
}

# A deployment's status and its targets' steps (models/releases.py).
DEPLOYMENT_STATUSES = {
    "running": lazy_gettext("running"),
    "finished": lazy_gettext("finished"),
    "stopped": lazy_gettext("stopped"),
}
DEPLOYMENT_STEPS = {
    "commit": lazy_gettext("commit"),
    "submit": lazy_gettext("submit"),
    "auditing": lazy_gettext("auditing"),
    "release": lazy_gettext("release"),
    "released": lazy_gettext("released"),
    "failed": lazy_gettext("failed"),
    "revert": lazy_gettext("revert"),
    "reverted": lazy_gettext("reverted"),
}


def label(labels: dict, value) -> str:
    """`value`'s label in the admin's language, or the value itself when it has none."""
    found = labels.get(value)
    return str(found) if found is not None else ("" if value is None else str(value))


def status(value: str | None) -> str:
    return label(STATUSES, value)


def license_state(value: str | None) -> str:
    return label(LICENSE_STATES, value)


def license_state_note(value: str | None) -> str:
    return label(LICENSE_STATE_NOTES, value)


def account_state(value: str | None) -> str:
    return label(ACCOUNT_STATES, value)


def edition_status(value: int | None) -> str:
    return label(EDITION_STATUSES, value)


def credential(value: str) -> str:
    return label(CREDENTIALS, value)


def registration_kind(value: str) -> str:
    return label(REGISTRATION_KINDS, value)


def registration_status(value: str) -> str:
    return label(REGISTRATION_STATUSES, value)


def deployment_status(value: str) -> str:
    return label(DEPLOYMENT_STATUSES, value)


def deployment_step(value: str) -> str:
    return label(DEPLOYMENT_STEPS, value)
