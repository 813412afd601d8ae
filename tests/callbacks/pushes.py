"""Pushes as the platforms send them, built with wechatpy: an implementation independent of ours."""

from __future__ import annotations

import re
import time
from itertools import count

from wechatpy.crypto import WeChatCrypto as OpenCrypto
from wechatpy.enterprise.crypto import WeChatCrypto as WeComCrypto

_nonces = count(100000)


def encrypt(platform: str, token: str, aes_key: str, receive_id: str, message: str, ts=None):
    """(Encrypt, msg_signature, timestamp, nonce) for `message`, as wechatpy makes them."""
    timestamp = str(int(time.time()) if ts is None else ts)
    nonce = str(next(_nonces))
    crypto = (WeComCrypto if platform == "wecom" else OpenCrypto)(token, aes_key, receive_id)
    reply = crypto.encrypt_message(message, nonce, timestamp)
    encrypted = re.search(r"<Encrypt><!\[CDATA\[(.*?)\]\]></Encrypt>", reply).group(1)
    signature = re.search(r"<MsgSignature><!\[CDATA\[(.*?)\]\]></MsgSignature>", reply).group(1)
    return encrypted, signature, timestamp, nonce


def push(platform: str, token: str, aes_key: str, receive_id: str, message: str, *, to="", ts=None):
    """(query, body) of a POST: WeCom's envelope has ToUserName and AgentID, Open's has AppId
    on the auth URL and ToUserName on the message URL."""
    encrypted, signature, timestamp, nonce = encrypt(
        platform, token, aes_key, receive_id, message, ts
    )
    query = {"msg_signature": signature, "timestamp": timestamp, "nonce": nonce}
    if platform == "open":
        query.update(encrypt_type="aes", signature="ignored-plain-signature")
    body = (
        f"<xml><ToUserName><![CDATA[{to}]]></ToUserName>"
        f"<Encrypt><![CDATA[{encrypted}]]></Encrypt><AgentID><![CDATA[]]></AgentID></xml>"
    )
    return query, body


def url_check(platform: str, token: str, aes_key: str, receive_id: str, echo: str, ts=None):
    encrypted, signature, timestamp, nonce = encrypt(platform, token, aes_key, receive_id, echo, ts)
    return {
        "msg_signature": signature,
        "timestamp": timestamp,
        "nonce": nonce,
        "echostr": encrypted,
    }


def suite_ticket(suite_id: str, ticket: str, ts: int | None = None) -> str:
    ts = int(time.time()) if ts is None else ts
    return (
        f"<xml><SuiteId><![CDATA[{suite_id}]]></SuiteId>"
        f"<InfoType><![CDATA[suite_ticket]]></InfoType><TimeStamp>{ts}</TimeStamp>"
        f"<SuiteTicket><![CDATA[{ticket}]]></SuiteTicket></xml>"
    )


def component_ticket(appid: str, ticket: str, ts: int | None = None) -> str:
    ts = int(time.time()) if ts is None else ts
    return (
        f"<xml><AppId><![CDATA[{appid}]]></AppId><CreateTime>{ts}</CreateTime>"
        f"<InfoType><![CDATA[component_verify_ticket]]></InfoType>"
        f"<ComponentVerifyTicket><![CDATA[{ticket}]]></ComponentVerifyTicket></xml>"
    )


def text_message(to: str, sender: str, content: str, msg_id: str, ts: int | None = None) -> str:
    ts = int(time.time()) if ts is None else ts
    return (
        f"<xml><ToUserName><![CDATA[{to}]]></ToUserName>"
        f"<FromUserName><![CDATA[{sender}]]></FromUserName><CreateTime>{ts}</CreateTime>"
        f"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]></Content>"
        f"<MsgId>{msg_id}</MsgId><AgentID>1000002</AgentID></xml>"
    )


def xml_of(fields: dict[str, str], inner: str = "") -> str:
    """A flat <xml> document (CDATA values), with `inner` (nested elements) appended."""
    body = "".join(f"<{tag}><![CDATA[{value}]]></{tag}>" for tag, value in fields.items())
    return f"<xml>{body}{inner}</xml>"


# Paid-app order pushes to the command URL (WeCom doc/99387, doc/91930, doc/99389, doc/91933):
# the paying corp is in PaidCorpId, not AuthCorpId. change_editon is the platform's spelling.
ORDER_FIELDS = {
    "open_order": {"OrderId": "OR2026113000001", "OperatorId": "zhangsan"},
    "change_order": {"OldOrderId": "OR2026113000001", "NewOrderId": "OR2026113000002"},
    "pay_for_app_success": {"OrderId": "OR2026113000001"},
    "refund": {"OrderId": "OR2026113000001"},
    "change_editon": {},
}


def order(suite_id: str, info_type: str, paid_corpid: str, ts: int | None = None) -> str:
    ts = int(time.time()) if ts is None else ts
    return xml_of(
        {
            "SuiteId": suite_id,
            "PaidCorpId": paid_corpid,
            "InfoType": info_type,
            "TimeStamp": str(ts),
            **ORDER_FIELDS[info_type],
        }
    )


def registration(
    component_appid: str, info_type: str, appid: str, ts: int | None = None, status: str = "0"
) -> str:
    """Open registration results on the auth URL: the new account in a lower-case `appid` tag,
    the request's details nested in <info> (notify_third_fasteregister carries an auth_code)."""
    ts = int(time.time()) if ts is None else ts
    fields = {
        "AppId": component_appid,
        "CreateTime": str(ts),
        "InfoType": info_type,
        "appid": appid,
        "status": status,
        "msg": "OK" if status == "0" else "failed",
    }
    if info_type == "notify_third_fasteregister":
        fields["auth_code"] = "queryauthcode@@@reg"
        info = "<info><name><![CDATA[A Shop Ltd]]></name><code_type>1</code_type></info>"
    else:
        info = "<info><unique_id><![CDATA[u-8f3a]]></unique_id><name>Beta</name></info>"
    return xml_of(fields, info)
