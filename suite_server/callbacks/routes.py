"""The five callback URLs the ISV pastes into the consoles (contract.md "Callback URLs")."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, g, request

from suite_server import db
from suite_server.callbacks import receive
from suite_server.callbacks.keys import CallbackKeys
from suite_server.errors import BadCallback
from suite_server.ops.metrics import CALLBACK_SECONDS, CALLBACKS

bp = Blueprint("callbacks", __name__, url_prefix="/callback")

MAX_BODY = 1024 * 1024


@bp.errorhandler(BadCallback)
def refused(exc: BadCallback) -> Response:
    current_app.logger.info("callback refused %s: %s", exc.status, exc.reason)
    # Counted under the app only once it was found: an id made up by whoever sent the request
    # must not mint a new series (anyone could grow /metrics without bound).
    CALLBACKS.labels(g.get("callback_app_id", "unknown"), "unknown", f"refused_{exc.status}").inc()
    return _text(exc.reason, exc.status)


@bp.route("/wecom/<suite_id>/<any(command, data):channel>", methods=["GET", "POST"])
def wecom(suite_id: str, channel: str) -> Response:
    app = _app("wecom", suite_id)
    if request.method == "GET":
        return _text(receive.url_check(db.session(), app, request.args, _max_age()))
    return _receive(app, channel)


@bp.route("/wecom/provider/<corpid>", methods=["GET", "POST"])
def wecom_provider(corpid: str) -> Response:
    """The provider's system event URL (系统事件接收URL): license payments, refunds and
    activations, encrypted with the provider's own Token and key, receive id its corpid."""
    app = _app("wecom", corpid, provider=True)
    if request.method == "GET":
        return _text(receive.url_check(db.session(), app, request.args, _max_age()))
    return _receive(app, "system")


@bp.post("/open/<appid>/auth")
def open_auth(appid: str) -> Response:
    return _receive(_app("open", appid), "auth")


@bp.route("/open/<appid>/msg/<authorizer_appid>", methods=["GET", "POST"])
def open_msg(appid: str, authorizer_appid: str) -> Response:
    app = _app("open", appid)
    if request.method == "GET":
        # Not documented for these URLs (open-platform.md §3), answered like WeCom's if sent.
        return _text(receive.url_check(db.session(), app, request.args, _max_age()))
    return _receive(app, "msg", authorizer_appid)


def _app(platform: str, app_id: str, provider: bool = False) -> CallbackKeys:
    app = receive.find_app(db.session(), platform, app_id, provider)
    g.callback_app_id = app.app_id  # a refusal from here on is counted under the app
    return app


def _receive(app: CallbackKeys, channel: str, authorizer: str | None = None) -> Response:
    with CALLBACK_SECONDS.labels(channel).time():
        answer = receive.receive(
            db.session(),
            app,
            channel,
            request.args,
            _body(),
            _max_age(),
            authorizer_appid=authorizer,
        )
    if answer.startswith("<xml>"):  # an encrypted passive reply
        return Response(answer, content_type="application/xml; charset=utf-8")
    return _text(answer)


def _body() -> bytes:
    """At most 1 MiB, refused before it is read when the length is announced."""
    if (request.content_length or 0) > MAX_BODY:
        raise BadCallback(413, "body over 1 MiB")
    body = request.stream.read(MAX_BODY + 1)
    if len(body) > MAX_BODY:
        raise BadCallback(413, "body over 1 MiB")
    return body


def _max_age() -> int:
    return current_app.config["CALLBACK_MAX_AGE"]


def _text(body: str, status: int = 200) -> Response:
    # The bare text, no quotes or newline: the platforms compare it byte for byte.
    return Response(body, status=status, content_type="text/plain; charset=utf-8")
