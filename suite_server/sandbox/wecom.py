"""WeCom's server APIs for a suite (wecom-suite.md §4): what each one checks and answers.

Functions take the parsed request, raise ApiError with WeCom's errcode, and return the body.
"""

from __future__ import annotations

from typing import Any

from suite_server.sandbox import authorizations as auth
from suite_server.sandbox import orders
from suite_server.sandbox.errors import ApiError
from suite_server.sandbox.state import WECOM, App, SandboxState, Tenant, is_template
from suite_server.sandbox.tokens import EXPIRED, VALID

OK = {"errcode": 0, "errmsg": "ok"}


def text(body: dict[str, Any], name: str) -> str:
    """A string field of the JSON body ("" when absent); 47001 when it has another type."""
    value = body.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ApiError(47001)
    return value


def get_suite_token(state: SandboxState, body: dict[str, Any]) -> dict[str, Any]:
    with state.lock:
        # §4: a GET drops the body and yields 40083, so a missing suite_id is 40083 too.
        app = state.app(text(body, "suite_id"), WECOM)
        if app is None:
            raise ApiError(40083)
        if text(body, "suite_secret") != app.secret:
            raise ApiError(40080)
        # §4: the ticket must be one pushed to this suite, and still valid (§3: 30 min).
        age = state.ticket_age(app.app_id, text(body, "suite_ticket"))
        if age is None or age >= state.settings.wecom_ticket_ttl:
            raise ApiError(40085)
        # §4 Token semantics: the same token while valid; success bodies have no errcode. The
        # clock is read once: a second read reported a fresh token's lifetime as 7199.
        now = state.now()
        token = state.tokens.same_or_new("suite", app.app_id, None, now, state.settings.token_ttl)
        return {"suite_access_token": token.value, "expires_in": token.remaining(now)}


def suite_from_token(state: SandboxState, value: str | None) -> App:
    """The suite whose suite_access_token this is: 41022 missing, 40082 invalid, 42009 expired."""
    if not value:
        raise ApiError(41022)
    with state.lock:
        status, token = state.tokens.check(value, ("suite",), state.now())
        if status == EXPIRED:
            raise ApiError(42009)
        app = state.app(token.app_id, WECOM) if status == VALID and token else None
        if app is None:
            raise ApiError(40082)
        return app


def get_pre_auth_code(state: SandboxState, app: App) -> dict[str, Any]:
    code = auth.issue_pre_auth_code(state, app)
    return {
        **OK,
        "pre_auth_code": code.value,
        "expires_in": int(state.settings.wecom_pre_auth_code_ttl),
    }


def set_session_info(state: SandboxState, app: App, body: dict[str, Any]) -> dict[str, Any]:
    status, code = auth.check_pre_auth_code(state, app, text(body, "pre_auth_code"))
    if status == auth.EXPIRED:
        raise ApiError(42007)
    if status != auth.OK or code is None:
        raise ApiError(40077)
    session = body.get("session_info") or {}
    auth_type = session.get("auth_type", 0) if isinstance(session, dict) else None
    if isinstance(auth_type, bool) or auth_type not in (0, 1):
        raise ApiError(47001)
    with state.lock:
        code.auth_type = auth_type
    return dict(OK)


def get_permanent_code(state: SandboxState, app: App, body: dict[str, Any]) -> dict[str, Any]:
    """v1 shape (§4): a ready corp token, permanent_code, corp info, agents, top-level user info;
    for a 代开发 template no token but `is_customized_app: true` (top level and every agent)."""
    value = text(body, "auth_code")
    if not value:
        raise ApiError(41008)
    status, tenant = auth.redeem_auth_code(state, app, value)
    if status != auth.OK or tenant is None:
        raise ApiError(40078)  # used, older than 10 min, or never issued: all the same
    answer: dict[str, Any] = dict(OK)
    with state.lock:
        if is_template(app):
            # 代开发 (isv-capabilities.md §1): no ready token; the corp token comes from gettoken
            # with the permanent code, which is the customized app's secret.
            answer["is_customized_app"] = True
        else:
            now = state.now()
            token = state.tokens.same_or_new(
                "corp", app.app_id, tenant.tenant_id, now, state.settings.token_ttl
            )
            answer.update(access_token=token.value, expires_in=token.remaining(now))
        answer.update(
            permanent_code=tenant.credential,
            auth_corp_info=corp_info(tenant),
            auth_info=agent_info(app, tenant),
            auth_user_info={
                "userid": tenant.installer,
                "open_userid": "wo" + tenant.tenant_id[2:] + "admin",
                "name": tenant.installer,
                "avatar": "https://wework.qpic.cn/sandbox/avatar/0",
            },
            state=tenant.install_state,
        )
        return _with_edition(state, app, tenant, answer)


def get_auth_info(state: SandboxState, app: App, body: dict[str, Any]) -> dict[str, Any]:
    tenant = _tenant_by_permanent_code(state, app, body)
    answer = {**OK, "auth_corp_info": corp_info(tenant), "auth_info": agent_info(app, tenant)}
    return _with_edition(state, app, tenant, answer)


def _with_edition(
    state: SandboxState, app: App, tenant: Tenant, answer: dict[str, Any]
) -> dict[str, Any]:
    """Paid apps (not 代开发 templates) also carry the corp's edition_info (doc/91911)."""
    info = orders.edition_info(state, app, tenant)
    if info is not None:
        answer["edition_info"] = info
    return answer


def get_corp_token(state: SandboxState, app: App, body: dict[str, Any]) -> dict[str, Any]:
    tenant = _tenant_by_permanent_code(state, app, body)
    with state.lock:
        now = state.now()
        token = state.tokens.same_or_new(
            "corp", app.app_id, tenant.tenant_id, now, state.settings.token_ttl
        )
        # §4: no errcode on success; the same token while it is valid.
        return {"access_token": token.value, "expires_in": token.remaining(now)}


def corp_from_token(state: SandboxState, value: str | None) -> Tenant:
    """The corp whose access_token this is: 41001 missing, 40014 invalid, 42001 expired (§5)."""
    if not value:
        raise ApiError(41001)
    with state.lock:
        status, token = state.tokens.check(value, ("corp",), state.now())
        if status == EXPIRED:
            raise ApiError(42001)
        tenant = (
            state.tenant(token.app_id, token.tenant_id or "") if status == VALID and token else None
        )
        if tenant is None or not tenant.active:
            raise ApiError(40014)
        return tenant


def send_message(state: SandboxState, tenant: Tenant, body: dict[str, Any]) -> dict[str, Any]:
    """/cgi-bin/message/send: an app message into the corp, recorded for tests to read."""
    msgtype = text(body, "msgtype")
    if not msgtype:
        raise ApiError(40008)
    state.record_message(
        {
            "platform": WECOM,
            "app_id": tenant.app_id,
            "tenant_id": tenant.tenant_id,
            "touser": text(body, "touser"),
            "msgtype": msgtype,
            "body": body,
            "at": state.now(),
        }
    )
    return {**OK, "invaliduser": "", "invalidparty": "", "invalidtag": "", "msgid": "sandbox"}


def _tenant_by_permanent_code(state: SandboxState, app: App, body: dict[str, Any]) -> Tenant:
    corpid, permanent_code = text(body, "auth_corpid"), text(body, "permanent_code")
    if not corpid:
        raise ApiError(41002)
    if not permanent_code:
        raise ApiError(41025)
    tenant = state.tenant(app.app_id, corpid)
    # §5: 40084 for a code that was never valid, was reset, or whose corp cancelled.
    if tenant is None or not tenant.active or tenant.credential != permanent_code:
        raise ApiError(40084)
    return tenant


def corp_info(tenant: Tenant) -> dict[str, Any]:
    return {
        "corpid": tenant.tenant_id,
        "corp_name": tenant.name,
        "corp_type": "verified",
        "corp_square_logo_url": "https://p.qlogo.cn/bizmail/sandbox/0",
        "corp_user_max": 200,
        "corp_full_name": tenant.name,
        "verified_end_time": 1893427200,
        "subject_type": 1,
        "corp_wxqrcode": "https://open.work.weixin.qq.com/sandbox/qrcode",
        "corp_scale": "1-50人",
        "corp_industry": "IT服务",
        "corp_sub_industry": "计算机软件/硬件/信息服务",
    }


def agent_info(app: App, tenant: Tenant) -> dict[str, Any]:
    return {
        "agent": [
            {
                "agentid": tenant.agent_id,
                "name": app.name or app.app_id,
                "round_logo_url": "https://p.qlogo.cn/bizmail/sandbox/round",
                "square_logo_url": "https://p.qlogo.cn/bizmail/sandbox/square",
                "auth_mode": 0,
                "is_customized_app": is_template(app),
                "auth_from_thirdapp": False,
                "privilege": {
                    "level": 1,
                    "allow_party": [1],
                    "allow_user": [tenant.installer],
                    "allow_tag": [],
                    "extra_party": [],
                    "extra_user": [],
                    "extra_tag": [],
                },
            }
        ]
    }
