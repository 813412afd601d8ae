"""Pushes reach our contract URLs encrypted, signed and shaped as the platforms send them; the
stand-in server checks each with wechatpy (an independent implementation)."""

from __future__ import annotations

import hashlib

import requests


def test_wecom_ticket_push_payload_url_and_receive_id(wecom, receiver):
    push = receiver.wait_for(app_id=wecom.app_id, InfoType="suite_ticket")
    assert push.error is None
    assert push.path == f"/callback/wecom/{wecom.app_id}/command"
    # wecom-suite.md §1: outer ToUserName is the suite id, AgentID empty; receive id = suite id
    # (wechatpy raised otherwise, since it compares the id strictly).
    assert push.outer == {
        "ToUserName": wecom.app_id,
        "Encrypt": push.outer["Encrypt"],
        "AgentID": None,
    }
    assert set(push.args) == {"msg_signature", "timestamp", "nonce"}
    assert list(push.message) == ["SuiteId", "InfoType", "TimeStamp", "SuiteTicket"]
    assert push.message["SuiteId"] == wecom.app_id
    assert push.message["TimeStamp"].isdigit()
    assert len(push.message["SuiteTicket"]) >= 32
    # Strings are CDATA, numbers bare (§3).
    assert "<TimeStamp><![CDATA[" not in push.plaintext
    assert "<SuiteId><![CDATA[" + wecom.app_id + "]]></SuiteId>" in push.plaintext


def test_open_ticket_push_payload_url_and_signatures(open_app, receiver):
    push = receiver.wait_for(app_id=open_app.app_id, InfoType="component_verify_ticket")
    assert push.error is None
    assert push.path == f"/callback/open/{open_app.app_id}/auth"
    assert set(push.outer) == {"AppId", "Encrypt"}  # open-platform.md §1: no ToUserName
    assert push.outer["AppId"] == open_app.app_id
    assert push.args["encrypt_type"] == "aes"
    plain = sorted(["AAAAA", push.args["timestamp"], push.args["nonce"]])
    assert push.args["signature"] == hashlib.sha1("".join(plain).encode()).hexdigest()
    assert push.message["AppId"] == open_app.app_id
    assert push.message["ComponentVerifyTicket"].startswith("ticket@@@")
    assert push.message["CreateTime"].isdigit()


def test_wecom_data_push_uses_the_corps_id_and_agent(wecom, receiver):
    corp = wecom.install("wwdatacorp000001", "Data Corp")
    agent_id = corp["auth_info"]["agent"][0]["agentid"]
    result = wecom.push("text", tenant_id="wwdatacorp000001", content="hi there", from_user="lisi")
    assert result["delivered"] is True and result["attempts"] == 1
    push = receiver.wait_for(channel="data", Content="hi there")
    assert push.error is None  # decrypted by wechatpy with receive id = the corp's id
    assert push.path == f"/callback/wecom/{wecom.app_id}/data"
    assert push.outer["ToUserName"] == "wwdatacorp000001"
    assert push.outer["AgentID"] == str(agent_id)
    assert push.message["FromUserName"] == "lisi"
    assert push.message["MsgType"] == "text"
    assert push.message["AgentID"] == str(agent_id)

    event = wecom.push("event", tenant_id="wwdatacorp000001", event="enter_agent")
    assert event["delivered"] is True
    assert receiver.wait_for(channel="data", Event="enter_agent").message["MsgType"] == "event"


def test_open_message_push_goes_to_the_authorizer_path_with_openid(open_app, receiver):
    info = open_app.authorize("wxaccount0001")
    assert info["authorizer_appid"] == "wxaccount0001"
    result = open_app.push("text", tenant_id="wxaccount0001", from_user="oUser1", content="ping")
    assert result["delivered"] is True
    push = receiver.wait_for(channel="msg", Content="ping")
    assert push.error is None  # receive id = component appid (wechatpy checks it)
    assert push.path == f"/callback/open/{open_app.app_id}/msg/wxaccount0001"
    assert push.args["openid"] == "oUser1"
    assert push.outer["ToUserName"].startswith("gh_")
    assert push.message["ToUserName"] == push.outer["ToUserName"]
    assert push.message["FromUserName"] == "oUser1"


def test_retry_until_the_server_answers_success(wecom, receiver):
    receiver.fail_first = 2
    result = wecom.push("ticket")
    assert result["delivered"] is True
    assert result["attempts"] == 3  # wecom-suite.md §1: 3 attempts in total
    assert result["status"] == 200


def test_three_failures_and_the_push_is_given_up(wecom, receiver):
    receiver.mode = "fail"
    before = len(receiver.snapshot())
    result = wecom.push("ticket")
    assert result["delivered"] is False
    assert result["attempts"] == 3
    assert result["status"] == 500
    assert len(receiver.snapshot()) - before == 3
    recorded = requests.get(f"{wecom.base_url}/sandbox/pushes", params={"kind": "ticket"}).json()
    assert recorded["pushes"][-1]["delivered"] is False


def test_command_url_must_answer_exactly_success(wecom, open_app, receiver):
    receiver.mode = "wrong_body"
    assert wecom.push("ticket")["delivered"] is False
    receiver.mode = "empty"
    # An empty body is fine for messages only (open-platform.md §3), not on the command/auth URL.
    assert open_app.push("ticket")["delivered"] is False


def test_slow_server_times_out_and_is_retried(wecom, receiver, sandbox):
    sandbox.state.settings.update({"push_timeout": 0.2, "push_attempts": 2})
    receiver.mode, receiver.delay = "slow", 0.5
    result = wecom.push("ticket")
    assert result["delivered"] is False
    assert result["attempts"] == 2
    assert "Timeout" in result["error"]


def test_message_push_accepts_empty_body_and_verifies_an_encrypted_reply(open_app, wecom, receiver):
    open_app.authorize("wxaccount0001")
    receiver.mode = "empty"
    assert open_app.push("text", tenant_id="wxaccount0001")["delivered"] is True

    receiver.mode, receiver.reply_content = "reply", "TESTCOMPONENT_MSG_TYPE_TEXT_callback"
    result = open_app.push("text", tenant_id="wxaccount0001", content="TESTCOMPONENT_MSG_TYPE_TEXT")
    assert result["delivered"] is True
    assert "<Content><![CDATA[TESTCOMPONENT_MSG_TYPE_TEXT_callback]]></Content>" in result["reply"]

    wecom.install("wwreplycorp00001")
    receiver.reply_content = "hello from the app"
    result = wecom.push("text", tenant_id="wwreplycorp00001")
    assert result["delivered"] is True
    assert "hello from the app" in result["reply"]


def test_a_reply_encrypted_for_the_wrong_receive_id_is_not_delivered(wecom, receiver):
    wecom.install("wwreplycorp00002")
    # Signed right, but encrypted for the suite id where the corp's id belongs (§1 data URL).
    receiver.mode, receiver.reply_receive_id = "reply", wecom.app_id
    result = wecom.push("text", tenant_id="wwreplycorp00002")
    assert result["status"] == 200
    assert result["delivered"] is False
    assert "receive id" in result["error"]


def test_bad_passive_reply_signature_is_not_delivered(open_app, receiver, monkeypatch):
    from werkzeug.wrappers import Response

    open_app.authorize("wxaccount0002")
    original = receiver._handle

    def tampered(request):
        response = original(request)
        if "/msg/" in request.path:
            text = response.get_data(as_text=True).replace(
                "<MsgSignature><![CDATA[", "<MsgSignature><![CDATA[0"
            )
            return Response(text)
        return response

    receiver.mode = "reply"
    monkeypatch.setattr(receiver, "_handle", tampered)
    result = open_app.push("text", tenant_id="wxaccount0002")
    assert result["delivered"] is False
    assert "signature" in result["error"]
