"""Tests for suite_server.crypto.msgcrypt against published vectors and wechatpy."""

from __future__ import annotations

import base64
import struct
import xml.etree.ElementTree as ET

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from wechatpy.crypto import WeChatCrypto as OpenCrypto
from wechatpy.exceptions import InvalidSignatureException

try:  # wechatpy >= 2 calls WeCom "work"; 1.8.x (installed here) calls it "enterprise"
    from wechatpy.work.crypto import WeChatCrypto as WorkCrypto
except ImportError:
    from wechatpy.enterprise.crypto import WeChatCrypto as WorkCrypto

from suite_server.crypto.msgcrypt import (
    DecryptError,
    InvalidSignature,
    MsgCryptError,
    decode_aes_key,
    decrypt,
    decrypt_any,
    encrypt,
    encrypted_reply,
    sign,
    verify_signature,
)

# --- Vector A: official WeCom sample (wecom-suite.md §2) ---------------------------------------
A_TOKEN = "QDG6eK"
A_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
A_ID = "wx5823bf96d3bd56c7"
A1_SIG = "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3"
A1_TS = "1409659589"
A1_NONCE = "263014780"
A1_ECHO = "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ=="
A2_SIG = "477715d11cdb4164915debcba66cb864d751f3e6"
A2_TS = "1409659813"
A2_NONCE = "1372623149"
A2_ENCRYPT = (
    "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj9"
    "11L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DO"
    "dnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03"
    "v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6Bp"
    "NelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q=="
)
A2_PLAIN = (
    "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>\n"
    "<FromUserName><![CDATA[mycreate]]></FromUserName>\n"
    "<CreateTime>1409659813</CreateTime>\n"
    "<MsgType><![CDATA[text]]></MsgType>\n"
    "<Content><![CDATA[hello]]></Content>\n"
    "<MsgId>4561255354251345929</MsgId>\n"
    "<AgentID>218</AgentID>\n"
    "</xml>"
)

# --- Vector B: wechatpy tests/test_crypto.py ---------------------------------------------------
B_TOKEN = "123456"
B_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
B_ID = "wx49f0ab532d5d035a"
B1_SIG = "dd6b9c95b495b3f7e2901bfbc76c664930ffdb96"
B1_TS = "1411443780"
B1_NONCE = "437374425"
B1_ECHO = "4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7hOchLF6p+Q=="
B2_SIG = "74d92dfeb87ba7c714f89d98870ae5eb62dff26d"
B2_TS = "1411525903"
B2_NONCE = "461056294"
B2_ENCRYPT = (
    "RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrsTy"
    "eDXzF6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYy"
    "olBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWO"
    "MZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5t6NMxuGhcUGAPOQipvWTT4dShyqio7ml"
    "sl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0="
)
B3_RANDOM = b"1234567890123456"
B3_TS = "1411525903"
B3_NONCE = "461056294"
B3_PLAIN = "\n".join(
    [
        "<xml>",
        "<MsgType><![CDATA[text]]></MsgType>",
        "<Content><![CDATA[test]]></Content>",
        "<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>",
        "<ToUserName><![CDATA[messense]]></ToUserName>",
        "<AgentID>1</AgentID>",
        "<CreateTime>1411525903</CreateTime>",
        "</xml>",
    ]
)
B3_ENCRYPT = (
    "9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNcBqGs"
    "L8GqxlhZgURnAtObvesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY0nFhHZSj"
    "PUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8NRrrNrsDf03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsVbwbgX05UPPJv"
    "FurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5oazPoQJz0nTYjxxEE8kv3kFxtAGVRe3ypD3WeK2XeFY"
    "FMNMpatF9XiKzHo3"
)
B3_SIG = "407518b7649e86ef23978113f92d27afa9296533"

# --- Vector C: WxJava WxCryptUtilTest ------------------------------------------------------------
C_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
C_ID = "wxb11529c136998cb6"
C_RANDOM = b"aaaabbbbccccdddd"
C_PLAIN = "我是中文abcd123"
C_ENCRYPT = (
    "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg=="
)

# --- Vector D: PowerWeChat Encryptor_test.go (real WeCom capture) --------------------------------
D_TOKEN = "pcoLldqMu2WQQtYBeDX5HiXPsBFlTnDM"
D_KEY = "CyjBvGm4tJNmcThkeL5Wajzom4jKlBygKtpTkYeqsnE"
D_SIG = "d728d2bea7e28585ebd14eacbd330d84073fe7f1"
D_TS = "1623301925"
D_NONCE = "1624217036"
D_ENCRYPT = (
    "ZBY4h9SD1Y/v+ighMGU4yHSVWyMuf2UdQQfFuB8S/SY5il9MynR1rtKIJDG871vOqaCs0FVje6bX0VyhvL02PG7FXjRR"
    "+rAyiwVv7T7nBGgamkPeOv4n/jXgFQnY6NEt3Zym09t4aI+21pDcE6uN6JzcC+hxw5sBfVyza3NHyuLiyhvalsFbasA4"
    "HNcnK+4/3eZLMo+e6yvHUsY4WhmZWW5u5mHcDZm1jtI2fUtzod6Sx7PrCOhm+zUO1I98OD0EmICxHHMjMkGmSFuGhG8v"
    "XRKaRavzvV/fkscZK1HjW+XJOV0c9wYDZT+/LTjDS/yx5KkM5lIksiw57DsCro9gvmE1WdvB3bw3m+5ie2x1ZRSuh6ik"
    "1rbMTiXgJXt0MnbV8VsyPe1zhkbug1cwdhT9zcOTieb0oyiIl3wSAEkNNBNBaWB+78V1hM/ngMoZgKaaasJUCGtPH/rN"
    "+YnxGicDOg=="
)
D_PLAIN = (
    "<xml><ToUserName><![CDATA[wwedab3d5fc43636d8]]></ToUserName>"
    "<FromUserName><![CDATA[WangChaoYi]]></FromUserName><CreateTime>1623301925</CreateTime>"
    "<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[密文测试]]></Content>"
    "<MsgId>6972028683187026694</MsgId><AgentID>1000005</AgentID></xml>"
)
D_ID = "wwedab3d5fc43636d8"

OTHER_KEY = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"


def raw_plaintext(encoding_aes_key: str, ciphertext: str) -> bytes:
    """Independent raw AES-CBC decryption (no unpadding) to inspect the pad byte."""
    key = base64.b64decode(encoding_aes_key + "=")
    dec = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    return dec.update(base64.b64decode(ciphertext)) + dec.finalize()


def raw_ciphertext(aes_key: bytes, plain: bytes) -> str:
    """Encrypt an arbitrary (possibly malformed) plaintext without any framing or padding."""
    enc = Cipher(algorithms.AES(aes_key), modes.CBC(aes_key[:16])).encryptor()
    return base64.b64encode(enc.update(plain) + enc.finalize()).decode()


# --- Published vectors ---------------------------------------------------------------------------


def test_a1_url_verification():
    assert verify_signature(A_TOKEN, A1_TS, A1_NONCE, A1_ECHO, A1_SIG) is True
    assert sign(A_TOKEN, A1_TS, A1_NONCE, A1_ECHO) == A1_SIG
    assert decrypt(decode_aes_key(A_KEY), A1_ECHO) == (b"1616140317555161061", A_ID)
    assert raw_plaintext(A_KEY, A1_ECHO)[-1] == 7


def test_a2_post_message_uses_32_byte_padding():
    assert verify_signature(A_TOKEN, A2_TS, A2_NONCE, A2_ENCRYPT, A2_SIG) is True
    msg, receive_id = decrypt(decode_aes_key(A_KEY), A2_ENCRYPT)
    assert msg.decode() == A2_PLAIN
    assert receive_id == A_ID
    # pad byte 30 > 16: only a 32-byte PKCS#7 block produces it.
    assert raw_plaintext(A_KEY, A2_ENCRYPT)[-30:] == bytes([30]) * 30


def test_b1_url_verification_and_wrong_nonce_fails():
    assert verify_signature(B_TOKEN, B1_TS, B1_NONCE, B1_ECHO, B1_SIG) is True
    assert verify_signature(B_TOKEN, B1_TS, "437374424", B1_ECHO, B1_SIG) is False
    assert decrypt(decode_aes_key(B_KEY), B1_ECHO) == (b"5927782489442352469", B_ID)


def test_b2_post_message():
    assert verify_signature(B_TOKEN, B2_TS, B2_NONCE, B2_ENCRYPT, B2_SIG) is True
    msg, receive_id = decrypt(decode_aes_key(B_KEY), B2_ENCRYPT)
    assert receive_id == B_ID
    root = ET.fromstring(msg.decode())
    assert root.findtext("FromUserName") == "messense"
    assert root.findtext("Content") == "test"
    assert root.findtext("MsgId") == "4363689963896700987"
    assert root.findtext("AgentID") == "1"


def test_b3_deterministic_encrypt():
    ciphertext = encrypt(decode_aes_key(B_KEY), B3_PLAIN, B_ID, random16=B3_RANDOM)
    assert ciphertext == B3_ENCRYPT
    assert sign(B_TOKEN, B3_TS, B3_NONCE, ciphertext) == B3_SIG
    assert decrypt(decode_aes_key(B_KEY), B3_ENCRYPT) == (B3_PLAIN.encode(), B_ID)


def test_c_deterministic_encrypt_utf8():
    key = decode_aes_key(C_KEY)
    assert encrypt(key, C_PLAIN, C_ID, random16=C_RANDOM) == C_ENCRYPT
    assert encrypt(key, C_PLAIN.encode(), C_ID, random16=C_RANDOM) == C_ENCRYPT
    assert decrypt(key, C_ENCRYPT) == (C_PLAIN.encode(), C_ID)


def test_d_real_capture():
    assert verify_signature(D_TOKEN, D_TS, D_NONCE, D_ENCRYPT, D_SIG) is True
    assert decrypt(decode_aes_key(D_KEY), D_ENCRYPT) == (D_PLAIN.encode(), D_ID)


@pytest.mark.parametrize(
    ("timestamp", "nonce", "expected"),
    [
        ("1715943329", "1590219412", "cc0c594499c1634947d5b502f158ee518947db27"),
        ("1714036504", "1514711492", "f464b24fc39322e44b38aa78f5edd27bd1441696"),
    ],
)
def test_open_platform_plain_signature(timestamp, nonce, expected):
    # open-platform.md §0: `signature` = sha1(sorted [token, ts, nonce]); empty 4th part is a no-op.
    assert sign("AAAAA", timestamp, nonce, "") == expected
    assert verify_signature("AAAAA", timestamp, nonce, "", expected) is True


def test_signature_is_exact_lowercase_hex():
    assert verify_signature(A_TOKEN, A1_TS, A1_NONCE, A1_ECHO, A1_SIG.upper()) is False
    assert verify_signature(A_TOKEN, A1_TS, A1_NONCE, A1_ECHO, "") is False
    assert verify_signature(A_TOKEN, A1_TS, A1_NONCE, A1_ECHO, "é\ud800") is False
    assert verify_signature(A_TOKEN + "x", A1_TS, A1_NONCE, A1_ECHO, A1_SIG) is False


def test_exceptions_hierarchy():
    assert issubclass(InvalidSignature, MsgCryptError)
    assert issubclass(DecryptError, MsgCryptError)


# --- Interop with wechatpy ------------------------------------------------------------------------


def _parse_reply(xml: str) -> dict[str, str]:
    root = ET.fromstring(xml)
    return {child.tag: child.text or "" for child in root}


@pytest.mark.parametrize("crypto_class", [OpenCrypto, WorkCrypto])
def test_wechatpy_encrypts_we_decrypt(crypto_class):
    text = "<xml><Content><![CDATA[你好 wechatpy]]></Content></xml>"
    xml = crypto_class(B_TOKEN, B_KEY, B_ID).encrypt_message(text, "nonce42", "1700000000")
    fields = _parse_reply(xml)
    assert fields["TimeStamp"] == "1700000000"
    assert fields["Nonce"] == "nonce42"
    assert verify_signature(
        B_TOKEN, "1700000000", "nonce42", fields["Encrypt"], fields["MsgSignature"]
    )
    assert decrypt(decode_aes_key(B_KEY), fields["Encrypt"]) == (text.encode(), B_ID)


@pytest.mark.parametrize("crypto_class", [OpenCrypto, WorkCrypto])
def test_our_encrypted_reply_wechatpy_decrypts(crypto_class):
    text = "<xml><Content><![CDATA[回复 ]]]]><![CDATA[> ok]]></Content></xml>"
    xml = encrypted_reply(B_TOKEN, decode_aes_key(B_KEY), B_ID, text, "1700000001", "n0nce")
    assert xml.startswith("<xml><Encrypt><![CDATA[")
    assert xml.endswith(
        "</MsgSignature><TimeStamp>1700000001</TimeStamp><Nonce><![CDATA[n0nce]]></Nonce></xml>"
    )
    fields = _parse_reply(xml)
    assert fields["MsgSignature"] == sign(B_TOKEN, "1700000001", "n0nce", fields["Encrypt"])
    crypto = crypto_class(B_TOKEN, B_KEY, B_ID)
    assert crypto.decrypt_message(xml, fields["MsgSignature"], "1700000001", "n0nce") == text
    with pytest.raises(InvalidSignatureException):
        crypto.decrypt_message(xml, fields["MsgSignature"], "1700000001", "other")


def test_our_echostr_wechatpy_work_checks():
    echostr = encrypt(decode_aes_key(A_KEY), "8812345678901234567", A_ID)
    signature = sign(A_TOKEN, "1409659589", "263014780", echostr)
    crypto = WorkCrypto(A_TOKEN, A_KEY, A_ID)
    assert crypto.check_signature(signature, "1409659589", "263014780", echostr) == (
        "8812345678901234567"
    )


def test_encrypted_reply_escapes_hostile_nonce_and_timestamp():
    nonce, timestamp = "a]]>b<c", "1<2&3"
    xml = encrypted_reply(B_TOKEN, decode_aes_key(B_KEY), B_ID, "hi", timestamp, nonce)
    fields = _parse_reply(xml)
    assert fields["Nonce"] == nonce
    assert fields["TimeStamp"] == timestamp
    assert verify_signature(B_TOKEN, timestamp, nonce, fields["Encrypt"], fields["MsgSignature"])
    assert decrypt(decode_aes_key(B_KEY), fields["Encrypt"]) == (b"hi", B_ID)


# --- Padding and framing --------------------------------------------------------------------------


def test_aligned_plaintext_gets_full_32_byte_pad_block():
    msg = "x" * (64 - 16 - 4 - len(B_ID))  # framed plaintext is exactly 64 bytes
    ciphertext = encrypt(decode_aes_key(B_KEY), msg, B_ID, random16=B3_RANDOM)
    raw = raw_plaintext(B_KEY, ciphertext)
    assert len(raw) == 96
    assert raw[-32:] == bytes([32]) * 32
    assert decrypt(decode_aes_key(B_KEY), ciphertext) == (msg.encode(), B_ID)


def test_empty_message_and_receive_id_round_trip():
    key = decode_aes_key(B_KEY)
    assert decrypt(key, encrypt(key, "", "")) == (b"", "")


def test_encrypt_uses_fresh_randomness():
    key = decode_aes_key(B_KEY)
    assert encrypt(key, "same", B_ID) != encrypt(key, "same", B_ID)


def test_encrypt_rejects_bad_random16_and_key():
    with pytest.raises(ValueError):
        encrypt(decode_aes_key(B_KEY), "m", B_ID, random16=b"short")
    with pytest.raises(ValueError):
        encrypt(b"k" * 16, "m", B_ID)


def _framed(body: bytes, pad: bytes) -> bytes:
    return b"R" * 16 + body + pad


KEY_B = decode_aes_key(B_KEY)


@pytest.mark.parametrize(
    "ciphertext",
    [
        "",
        "abc",
        "not base64!!",
        "é" * 44,
        A1_ECHO[:-4],  # truncated, still valid base64 of 45 bytes
        A1_ECHO + "\n",
        base64.b64encode(b"\x00" * 15).decode(),  # not a multiple of 16
        base64.b64encode(b"\x00" * 33).decode(),
        # well-formed AES, malformed inside:
        raw_ciphertext(KEY_B, _framed(struct.pack(">I", 0xFFFFFFFF) + b"abc", bytes([9]) * 9)),
        raw_ciphertext(
            KEY_B, _framed(struct.pack(">I", 3) + b"\xff\xfeX" + b"i" * 18, bytes([23]) * 23)
        ),
        raw_ciphertext(KEY_B, _framed(struct.pack(">I", 2) + b"ok\xff", bytes([9]) * 9)),
        raw_ciphertext(KEY_B, _framed(struct.pack(">I", 2) + b"ok" + b"i" * 9, b"\x00")),
        raw_ciphertext(KEY_B, _framed(struct.pack(">I", 2) + b"ok" + b"i" * 9, b"!")),
        raw_ciphertext(KEY_B, _framed(struct.pack(">I", 2) + b"ok" + b"i" * 8, b"\x01\x02")),
        raw_ciphertext(KEY_B, b"R" * 16 + bytes([16]) * 16),  # nothing left for the length prefix
        raw_ciphertext(KEY_B, bytes([32]) * 32),
    ],
)
def test_malformed_ciphertext_raises_decrypt_error(ciphertext):
    with pytest.raises(DecryptError):
        decrypt(KEY_B, ciphertext)


def test_wrong_key_raises_decrypt_error():
    with pytest.raises(DecryptError):
        decrypt(decode_aes_key(OTHER_KEY), A2_ENCRYPT)


# --- Key rotation ---------------------------------------------------------------------------------


def test_decrypt_any_current_then_previous_key():
    current, previous = decode_aes_key(OTHER_KEY), decode_aes_key(A_KEY)
    assert decrypt_any([current, previous], A2_ENCRYPT) == (A2_PLAIN.encode(), A_ID, 1)
    fresh = encrypt(current, "new", A_ID)
    assert decrypt_any([current, previous], fresh) == (b"new", A_ID, 0)


def test_decrypt_any_unrelated_key_fails():
    with pytest.raises(DecryptError):
        decrypt_any([decode_aes_key(OTHER_KEY), decode_aes_key(C_KEY)], A2_ENCRYPT)
    with pytest.raises(DecryptError):
        decrypt_any([], A2_ENCRYPT)


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=32, max_size=32), st.binary(min_size=32, max_size=32), st.text())
def test_decrypt_any_picks_the_right_key(key0, key1, text):
    assume(key0 != key1)
    ciphertext = encrypt(key1, text, B_ID)
    # A wrong key passes padding + length + UTF-8 checks only with negligible probability.
    assert decrypt_any([key0, key1], ciphertext) == (text.encode(), B_ID, 1)
    assert decrypt_any([key1, key0], ciphertext) == (text.encode(), B_ID, 0)
    with pytest.raises(DecryptError):
        decrypt_any([key0], ciphertext)


# --- decode_aes_key -------------------------------------------------------------------------------


def test_decode_aes_key_valid():
    key = decode_aes_key(A_KEY)
    assert len(key) == 32
    assert key == base64.b64decode(A_KEY + "=")
    assert len(decode_aes_key("+/" * 21 + "A")) == 32


@pytest.mark.parametrize(
    "bad",
    [
        "",
        A_KEY[:42],
        A_KEY + "A",
        A_KEY[:42] + "=",
        A_KEY[:42] + "-",
        A_KEY[:42] + "_",
        A_KEY[:42] + "é",
        A_KEY[:42] + " ",
        A_KEY + "\n",
        " " + A_KEY,
        "٣" * 43,  # Unicode digit
    ],
)
def test_decode_aes_key_invalid(bad):
    with pytest.raises(ValueError, match="EncodingAESKey must be 43 base64 characters"):
        decode_aes_key(bad)


ANY_TEXT = st.text(st.one_of(st.characters(), st.sampled_from(["\ud800", "\udfff", "=", "\n"])))


@settings(max_examples=500)
@given(ANY_TEXT)
def test_decode_aes_key_only_raises_value_error(text):
    try:
        key = decode_aes_key(text)
    except ValueError:
        return
    assert len(key) == 32


# --- Robustness properties ------------------------------------------------------------------------

B64_CHARS = st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")


def _decrypt_or_decrypt_error(ciphertext: str) -> None:
    try:
        msg, receive_id = decrypt(KEY_B, ciphertext)
    except DecryptError:
        return
    assert isinstance(msg, bytes) and isinstance(receive_id, str)
    msg.decode("utf-8")


@settings(max_examples=500)
@given(st.one_of(ANY_TEXT, st.text(B64_CHARS)))
def test_decrypt_random_text(text):
    _decrypt_or_decrypt_error(text)


@settings(max_examples=500)
@given(st.binary(max_size=200))
def test_decrypt_random_base64_bytes(data):
    _decrypt_or_decrypt_error(base64.b64encode(data).decode())


@settings(max_examples=500)
@given(
    st.sampled_from([A1_ECHO, B2_ENCRYPT, C_ENCRYPT]),
    st.data(),
)
def test_decrypt_mutated_ciphertext(ciphertext, data):
    raw = bytearray(base64.b64decode(ciphertext))
    kind = data.draw(st.sampled_from(["flip", "truncate_raw", "truncate_text", "insert"]))
    if kind == "flip":
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] ^= data.draw(st.integers(1, 255))
        mutated = base64.b64encode(bytes(raw)).decode()
    elif kind == "truncate_raw":
        mutated = base64.b64encode(bytes(raw[: data.draw(st.integers(0, len(raw) - 1))])).decode()
    elif kind == "truncate_text":
        mutated = ciphertext[: data.draw(st.integers(0, len(ciphertext) - 1))]
    else:
        i = data.draw(st.integers(0, len(ciphertext)))
        mutated = ciphertext[:i] + data.draw(ANY_TEXT) + ciphertext[i:]
    _decrypt_or_decrypt_error(mutated)


@settings(max_examples=300)
@given(st.text(), st.text(), st.binary(min_size=32, max_size=32))
def test_encrypt_decrypt_round_trip(message, receive_id, key):
    ciphertext = encrypt(key, message, receive_id)
    assert len(base64.b64decode(ciphertext)) % 32 == 0
    assert decrypt(key, ciphertext) == (message.encode(), receive_id)


@settings(max_examples=300)
@given(ANY_TEXT, ANY_TEXT, ANY_TEXT, ANY_TEXT, ANY_TEXT)
def test_verify_signature_never_raises(token, timestamp, nonce, encrypt_, signature):
    assert verify_signature(token, timestamp, nonce, encrypt_, signature) in (True, False)
    assert verify_signature(
        token, timestamp, nonce, encrypt_, sign(token, timestamp, nonce, encrypt_)
    )
