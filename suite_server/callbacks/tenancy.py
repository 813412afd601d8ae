"""Which tenant a push is about (which pushes are notices about a tenant rather than messages
from one is wire format: protocol/kinds.py)."""

from __future__ import annotations

from suite_server.errors import BadCallback

MAX_TENANT_ID = 64  # the tenant_id columns; corpids and appids are far shorter

# The field naming the tenant of a command / auth push, in the order tried. Authorization pushes
# carry AuthCorpId / AuthorizerAppid; paid-app order pushes name the paying corp in PaidCorpId
# (wecom-suite.md: open_order, change_order, pay_for_app_success, refund, change_editon); Open's
# registration pushes name the new account in a lower-case `appid` tag (AppId is the component).
TENANT_FIELDS = {
    "wecom": ("AuthCorpId", "PaidCorpId"),
    "open": ("AuthorizerAppid", "appid"),
}


def tenant_of(
    platform: str,
    channel: str,
    fields: dict[str, str],
    receive_id: str,
    receive_id_owner: str,
    authorizer_appid: str | None,
) -> str | None:
    """The tenant id a push is stored under (None for app-level pushes such as tickets).
    BadCallback(400) for one longer than a tenant id can be."""
    if channel == "msg":  # Open: the account is only in the URL's $APPID$ (open-platform.md §3)
        tenant_id = authorizer_appid
    elif channel == "data":  # WeCom: encrypted with the corp's id (wecom-suite.md §1)
        tenant_id = receive_id if receive_id_owner == "tenant" else fields.get("ToUserName")
    else:
        tenant_id = next((fields[f] for f in TENANT_FIELDS[platform] if fields.get(f)), None)
    if tenant_id and len(tenant_id) > MAX_TENANT_ID:
        raise BadCallback(400, f"tenant id over {MAX_TENANT_ID} characters")
    return tenant_id or None
