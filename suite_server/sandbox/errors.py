"""Platform-style API errors: `{"errcode": N, "errmsg": "..."}` worded as each platform does."""

from __future__ import annotations

import secrets

from flask import Response, jsonify

# Texts follow the platforms' own errmsg wording (wecom-suite.md §5, open-platform.md §6).
ERRMSGS: dict[int, str] = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40003: "invalid openid",
    40008: "invalid message type",
    40013: "invalid appid",
    40014: "invalid access_token",
    40058: "invalid parameter",
    40077: "invalid pre_auth_code",
    40078: "invalid auth_code",
    40080: "invalid suite_secret",
    40082: "invalid suite_acccess_token or provider_access_token",
    40083: "invalid suite_id",
    40084: "invalid permanent_code",
    40085: "invalid suite_ticket",
    40086: "invalid third-party app id",
    40097: "invalid args",
    40125: "invalid appsecret",
    41001: "access_token missing",
    41002: "appid missing",
    41004: "appsecret missing",
    41008: "missing auth code",
    41022: "suite_access_token missing",
    41025: "permanent_code missing",
    42001: "access_token expired",
    42007: "pre_auth_code expired",
    42009: "suite_access_token expired",
    43002: "require POST method",
    44004: "empty content",
    47001: "data format error",
    61003: "component is not authorized by this account",
    61005: "component verify ticket is expired",
    61006: "component verify ticket is invalid",
    61009: "code is invalid",
    61010: "code is expired",
    61011: "invalid component",
    61023: "refresh_token is invalid",
    # Mini-program code releases (releases.py); English texts where the platform's are known.
    85009: "already has an audit in progress",
    85010: "item_list has an empty item",
    85012: "invalid audit id",
    85014: "invalid template id",
    85015: "not a mini program account or invalid user_version",
    85019: "no audit version",
    85020: "audit status does not allow release",
    85023: "item_list must have 1 to 5 items",
    85048: "parse ext_json fail",
    85052: "app is already released",
    85058: "no valid audit_id exist",
    85064: "template not found",
    85065: "template list is full",
    85079: "no online version to gray release from",
    85080: "the audit has not passed",
    85081: "invalid gray_percentage",
    85082: "gray_percentage must be higher than the current one",
    85085: "audit quota of this month is used up",
    85086: "commit code before submitting it for audit",
    87011: "a gray release is running, cannot revert",
    87012: "no previous online version to revert to",
    87013: "no quota to undo code",
}
# Where WeCom words a shared errcode its own way (wecom-suite.md §5: 41002 is about the corpid;
# gettoken's 40001/40013/41004 are about the corp's secret and id, isv-capabilities.md §1).
WECOM_ERRMSGS: dict[int, str] = {
    40001: "invalid credential",
    40013: "invalid corpid",
    41002: "corpid missing",
    41004: "corpsecret missing",
}


class ApiError(Exception):
    """An errcode the simulated platform answers with (HTTP 200, like the real APIs)."""

    def __init__(self, errcode: int, errmsg: str | None = None) -> None:
        super().__init__(errcode)
        self.errcode = errcode
        self.errmsg = errmsg  # None: the platform's own text for the errcode


def errmsg_of(platform: str, errcode: int) -> str:
    if platform == "wecom" and errcode in WECOM_ERRMSGS:
        return WECOM_ERRMSGS[errcode]
    return ERRMSGS.get(errcode, "error")


def error_body(platform: str, errcode: int, errmsg: str | None = None) -> dict:
    """The body the platform sends; each appends a request id to errmsg in its own way."""
    text = errmsg or errmsg_of(platform, errcode)
    rid = secrets.token_hex(8)
    if platform == "wecom":
        # WeCom: "<text>, hint: [<rid>], ... more info at https://open.work.weixin.qq.com/devtool/query?e=<code>"
        text = f"{text}, hint: [{rid}], more info at https://open.work.weixin.qq.com/devtool/query?e={errcode}"
    else:
        # open-platform.md §4: `{"errcode":N,"errmsg":"… rid: …"}`.
        text = f"{text} rid: {rid}"
    return {"errcode": errcode, "errmsg": text}


def error_response(platform: str, error: ApiError) -> Response:
    return jsonify(error_body(platform, error.errcode, error.errmsg))
