"""The Open Platform's full-network release test (全网发布接入检测, open-platform.md §5),
answered with no code of the ISV's: one of five groups of test accounts sends an event, a text
and a "QUERY_AUTH_CODE:" text; each case expects an exact answer.

1. event          -> passive encrypted text "<Event>from_callback"
2. text TESTCOMPONENT_MSG_TYPE_TEXT -> passive text "TESTCOMPONENT_MSG_TYPE_TEXT_callback"
3. text QUERY_AUTH_CODE:<code>      -> empty answer now, then (in a job) api_query_auth with the
   code and a customer-service text "<code>_from_api" to the sender.
"""

from __future__ import annotations

import logging

from flask import current_app

from suite_server import db
from suite_server.dispatch.messages import Message
from suite_server.dispatch.replies import Reply, TextReply
from suite_server.errors import UpstreamError
from suite_server.jobs import runner
from suite_server.jobs.tasks import task
from suite_server.models import App
from suite_server.tenants import lifecycle
from suite_server.tokens import service as tokens
from suite_server.upstream import api_for

log = logging.getLogger(__name__)

# Every group's official account and mini program (the check picks one group at random).
TEST_ACCOUNTS = {
    "wx570bc396a51b8ff8",
    "wxd101a85aa106f53e",
    "wx9252c5e0bb1836fc",
    "wxc39235c15087f6f3",
    "wx8e1097c5bc82cde9",
    "wx7720d01d4b2a4500",
    "wx14550af28c71a144",
    "wx05d483572dcd5d8b",
    "wxa35b9c23cfe664eb",
    "wx5910277cae6fd970",
}
TEXT_CASE = "TESTCOMPONENT_MSG_TYPE_TEXT"
API_CASE = "QUERY_AUTH_CODE:"


def handles(message: Message) -> bool:
    return (
        message.platform == "open"
        and message.tenant_id in TEST_ACCOUNTS
        and current_app.config["RELEASE_CHECK"]
    )


def answer(message: Message) -> Reply | None:
    """The passive reply for a test case (None: answer empty, maybe with a job started)."""
    if message.msg_type == "event":
        return TextReply(f"{message.event}from_callback")
    if message.msg_type != "text":
        return None
    if message.content == TEXT_CASE:
        return TextReply(f"{TEXT_CASE}_callback")
    if message.content.startswith(API_CASE):
        code = message.content[len(API_CASE) :]
        runner.enqueue(
            "release_check.api_reply",
            message.app.id,
            message.tenant_id,
            code,
            message.from_user,
            retries=2,
        )
    return None


@task("release_check.api_reply")
def api_reply(app_pk: int, authorizer_appid: str, code: str, openid: str) -> None:
    """Case 3: exchange the code for the account's token and send "<code>_from_api" back.
    If the code was already exchanged (the `authorized` push carried the same one), use the
    token we keep for the account instead, as WxJava's demo does."""
    session = db.session()
    app = session.get(App, app_pk)
    api = api_for("open", current_app.config)
    component_token = tokens.app_token(session, app, api)
    try:
        info = api.query_auth(component_token, app.app_id, code)
        authorizer_token = info["authorizer_access_token"]
    except (UpstreamError, KeyError) as exc:
        log.info("release check: code not exchangeable (%s); using the stored token", exc)
        tenant = lifecycle.find_tenant(session, app, authorizer_appid)
        if tenant is None:
            raise LookupError(f"release check: no tenant {authorizer_appid}") from exc
        authorizer_token = tokens.serve_tenant_token(session, tenant).access_token
    api.custom_send_text(authorizer_token, openid, f"{code}_from_api")
    log.info("release check: API text case answered for %s", authorizer_appid)
