"""WeCom's license API (接口许可, isv-capabilities.md §4): `POST /cgi-bin/license/<name>` on the
provider token (`?provider_access_token=`; 41022 missing, 40082 invalid, 42009 expired). The
rules are in `licenses.py`; these routes read the body and shape the answers.

Bodies: a missing `corpid` is 41002, another missing or out-of-range field 40058 "invalid
parameter: <name>", a field of the wrong JSON type 47001, a GET 43002. Calls are counted under
their path's last segment (`create_new_order`, `active_account`...), except get_order, counted
as `license_get_order` (`get_order` is the paid-app order API, order_api.py), and fault rules
apply; the tenant of a call is its body's `corpid`.
"""

from __future__ import annotations

from typing import Any

from flask import jsonify, request
from flask.typing import ResponseReturnValue

from suite_server.sandbox import customized
from suite_server.sandbox import licenses as lic
from suite_server.sandbox.api_common import platform_blueprint, post_body
from suite_server.sandbox.errors import ApiError
from suite_server.sandbox.runtime import current_sandbox
from suite_server.sandbox.state import WECOM, Provider, SandboxState
from suite_server.sandbox.wecom import OK, text

bp = platform_blueprint("sandbox_license_api", WECOM)
PREFIX = "/cgi-bin/license/"
BOTH = ["GET", "POST"]
MAX_LIST = 1000  # entries in one batch call, and the largest page


def _state() -> SandboxState:
    return current_sandbox().state


def _provider() -> Provider:
    return customized.provider_from_token(_state(), request.args.get("provider_access_token"))


def _corpid(body: dict[str, Any], required: bool = True) -> str:
    corpid = text(body, "corpid")
    if not corpid and required:
        raise ApiError(41002)
    return corpid


def _required(body: dict[str, Any], name: str) -> str:
    value = text(body, name)
    if not value:
        raise ApiError(40058, f"invalid parameter: {name}")
    return value


def _number(body: dict[str, Any], name: str, low: int, high: int, default: int = 0) -> int:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(47001)
    if not low <= value <= high:
        raise ApiError(40058, f"invalid parameter: {name}")
    return value


def _object(body: dict[str, Any], name: str) -> dict[str, Any]:
    value = body.get(name)
    if value is None:
        raise ApiError(40058, f"invalid parameter: {name}")
    if not isinstance(value, dict):
        raise ApiError(47001)
    return value


def _list(body: dict[str, Any], name: str) -> list[Any]:
    value = body.get(name)
    if value is not None and not isinstance(value, list):
        raise ApiError(47001)
    if not value or len(value) > MAX_LIST:
        raise ApiError(40058, f"invalid parameter: {name}")
    return value


def _paging(body: dict[str, Any]) -> tuple[str, int]:
    return text(body, "cursor"), _number(body, "limit", 1, MAX_LIST, 500)


def _book(provider: Provider) -> lic.LicenseBook:
    return lic.book(_state(), provider.corpid)


def _order(provider: Provider, order_id: str) -> lic.LicenseOrder:
    order = _book(provider).orders.get(order_id)
    if order is None:
        raise lic.refuse(701005)
    return order


# --- orders -------------------------------------------------------------------------------------


@bp.route(PREFIX + "create_new_order", methods=BOTH)
def create_new_order() -> ResponseReturnValue:
    body = post_body()
    provider = _provider()
    corpid, buyer = _corpid(body), _required(body, "buyer_userid")
    count = _object(body, "account_count")
    base = _number(count, "base_count", 0, lic.MAX_ACCOUNTS)
    external = _number(count, "external_contact_count", 0, lic.MAX_ACCOUNTS)
    if not 0 < base + external <= lic.MAX_ACCOUNTS:
        raise ApiError(40058, "invalid parameter: account_count")
    duration = _object(body, "account_duration")
    months = _number(duration, "months", 0, lic.MAX_MONTHS)
    days = _number(duration, "days", 0, 31 * lic.MAX_MONTHS)
    if not months and not days:
        raise ApiError(40058, "invalid parameter: account_duration")
    order = lic.create_order(_state(), provider, corpid, buyer, (base, external), months, days)
    return jsonify({**OK, "order_id": order.order_id})


@bp.route(PREFIX + "list_order", methods=BOTH)
def list_order() -> ResponseReturnValue:
    body = post_body()
    provider = _provider()
    corpid = _corpid(body, required=False)
    start = _number(body, "start_time", 0, 2**40)
    end = _number(body, "end_time", 0, 2**40, 2**40)
    cursor, limit = _paging(body)
    with _state().lock:
        orders = sorted(
            (
                o
                for o in _book(provider).orders.values()
                if corpid in ("", o.corpid) and start <= o.create_time <= end
            ),
            key=lambda o: o.create_time,
        )
        chunk, next_cursor, more = lic.page(orders, cursor, limit)
        found = [{"order_id": o.order_id, "order_type": o.order_type} for o in chunk]
    return jsonify({**OK, "next_cursor": next_cursor, "has_more": more, "order_list": found})


@bp.route(PREFIX + "get_order", methods=BOTH)
def license_get_order() -> ResponseReturnValue:
    body = post_body()
    provider = _provider()
    with _state().lock:
        order = _order(provider, _required(body, "order_id"))
        return jsonify({**OK, "order": order.public()})


@bp.route(PREFIX + "list_order_account", methods=BOTH)
def list_order_account() -> ResponseReturnValue:
    body = post_body()
    provider = _provider()
    order_id = _required(body, "order_id")
    cursor, limit = _paging(body)
    with _state().lock:
        _order(provider, order_id)
        codes = [c for c in _book(provider).codes.values() if c.order_id == order_id]
        chunk, next_cursor, more = lic.page(codes, cursor, limit)
        accounts = [
            {"active_code": c.code, "type": c.type, **({"userid": c.userid} if c.userid else {})}
            for c in chunk
        ]
    return jsonify({**OK, "next_cursor": next_cursor, "has_more": more, "account_list": accounts})


@bp.route(PREFIX + "cancel_order", methods=BOTH)
def cancel_order() -> ResponseReturnValue:
    body = post_body()
    provider = _provider()
    corpid, order_id = _corpid(body), _required(body, "order_id")
    with _state().lock:
        order = _order(provider, order_id)
        if order.corpid != corpid:
            raise lic.refuse(701005)
        if order.status != lic.UNPAID:
            raise ApiError(701005, "only an unpaid order can be cancelled")
        order.status = lic.CANCELLED
    return jsonify(dict(OK))


# --- activation ---------------------------------------------------------------------------------


@bp.route(PREFIX + "active_account", methods=BOTH)
def active_account() -> ResponseReturnValue:
    body = post_body()
    provider = _provider()
    corpid = _corpid(body)
    code, userid = _required(body, "active_code"), _required(body, "userid")
    errcode = lic.activate(_state(), _book(provider), corpid, code, userid)
    if errcode:
        raise lic.refuse(errcode)
    return jsonify(dict(OK))


@bp.route(PREFIX + "batch_active_account", methods=BOTH)
def batch_active_account() -> ResponseReturnValue:
    body = post_body()
    provider = _provider()
    corpid = _corpid(body)
    entries = _list(body, "active_list")
    if not all(isinstance(e, dict) for e in entries):
        raise ApiError(47001)
    pairs = [(_required(e, "active_code"), _required(e, "userid")) for e in entries]
    ledger, results = _book(provider), []
    for code, userid in pairs:
        errcode = lic.activate(_state(), ledger, corpid, code, userid)
        results.append({"active_code": code, "userid": userid, "errcode": errcode})
    return jsonify({**OK, "active_result": results})


@bp.route(PREFIX + "get_active_info_by_code", methods=BOTH)
def get_active_info_by_code() -> ResponseReturnValue:
    body = post_body()
    provider = _provider()
    corpid, value = _corpid(body), _required(body, "active_code")
    state = _state()
    with state.lock:
        code = lic.find_code(_book(provider), corpid, value)
        return jsonify({**OK, "active_info": code.public(state.now())})


@bp.route(PREFIX + "batch_get_active_info_by_code", methods=BOTH)
def batch_get_active_info_by_code() -> ResponseReturnValue:
    body = post_body()
    provider = _provider()
    corpid = _corpid(body)
    values = _list(body, "active_code_list")
    if not all(isinstance(v, str) for v in values):
        raise ApiError(47001)
    state = _state()
    found, invalid = [], []
    with state.lock:
        for value in values:
            try:
                found.append(lic.find_code(_book(provider), corpid, value).public(state.now()))
            except ApiError:
                invalid.append(value)
    return jsonify({**OK, "active_info_list": found, "invalid_active_code_list": invalid})


@bp.route(PREFIX + "list_actived_account", methods=BOTH)
def list_actived_account() -> ResponseReturnValue:
    # Spelled `actived` as WeCom does (WxJava); PowerWeChat writes `activated`.
    body = post_body()
    provider = _provider()
    corpid = _corpid(body)
    cursor, limit = _paging(body)
    state = _state()
    with state.lock:
        now = state.now()
        bound = [
            c for c in _book(provider).codes_of(corpid) if not c.void and c.status(now) == lic.BOUND
        ]
        chunk, next_cursor, more = lic.page(bound, cursor, limit)
        accounts = [
            {
                "userid": c.userid,
                "type": c.type,
                "active_time": c.active_time,
                "expire_time": c.expire_time,
            }
            for c in chunk
        ]
    return jsonify({**OK, "next_cursor": next_cursor, "has_more": more, "account_list": accounts})


@bp.route(PREFIX + "get_active_info_by_user", methods=BOTH)
def get_active_info_by_user() -> ResponseReturnValue:
    body = post_body()
    provider = _provider()
    corpid, userid = _corpid(body), _required(body, "userid")
    state = _state()
    with state.lock:
        now = state.now()
        codes = lic.member_codes(_book(provider), corpid, userid)
        active = any(c.status(now) == lic.BOUND for c in codes)
        infos = [c.public(now) for c in codes]
    return jsonify({**OK, "active_status": int(active), "active_info_list": infos})


# --- per-corp settings and the app's license state ----------------------------------------------


@bp.route(PREFIX + "get_app_license_info", methods=BOTH)
def get_app_license_info() -> ResponseReturnValue:
    body = post_body()
    provider = _provider()
    corpid, suite_id = _corpid(body), _required(body, "suite_id")
    state = _state()
    app = state.app(suite_id, WECOM)
    if app is None or app.provider_corpid != provider.corpid:
        raise ApiError(40083)
    tenant = state.tenant(suite_id, corpid)
    if tenant is None:  # never installed: no trial to report
        raise ApiError(40013)
    return jsonify({**OK, **lic.app_license_info(tenant)})


def _customer(provider: Provider, body: dict[str, Any]) -> str:
    corpid = _corpid(body)
    if not lic.authorized(_state(), provider, corpid):
        raise ApiError(40013)
    return corpid


@bp.route(PREFIX + "set_auto_active_status", methods=BOTH)
def set_auto_active_status() -> ResponseReturnValue:
    body = post_body()
    provider = _provider()
    corpid = _customer(provider, body)
    status = body.get("auto_active_status")
    if isinstance(status, bool) or status not in (0, 1):
        raise ApiError(40058, "invalid parameter: auto_active_status")
    with _state().lock:
        switched_on = _book(provider).auto_active
        if status:
            switched_on.add(corpid)
        else:
            switched_on.discard(corpid)
    return jsonify(dict(OK))


@bp.route(PREFIX + "get_auto_active_status", methods=BOTH)
def get_auto_active_status() -> ResponseReturnValue:
    body = post_body()
    provider = _provider()
    corpid = _customer(provider, body)
    with _state().lock:
        status = int(corpid in _book(provider).auto_active)
    return jsonify({**OK, "auto_active_status": status})
