"""WXBizMsgCrypt callback crypto (AES-256-CBC + SHA-1 signature) for WeCom and the Open Platform."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import string
import struct
from collections.abc import Sequence
from xml.sax.saxutils import escape

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from suite_server.protocol.xml import cdata

# wecom-suite.md §2: 32-byte PKCS#7 blocks, not AES's 16 (pad 1..32; a full block when aligned).
_PAD_BLOCK = 32
# wecom-suite.md §2: platforms generate [A-Za-z0-9]{43}; + and / decode just as well.
_KEY_RE = re.compile(r"[A-Za-z0-9+/]{43}")


class MsgCryptError(Exception):
    """Base: the message could not be verified or decrypted."""


class InvalidSignature(MsgCryptError):
    """msg_signature does not match sha1(sorted(token, timestamp, nonce, encrypt))."""


class DecryptError(MsgCryptError):
    """Ciphertext is malformed or was not encrypted with the given key."""


def decode_aes_key(encoding_aes_key: str) -> bytes:
    """EncodingAESKey (43 chars) -> 32-byte AES key; ValueError for anything else."""
    if not isinstance(encoding_aes_key, str) or not _KEY_RE.fullmatch(encoding_aes_key):
        raise ValueError("EncodingAESKey must be 43 base64 characters")
    # wecom-suite.md §2: AESKey = base64decode(EncodingAESKey + "="); 43 chars always give 32 bytes
    # (the low 2 bits of the last char are dropped, and the platforms do not zero them).
    key = base64.b64decode(encoding_aes_key + "=")
    if len(key) != 32:  # pragma: no cover - cannot happen after the regex check
        raise ValueError("EncodingAESKey must decode to 32 bytes")
    return key


def generate_aes_key() -> str:
    """A new EncodingAESKey as the consoles make them: 43 random letters and digits."""
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(43))


def _utf8(value: str) -> bytes:
    # surrogatepass: a lone surrogate from a hostile query string must not raise here.
    return value.encode("utf-8", "surrogatepass")


def sign(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    """msg_signature: lowercase hex sha1 of the plainly sorted, unseparated parts.

    With encrypt="" it equals the plain `signature` of open-platform.md §0 (token, ts, nonce).
    """
    # Sorting str by code point equals sorting the UTF-8 bytes, which is what the SDKs do.
    return hashlib.sha1(
        b"".join(sorted(_utf8(p) for p in (token, timestamp, nonce, encrypt)))
    ).hexdigest()


def verify_signature(
    token: str, timestamp: str, nonce: str, encrypt: str, msg_signature: str
) -> bool:
    """Constant-time check of msg_signature; False (never an exception) for any str input."""
    if not all(isinstance(p, str) for p in (token, timestamp, nonce, encrypt, msg_signature)):
        return False
    # compare_digest only takes ASCII str, so compare bytes.
    return hmac.compare_digest(_utf8(sign(token, timestamp, nonce, encrypt)), _utf8(msg_signature))


def _cipher(aes_key: bytes) -> Cipher:
    if len(aes_key) != 32:
        raise ValueError("AES key must be 32 bytes (use decode_aes_key)")
    # wecom-suite.md §2: IV = AESKey[0:16].
    return Cipher(algorithms.AES(aes_key), modes.CBC(aes_key[:16]))


def encrypt(
    aes_key: bytes, message: bytes | str, receive_id: str, *, random16: bytes | None = None
) -> str:
    """Encrypt message for receive_id; returns the base64 `Encrypt` value."""
    msg = message.encode("utf-8") if isinstance(message, str) else bytes(message)
    rnd = os.urandom(16) if random16 is None else random16
    if len(rnd) != 16:
        raise ValueError("random16 must be 16 bytes")
    # wecom-suite.md §2: random(16) || uint32_be(len(msg)) || msg || receiveid, then 32-byte PKCS#7.
    plain = rnd + struct.pack(">I", len(msg)) + msg + receive_id.encode("utf-8")
    pad = _PAD_BLOCK - len(plain) % _PAD_BLOCK
    plain += bytes([pad]) * pad
    enc = _cipher(aes_key).encryptor()
    return base64.b64encode(enc.update(plain) + enc.finalize()).decode("ascii")


def decrypt(aes_key: bytes, ciphertext: str) -> tuple[bytes, str]:
    """Return (message bytes, receive_id); DecryptError for any malformed input or wrong key."""
    try:
        raw = base64.b64decode(ciphertext, validate=True)
    except (TypeError, ValueError) as exc:  # binascii.Error is a ValueError; non-ASCII str too
        raise DecryptError("ciphertext is not valid base64") from exc
    if not raw or len(raw) % 16:
        raise DecryptError("ciphertext length is not a multiple of the AES block size")
    dec = _cipher(aes_key).decryptor()
    plain = dec.update(raw) + dec.finalize()
    # wecom-suite.md §2: SDKs strip the pad when the last byte is 1..32. We also require all pad
    # bytes to match (real traffic always has them) so that a wrong key is reliably detected.
    pad = plain[-1]
    if not 1 <= pad <= _PAD_BLOCK or plain[-pad:] != bytes([pad]) * pad:
        raise DecryptError("bad padding (wrong key?)")
    content = plain[16:-pad]
    if len(content) < 4:
        raise DecryptError("plaintext too short")
    (length,) = struct.unpack(">I", content[:4])
    if length > len(content) - 4:
        raise DecryptError("message length prefix exceeds plaintext (wrong key?)")
    msg = content[4 : 4 + length]
    try:
        msg.decode("utf-8")
        receive_id = content[4 + length :].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecryptError("plaintext is not valid UTF-8 (wrong key?)") from exc
    return msg, receive_id


def decrypt_any(aes_keys: Sequence[bytes], ciphertext: str) -> tuple[bytes, str, int]:
    """Try each key in order (current, then previous); return (message, receive_id, key index).

    open-platform.md §0: the EncodingAESKey may be rotated, so keep the previous key as fallback.
    """
    for index, key in enumerate(aes_keys):
        try:
            msg, receive_id = decrypt(key, ciphertext)
        except DecryptError:
            continue
        return msg, receive_id, index
    raise DecryptError("no configured key decrypts the message")


def encrypted_reply(
    token: str, aes_key: bytes, receive_id: str, message: str, timestamp: str, nonce: str
) -> str:
    """Passive encrypted reply XML (wecom-suite.md §2), signed over the same timestamp and nonce."""
    encrypted = encrypt(aes_key, message, receive_id)
    signature = sign(token, timestamp, nonce, encrypted)
    return (
        f"<xml><Encrypt>{cdata(encrypted)}</Encrypt>"
        f"<MsgSignature>{cdata(signature)}</MsgSignature>"
        f"<TimeStamp>{escape(timestamp)}</TimeStamp>"
        f"<Nonce>{cdata(nonce)}</Nonce></xml>"
    )
