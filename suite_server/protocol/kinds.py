"""Which kind of push is which: a ticket, an authorization push, a platform notice about a
tenant, or a tenant's message or event (wecom-suite.md §3, open-platform.md §2-3)."""

from __future__ import annotations

# platform -> (InfoType, field with the ticket, field naming the app, field with the push time)
TICKETS = {
    "wecom": ("suite_ticket", "SuiteTicket", "SuiteId", "TimeStamp"),  # wecom-suite.md §3
    "open": ("component_verify_ticket", "ComponentVerifyTicket", "AppId", "CreateTime"),  # §2
}
TICKET_KINDS = {info_type for info_type, *_ in TICKETS.values()}

# Authorization pushes: WeCom create_auth, change_auth, cancel_auth, reset_permanent_code; Open
# authorized, updateauthorized, unauthorized (wecom-suite.md §3, open-platform.md §2).
AUTHORIZATIONS = {
    "wecom": ("create_auth", "change_auth", "cancel_auth", "reset_permanent_code"),
    "open": ("authorized", "updateauthorized", "unauthorized"),
}

# Pushes the platform sends about a tenant, not from its users: an order may come before the
# install, a registration names an account that has not authorized yet, a refund may follow a
# cancellation. They reach handlers and webhooks whatever we know of the tenant, where a tenant
# message from a corp or account that is not an active tenant here is stored and not dispatched.
NOTICES = {
    "wecom": frozenset(
        ("open_order", "change_order", "pay_for_app_success", "refund", "change_editon")
    ),
    "open": frozenset(("notify_third_fasteregister", "notify_third_fastregisterbetaapp")),
}


# Paid-app order and edition pushes (isv-capabilities §8): processed (billing/), each making a
# lifecycle event (`order.paid`, `edition.changed`, ...); no longer handed on raw.
BILLING = {
    "wecom": ("open_order", "change_order", "pay_for_app_success", "refund", "change_editon"),
    "open": (),
}


# Registration pushes (isv-capabilities §10) on the component's auth URL: processed
# (authorization/registrations.py), each making `registration.succeeded` or `.failed`.
REGISTRATIONS = {
    "wecom": (),
    "open": ("notify_third_fasteregister", "notify_third_fastregisterbetaapp"),
}

# License pushes (isv-capabilities §4) on a provider's system event URL, and the event a member
# blocked for lack of a license sends on the data URL: processed (billing/licenses.py), each
# making a lifecycle event (`license.paid`, `license.unlicensed`, ...).
LICENSES = {"wecom": ("license_pay_success", "license_refund", "auto_activate"), "open": ()}
UNLICENSED = "event:unlicensed_notify"


def kind_of(fields: dict[str, str]) -> str:
    """InfoType for platform pushes; MsgType, or event:<Event>, for tenant messages."""
    if fields.get("InfoType"):
        return fields["InfoType"][:64]
    if fields.get("MsgType") == "event":
        return f"event:{fields.get('Event', '')}"[:64]
    return (fields.get("MsgType") or "unknown")[:64]


def is_authorization(platform: str, kind: str) -> bool:
    return kind in AUTHORIZATIONS[platform]


def is_billing(platform: str, kind: str) -> bool:
    return kind in BILLING[platform]


def is_notice(platform: str, kind: str) -> bool:
    return kind in NOTICES[platform]


def is_license(platform: str, kind: str) -> bool:
    return kind in LICENSES[platform]


def is_registration(platform: str, kind: str) -> bool:
    return kind in REGISTRATIONS[platform]
