"""What the platforms answer an auth code's exchange with, made into one shape: (tenant id, name,
credential, first token or None, auth info). Used by flow.py, which makes sure a code is
exchanged once and stores the result."""

from __future__ import annotations

import logging

from suite_server.errors import UpstreamError
from suite_server.models import App
from suite_server.upstream.results import seconds

log = logging.getLogger(__name__)


class NoTenant(Exception):
    """An exchange answer with a credential but nothing to make a tenant of."""

    def __init__(self, reason: str, credential: str) -> None:
        super().__init__(reason)
        self.reason, self.credential = reason, credential


def exchange(app: App, code: str, api, app_token: str):
    """(tenant id, name, credential, (access token, expires_in) or None, auth info). Only the
    credential and the corp id are required of an answer: whatever else is missing, the
    credential is stored (isv-capabilities §0.1: a customized template's answer has no token)."""
    if app.platform == "wecom":
        answer = api.get_permanent_code(app_token, code)
        credential = answer["permanent_code"]  # required by WeComApi.get_permanent_code
        corp = answer.get("auth_corp_info")
        corp = corp if isinstance(corp, dict) else {}
        corpid = corp.get("corpid")
        if not isinstance(corpid, str) or not corpid or len(corpid) > 64:
            raise NoTenant("get_permanent_code answered without auth_corp_info.corpid", credential)
        token = None
        if isinstance(answer.get("access_token"), str) and answer["access_token"]:
            token = (answer["access_token"], seconds(answer))
        auth_info = {
            key: answer[key]
            for key in ("auth_corp_info", "auth_info", "auth_user_info", "edition_info", "state")
            if key in answer
        }
        if customized(answer):
            auth_info["is_customized_app"] = True
        name = corp.get("corp_name") if isinstance(corp.get("corp_name"), str) else ""
        return corpid, name[:200], credential, token, auth_info
    info = api.query_auth(app_token, app.app_id, code)
    appid = info["authorizer_appid"]
    token = None
    if info.get("authorizer_access_token"):
        token = (info["authorizer_access_token"], int(info.get("expires_in") or 7200))
    details = api.get_authorizer_info(app_token, app.app_id, appid)
    authorizer = details.get("authorizer_info") or {}
    auth_info = {"authorizer_info": authorizer, "func_info": info.get("func_info", [])}
    return (
        appid,
        authorizer.get("nick_name", ""),
        info.get("authorizer_refresh_token") or None,
        token,
        auth_info,
    )


def recover(app: App, api, app_token: str, appid: str, refused: UpstreamError):
    """The code was spent by the caller whose claim we took over: it died after the platform
    answered and before it stored the refresh token. The platform still holds the authorization,
    and api_get_authorizer_info hands the refresh token back (open-platform.md §4.6), so the
    tenant is made from that: an exchange's result, without a first token. Raises `refused`
    when the answer has no refresh token. (WeCom has no such call: a spent code's permanent code
    is lost, and the corp must authorize again.)"""
    details = api.get_authorizer_info(app_token, app.app_id, appid)
    grant = details.get("authorization_info") or {}
    credential = grant.get("authorizer_refresh_token")
    if not isinstance(credential, str) or not credential:
        raise refused
    authorizer = details.get("authorizer_info") or {}
    auth_info = {"authorizer_info": authorizer, "func_info": grant.get("func_info", [])}
    log.warning("app %s: code of %s spent by a process that died; recovered", app.app_id, appid)
    return appid, authorizer.get("nick_name", ""), credential, None, auth_info


def customized(answer: dict) -> bool:
    """Whether get_permanent_code says the app is a customized one: a top-level
    is_customized_app, or one on an agent of auth_info."""
    if answer.get("is_customized_app") is True:
        return True
    auth_info = answer.get("auth_info")
    agents = auth_info.get("agent") if isinstance(auth_info, dict) else None
    return isinstance(agents, list) and any(
        isinstance(agent, dict) and agent.get("is_customized_app") is True for agent in agents
    )
