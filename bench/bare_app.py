"""The baselines for bench/callbacks.py.

`app`: a bare Flask endpoint that only verifies and decrypts a push with wechatpy and stores
nothing (the issue's baseline).

`storing`: the same endpoint plus the one thing every push must have before it is answered: its
event row and ticket committed, through suite-server's own store (`inbox.accept`). Nothing else:
no hardened outer parse, timestamp window, receive-id check, log line, metrics or request hooks.
Any Flask endpoint that stores a push before answering costs at least this much, so its ratio to
`app` bounds what ours can reach on the machine the benchmark runs on.
"""

from __future__ import annotations

import functools
import os

from flask import Flask, request
from wechatpy.enterprise.crypto import WeChatCrypto

app = Flask(__name__)
crypto = WeChatCrypto(
    os.environ["BENCH_TOKEN"], os.environ["BENCH_AES_KEY"], os.environ["BENCH_SUITE_ID"]
)


def _decrypt() -> str:
    return crypto.decrypt_message(
        request.get_data(),
        request.args["msg_signature"],
        request.args["timestamp"],
        request.args["nonce"],
    )


@app.post("/callback/wecom/<suite_id>/command")
def command(suite_id: str):
    _decrypt()
    return "success"


storing = Flask(__name__)


@storing.post("/callback/wecom/<suite_id>/command")
def command_stored(suite_id: str):
    from suite_server.callbacks import inbox
    from suite_server.protocol import xml

    plaintext = _decrypt().encode()
    keys, server = _server(suite_id)
    with server.app_context():
        inbox.accept(
            keys,
            channel="command",
            raw=request.get_data(as_text=True),
            plaintext=plaintext,
            fields=xml.parse(plaintext),
            receive_id=suite_id,
            tenant_id=None,
        )
    return "success"


@functools.cache
def _server(suite_id: str):
    """suite-server's app (for its database and keys) and the app's keys, made once."""
    from suite_server import create_app, db
    from suite_server.callbacks.keys import callback_keys

    server = create_app()
    with server.app_context():
        return callback_keys(db.session(), "wecom", suite_id), server
