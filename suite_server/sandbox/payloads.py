"""The decrypted XML of every push, field for field as the docs' tables list them.

Strings go in CDATA, numbers bare (wecom-suite.md §3 "all tags CDATA except numbers").
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from suite_server.protocol.xml import cdata

Field = tuple[str, Any]


def xml_document(fields: Iterable[Field], root: str = "xml") -> str:
    """`<xml><Tag><![CDATA[text]]></Tag><Num>1</Num>…</xml>`; None values are left out, a list of
    fields is a nested element."""
    parts = [f"<{root}>"]
    for tag, value in fields:
        if value is None:
            continue
        if isinstance(value, bool):
            value = int(value)
        if isinstance(value, list):
            parts.append(xml_document(value, tag))
        elif isinstance(value, int):
            parts.append(f"<{tag}>{value}</{tag}>")
        else:
            parts.append(f"<{tag}>{cdata(str(value))}</{tag}>")
    parts.append(f"</{root}>")
    return "".join(parts)


def merge(fields: list[Field], extra: dict[str, Any] | None) -> list[Field]:
    """Add caller-given tags (e.g. change_contact's UserID); a given tag replaces the default."""
    if not extra:
        return fields
    merged = [(tag, extra.get(tag, value)) for tag, value in fields]
    known = {tag for tag, _ in fields}
    merged.extend((tag, value) for tag, value in extra.items() if tag not in known)
    return merged


# --- WeCom command URL (wecom-suite.md §3) ------------------------------------------------------


def wecom_suite_ticket(suite_id: str, ticket: str, timestamp: int) -> str:
    return xml_document(
        [
            ("SuiteId", suite_id),
            ("InfoType", "suite_ticket"),
            ("TimeStamp", timestamp),
            ("SuiteTicket", ticket),
        ]
    )


def wecom_create_auth(
    suite_id: str, auth_code: str, timestamp: int, state: str = "", extra_info: str = ""
) -> str:
    return xml_document(
        [
            ("SuiteId", suite_id),
            ("AuthCode", auth_code),
            ("InfoType", "create_auth"),
            ("TimeStamp", timestamp),
            ("State", state),
            ("ExtraInfo", extra_info),
        ]
    )


def wecom_corp_event(
    info_type: str, suite_id: str, corpid: str, timestamp: int, extra: dict | None = None
) -> str:
    """change_auth and cancel_auth: SuiteId, InfoType, TimeStamp, AuthCorpId."""
    fields = [
        ("SuiteId", suite_id),
        ("InfoType", info_type),
        ("TimeStamp", timestamp),
        ("AuthCorpId", corpid),
    ]
    return xml_document(merge(fields, extra))


def wecom_reset_permanent_code(suite_id: str, auth_code: str, timestamp: int) -> str:
    # wecom-suite.md §3 (doc/97175): SuiteId, AuthCode, InfoType, TimeStamp; no AuthCorpId.
    return xml_document(
        [
            ("SuiteId", suite_id),
            ("AuthCode", auth_code),
            ("InfoType", "reset_permanent_code"),
            ("TimeStamp", timestamp),
        ]
    )


def wecom_change_contact(
    suite_id: str, corpid: str, timestamp: int, change_type: str, extra: dict | None = None
) -> str:
    fields: list[Field] = [
        ("SuiteId", suite_id),
        ("AuthCorpId", corpid),
        ("InfoType", "change_contact"),
        ("TimeStamp", timestamp),
        ("ChangeType", change_type),
    ]
    if change_type in ("create_user", "update_user", "delete_user"):
        # Only UserID / OpenUserID / Department are dependable for third-party apps (§3).
        fields += [("UserID", "zhangsan"), ("OpenUserID", "woAJ2GCAAAd1NPGHKSD4wKmE8Aabj9AA")]
        if change_type != "delete_user":
            fields.append(("Department", "1"))
    elif change_type in ("create_party", "update_party", "delete_party"):
        fields.append(("Id", 2))
        if change_type != "delete_party":
            fields += [("ParentId", "1"), ("Order", 1)]
    elif change_type == "update_tag":
        fields += [("TagId", 1), ("AddUserItems", "zhangsan")]
    return xml_document(merge(fields, extra))


def wecom_order_event(
    info_type: str, suite_id: str, paid_corpid: str, timestamp: int, extra: dict | None = None
) -> str:
    """Paid-app pushes (isv-capabilities.md §8): SuiteId, PaidCorpId, InfoType, TimeStamp, then
    OrderId + OperatorId (open_order), OldOrderId + NewOrderId (change_order), OrderId
    (pay_for_app_success, refund), nothing more (change_editon, sic)."""
    fields: list[Field] = [
        ("SuiteId", suite_id),
        ("PaidCorpId", paid_corpid),
        ("InfoType", info_type),
        ("TimeStamp", timestamp),
    ]
    return xml_document(merge(fields, extra))


# --- WeCom provider system-event URL (isv-capabilities.md §2) ----------------------------------


def wecom_system_event(
    provider_corpid: str,
    info_type: str,
    auth_corpid: str,
    timestamp: int,
    extra: dict | None = None,
    order_id: str = "",
) -> str:
    """ServiceCorpId, InfoType, AuthCorpId, TimeStamp, then what the InfoType adds: OrderId and
    BuyerUserId (license_pay_success, doc/97196), OrderId (license_refund), Scene and an
    AccountList (auto_activate, doc/95994)."""
    fields: list[Field] = [
        ("ServiceCorpId", provider_corpid),
        ("InfoType", info_type),
        ("AuthCorpId", auth_corpid or None),
        ("TimeStamp", timestamp),
    ]
    if info_type == "license_pay_success":
        fields += [("OrderId", order_id), ("BuyerUserId", "zhangsan")]
    elif info_type == "license_refund":
        fields.append(("OrderId", order_id))
    elif info_type == "auto_activate":
        account = [
            ("ActiveCode", "LC" + order_id[2:]),
            ("Type", 1),
            ("ExpireTime", timestamp + 365 * 86400),
            ("UserId", "zhangsan"),
            ("PreviousStatus", 1),
        ]
        fields += [("Scene", 1), ("AccountList", account)]
    return xml_document(merge(fields, extra))


# --- WeCom data URL: messages and events inside a corp (wecom-suite.md §1) ----------------------


def wecom_text(corpid: str, user: str, content: str, msg_id: int, agent_id: int, now: int) -> str:
    return xml_document(
        [
            ("ToUserName", corpid),
            ("FromUserName", user),
            ("CreateTime", now),
            ("MsgType", "text"),
            ("Content", content),
            ("MsgId", msg_id),
            ("AgentID", agent_id),
        ]
    )


def wecom_event(
    corpid: str, user: str, event: str, agent_id: int, now: int, extra: dict | None = None
) -> str:
    fields: list[Field] = [
        ("ToUserName", corpid),
        ("FromUserName", user),
        ("CreateTime", now),
        ("MsgType", "event"),
        ("Event", event),
        ("AgentID", agent_id),
    ]
    return xml_document(merge(fields, extra))


# --- Open authorization-event URL (open-platform.md §2) -----------------------------------------


def open_verify_ticket(component_appid: str, ticket: str, now: int) -> str:
    return xml_document(
        [
            ("AppId", component_appid),
            ("CreateTime", now),
            ("InfoType", "component_verify_ticket"),
            ("ComponentVerifyTicket", ticket),
        ]
    )


def open_authorized(
    info_type: str,
    component_appid: str,
    authorizer_appid: str,
    auth_code: str,
    code_ttl: float,
    pre_auth_code: str,
    now: int,
) -> str:
    """authorized / updateauthorized. AuthorizationCodeExpiredTime is an absolute unix time,
    CreateTime + 3600, as real pushes show (open-platform.md §2), whatever the doc text says."""
    return xml_document(
        [
            ("AppId", component_appid),
            ("CreateTime", now),
            ("InfoType", info_type),
            ("AuthorizerAppid", authorizer_appid),
            ("AuthorizationCode", auth_code),
            ("AuthorizationCodeExpiredTime", now + int(code_ttl)),
            ("PreAuthCode", pre_auth_code),
        ]
    )


def open_unauthorized(component_appid: str, authorizer_appid: str, now: int) -> str:
    return xml_document(
        [
            ("AppId", component_appid),
            ("CreateTime", now),
            ("InfoType", "unauthorized"),
            ("AuthorizerAppid", authorizer_appid),
        ]
    )


# --- Open message-and-event URL (open-platform.md §3) -------------------------------------------


def open_text(gh_id: str, openid: str, content: str, msg_id: int, now: int) -> str:
    return xml_document(
        [
            ("ToUserName", gh_id),
            ("FromUserName", openid),
            ("CreateTime", now),
            ("MsgType", "text"),
            ("Content", content),
            ("MsgId", msg_id),
        ]
    )


def open_event(gh_id: str, openid: str, event: str, now: int, extra: dict | None = None) -> str:
    fields: list[Field] = [
        ("ToUserName", gh_id),
        ("FromUserName", openid),
        ("CreateTime", now),
        ("MsgType", "event"),
        ("Event", event),
    ]
    return xml_document(merge(fields, extra))


# --- Open registration results (isv-capabilities.md §10, open-platform.md §2) -----------------


def open_fasteregister(
    component_appid: str,
    now: int,
    appid: str,
    status: int,
    auth_code: str,
    msg: str,
    info: list[Field],
    taskid: str | None = None,
) -> str:
    """notify_third_fasteregister: the upper-case envelope, then lower-case tags; `info` is
    the request (enterprise: name, code, code_type, legal_persona_wechat, legal_persona_name,
    component_phone; personal: wxuser, idname, component_phone, and `taskid` beside it). A
    failure has `appid` and `auth_code` empty."""
    return xml_document(
        [
            ("AppId", component_appid),
            ("CreateTime", now),
            ("InfoType", "notify_third_fasteregister"),
            ("appid", appid),
            ("status", status),
            ("auth_code", auth_code),
            ("msg", msg),
            ("taskid", taskid),
            ("info", info),
        ]
    )


def open_fastregisterbetaapp(
    component_appid: str, now: int, appid: str, status: int, msg: str, unique_id: str, name: str
) -> str:
    """notify_third_fastregisterbetaapp: `appid` (empty on failure), `status`, `msg`,
    `info{unique_id, name}`."""
    return xml_document(
        [
            ("AppId", component_appid),
            ("CreateTime", now),
            ("InfoType", "notify_third_fastregisterbetaapp"),
            ("appid", appid),
            ("status", status),
            ("msg", msg),
            ("info", [("unique_id", unique_id), ("name", name)]),
        ]
    )
