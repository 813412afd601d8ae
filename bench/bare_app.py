"""The baseline for bench/callbacks.py: a bare Flask endpoint that only verifies and decrypts a
push with wechatpy and stores nothing."""

from __future__ import annotations

import os

from flask import Flask, request
from wechatpy.enterprise.crypto import WeChatCrypto

app = Flask(__name__)
crypto = WeChatCrypto(
    os.environ["BENCH_TOKEN"], os.environ["BENCH_AES_KEY"], os.environ["BENCH_SUITE_ID"]
)


@app.post("/callback/wecom/<suite_id>/command")
def command(suite_id: str):
    crypto.decrypt_message(
        request.get_data(),
        request.args["msg_signature"],
        request.args["timestamp"],
        request.args["nonce"],
    )
    return "success"
