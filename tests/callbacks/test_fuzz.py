"""Random and mutated input at every callback URL: always an answer, never a 500."""

from __future__ import annotations

import base64
import string
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from suite_server import db
from suite_server.crypto.msgcrypt import sign
from tests import factories
from tests.callbacks import pushes

KEY = factories.AES_KEY
URLS = [
    "/callback/wecom/wwsuite/command",
    "/callback/wecom/wwsuite/data",
    "/callback/open/wxcomponent/auth",
    "/callback/open/wxcomponent/msg/wxaccount",
]
ALLOWED = {200, 400, 403, 404, 405, 413}
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def apps(app):
    session = db.session()
    factories.wecom_app(session, app_id="wwsuite", provider_corpid="wwprovider")
    factories.open_app(session, app_id="wxcomponent")
    return app


def valid(url: str):
    """A correctly signed push for `url`, to mutate."""
    if "/wecom/" in url:
        return pushes.push("wecom", "QDG6eK", KEY, "wwsuite", pushes.suite_ticket("wwsuite", "T"))
    return pushes.push("open", "AAAAA", KEY, "wxcomponent", pushes.component_ticket("wxc", "T"))


query_values = st.text(alphabet=string.printable + "中文\x00", max_size=60)
queries = st.dictionaries(
    st.sampled_from(["msg_signature", "timestamp", "nonce", "echostr", "encrypt_type", "x"]),
    query_values,
)


@FUZZ
@given(url=st.sampled_from(URLS), query=queries, body=st.binary(max_size=2000))
def test_random_requests(apps, url, query, body):
    client = apps.test_client()
    for method in ("GET", "POST"):
        response = client.open(url, method=method, query_string=query, data=body)
        assert response.status_code in ALLOWED, (method, response.status_code, response.data)


@FUZZ
@given(
    url=st.sampled_from(URLS),
    position=st.integers(min_value=0, max_value=10_000),
    replacement=st.text(alphabet=string.ascii_letters + string.digits + "+/=<>&]!", max_size=4),
    field=st.sampled_from(["body", "msg_signature", "timestamp", "nonce"]),
)
def test_mutated_valid_pushes(apps, url, position, replacement, field):
    query, body = valid(url)
    if field == "body":
        index = position % len(body)
        body = body[:index] + replacement + body[index + len(replacement) :]
    else:
        value = query[field]
        index = position % (len(value) + 1)
        query = {**query, field: value[:index] + replacement + value[index + len(replacement) :]}
    response = apps.test_client().post(url, query_string=query, data=body)
    assert response.status_code in ALLOWED, response.data


ciphertexts = st.one_of(
    st.binary(max_size=400).map(lambda b: base64.b64encode(b).decode()),
    st.text(alphabet=string.ascii_letters + string.digits + "+/=", max_size=400),
    st.text(max_size=100).filter(lambda t: "]]>" not in t),
)


@FUZZ
@given(url=st.sampled_from(URLS), ciphertext=ciphertexts)
def test_random_ciphertexts_with_valid_signatures(apps, url, ciphertext):
    """Signed correctly, so they reach the decryption and the inner XML parser."""
    token = "QDG6eK" if "/wecom/" in url else "AAAAA"
    timestamp = str(int(time.time()))
    query = {
        "msg_signature": sign(token, timestamp, "1", ciphertext),
        "timestamp": timestamp,
        "nonce": "1",
    }
    client = apps.test_client()
    body = "<xml><Encrypt><![CDATA[" + ciphertext + "]]></Encrypt></xml>"
    response = client.post(url, query_string=query, data=body.encode("utf-8", "surrogatepass"))
    assert response.status_code in ALLOWED, response.data
    response = client.get(url, query_string={**query, "echostr": ciphertext})
    assert response.status_code in ALLOWED, response.data
