"""WeCom's paid-app order API on the suite token (isv-capabilities.md §8; rules in `orders.py`):

* `POST /cgi-bin/service/get_order?suite_access_token=` `{orderid}` -> the order's fields at the
  top level beside errcode (WxJava `WxCpTpOrderDetails`); 40058 for a missing orderid or one
  that is not this suite's.
* `POST /cgi-bin/service/get_order_list?suite_access_token=` `{start_time, end_time,
  test_mode?}` -> `{order_list: [...]}`, the suite's orders placed in that span (inclusive),
  oldest first; 40058 without both times or with end before start. Sandbox orders are formal
  ones: test_mode 1 lists none.

Counted as `get_order` and `get_order_list`; fault rules apply; the tenant of a get_order call is
the order's corp.
"""

from __future__ import annotations

from typing import Any

from flask import jsonify, request
from flask.typing import ResponseReturnValue

from suite_server.sandbox import wecom
from suite_server.sandbox.api_common import platform_blueprint, post_body
from suite_server.sandbox.errors import ApiError
from suite_server.sandbox.runtime import current_sandbox
from suite_server.sandbox.state import WECOM

bp = platform_blueprint("sandbox_order_api", WECOM)
BOTH = ["GET", "POST"]


def _time(body: dict[str, Any], name: str) -> int:
    value = body.get(name)
    if value is None:
        raise ApiError(40058, f"invalid parameter: {name}")
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(47001)
    return value


@bp.route("/cgi-bin/service/get_order", methods=BOTH)
def get_order() -> ResponseReturnValue:
    body = post_body()
    state = current_sandbox().state
    app = wecom.suite_from_token(state, request.args.get("suite_access_token"))
    orderid = wecom.text(body, "orderid")
    with state.lock:
        order = state.app_orders.get(orderid) if orderid else None
        if order is None or order.suite_id != app.app_id:
            raise ApiError(40058, "invalid parameter: orderid")
        return jsonify({**wecom.OK, **order.public()})


@bp.route("/cgi-bin/service/get_order_list", methods=BOTH)
def get_order_list() -> ResponseReturnValue:
    body = post_body()
    state = current_sandbox().state
    app = wecom.suite_from_token(state, request.args.get("suite_access_token"))
    start, end = _time(body, "start_time"), _time(body, "end_time")
    test_mode = body.get("test_mode", 0)
    if isinstance(test_mode, bool) or test_mode not in (0, 1):
        raise ApiError(40058, "invalid parameter: test_mode")
    if end < start:
        raise ApiError(40058, "invalid parameter: end_time")
    with state.lock:
        found = sorted(
            (
                o
                for o in state.app_orders.values()
                if o.suite_id == app.app_id and start <= o.order_time <= end and not test_mode
            ),
            key=lambda o: o.order_time,
        )
        return jsonify({**wecom.OK, "order_list": [o.public() for o in found]})
