"""Hostile input at every URL family of a served deployment: answers counted by status, 0 x 500.

    python bench/fuzz.py [--count 3000] [--seed 1] [--database postgresql]

Serves wsgi.py with gunicorn (2 workers) on a fresh database holding a WeCom suite, an Open
component, a tenant of each, an admin and an API key. Then sends `--count` requests, drawn from a
seeded generator: a path family (callbacks, install and its done page, admin pages and forms,
the token API, health, unknown URLs) with parts replaced by hostile values (NUL, CR/LF, long
strings, Unicode digits, huge and zero-padded numbers, path tricks), and bodies that are random
bytes, UTF-16, entity bombs, or pushes validly signed for the app whose inner fields are hostile
(TimeStamp, CreateTime, MsgId, tenant ids). Half the admin requests carry a signed-in session,
half the API requests a valid key.

Printed: the answers by status, the requests answered 500 (target 0), and the tracebacks the
servers logged (target 0). The baseline in the same run is the same number of well-formed
requests (health checks): what the machine answers when nothing is hostile.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path
from urllib.parse import quote

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.callbacks import deployment  # noqa: E402
from bench.common import gunicorn  # noqa: E402
from suite_server.crypto import msgcrypt  # noqa: E402

TOKEN, AES_KEY = "QDG6eK", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
SUITE, COMPONENT, CORP, ACCOUNT = "wwfuzzsuite", "wxfuzzcomponent", "wwfuzzcorp", "wxfuzzaccount"
PASSWORD = "fuzzing password 1"

HOSTILE = [
    "\x00",
    "%00",
    "\r\n",
    "%0d%0aSet-Cookie:%20a=b",
    "\n",
    "²",
    "١٢٣",
    "0001000",
    "99999999999999999999",
    "253402300800",
    "-1",
    "1e9",
    " 1",
    "../../etc/passwd",
    "%2e%2e%2f",
    "<script>",
    "'",
    '"',
    "\\",
    "\u202e",
    "\x1b[31m",
    "A" * 70,
    "A" * 5000,
    "",
    "%",
    "%zz",
    "\ud800".encode("utf-8", "surrogatepass").decode("latin-1"),
    "ww" + "9" * 64,
]
BODIES = [
    b"",
    b"\x00" * 10,
    "<xml>\u4e2d</xml>".encode("utf-16"),
    b"<xml><Encrypt>%%%</Encrypt></xml>",
    b'<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]><xml>&b;</xml>',
    b"<xml><Encrypt><![CDATA[" + b"A" * 4000 + b"]]></Encrypt></xml>",
    bytes(range(256)),
    b"<xml><a><b><c>" * 200,
]


def hostile(rng: random.Random) -> str:
    return rng.choice(HOSTILE)


def signed_push(rng: random.Random) -> tuple[str, str, bytes]:
    """A push validly signed and encrypted for the suite or the component, whose inner fields
    are hostile: what only the app's own platform (or its keys) could send."""
    field = rng.choice(HOSTILE)
    wecom = rng.random() < 0.5
    if wecom:
        path, receive_id = f"/callback/wecom/{SUITE}/{rng.choice(['command', 'data'])}", SUITE
        if rng.random() < 0.5:
            message = (
                f"<xml><SuiteId>{SUITE}</SuiteId><InfoType>suite_ticket</InfoType>"
                f"<TimeStamp>{field}</TimeStamp><SuiteTicket>t{rng.random()}</SuiteTicket></xml>"
            )
        else:
            receive_id = rng.choice([CORP, "", field])
            message = (
                f"<xml><ToUserName>{CORP}</ToUserName><FromUserName>u</FromUserName>"
                f"<CreateTime>{field}</CreateTime><MsgType>text</MsgType><Content>hi</Content>"
                f"<MsgId>{rng.choice([field, str(rng.getrandbits(63))])}</MsgId></xml>"
            )
    else:
        path, receive_id = f"/callback/open/{COMPONENT}/auth", COMPONENT
        message = (
            f"<xml><AppId>{COMPONENT}</AppId><CreateTime>{field}</CreateTime>"
            f"<InfoType>{rng.choice(['component_verify_ticket', 'authorized', field])}</InfoType>"
            f"<ComponentVerifyTicket>t{rng.random()}</ComponentVerifyTicket>"
            f"<AuthorizerAppid>{field}</AuthorizerAppid><appid>{field}</appid></xml>"
        )
    message = message.replace("\x00", "")  # a NUL cannot be encrypted into XML at all
    key = msgcrypt.decode_aes_key(AES_KEY)
    encrypted = msgcrypt.encrypt(key, message, receive_id)
    timestamp, nonce = str(int(time.time())), str(rng.getrandbits(32))
    query = (
        f"msg_signature={msgcrypt.sign(TOKEN, timestamp, nonce, encrypted)}"
        f"&timestamp={timestamp}&nonce={nonce}&encrypt_type=aes"
    )
    body = f"<xml><ToUserName>{receive_id}</ToUserName><Encrypt>{encrypted}</Encrypt></xml>"
    return "POST", f"{path}?{query}", body.encode()


def request_of(rng: random.Random) -> tuple[str, str, bytes]:
    """(method, path with query, body) of one hostile request."""
    h, q = hostile(rng), quote(hostile(rng), safe="%")
    family = rng.randrange(8)
    if family == 0:
        return signed_push(rng)
    if family == 1:
        app = rng.choice([SUITE, COMPONENT, h])
        path = rng.choice(
            [
                f"/callback/wecom/{app}/command",
                f"/callback/wecom/{app}/data",
                f"/callback/open/{app}/auth",
                f"/callback/open/{app}/msg/{quote(h, safe='%')}",
            ]
        )
        query = f"msg_signature={q}&timestamp={rng.choice([q, '1700000000'])}&nonce={q}"
        if rng.random() < 0.3:
            query += f"&echostr={q}"
        return rng.choice(["GET", "POST"]), f"{path}?{query}", rng.choice(BODIES)
    if family == 2:
        app = rng.choice([SUITE, COMPONENT, quote(h, safe="%")])
        return (
            "GET",
            rng.choice(
                [
                    f"/install/{app}",
                    f"/install/{app}/done?auth_code={q}&state={q}",
                    f"/install/{app}?ref={q}",
                ]
            ),
            b"",
        )
    if family in (3, 4):
        page = rng.choice(
            [
                f"/admin/tenants?q={q}&before={q}",
                f"/admin/events?before={q}&status={q}",
                f"/admin/webhooks?before={q}",
                f"/admin/audit?actor={q}&before={q}",
                f"/admin/tenants/{SUITE}/{quote(h, safe='%')}",
                f"/admin/events/{q}",
                f"/admin/apps/{quote(h, safe='%')}",
                f"/admin/login?next={q}",
                "/admin/at-risk",
            ]
        )
        if rng.random() < 0.3:
            return "POST", page, f"username={q}&password={q}&csrf_token={q}".encode()
        return "GET", page, b""
    if family in (5, 6):
        base = f"/api/v1/apps/{rng.choice([SUITE, COMPONENT, quote(h, safe='%')])}"
        path = rng.choice(
            [
                "/api/v1/apps",
                f"{base}/access-token",
                f"{base}/tenants?limit={q}&cursor={q}",
                f"{base}/tenants?q={q}&status={q}",
                f"{base}/tenants/{quote(h, safe='%')}",
                f"{base}/tenants/{CORP}/access-token",
            ]
        )
        if rng.random() < 0.3:
            return "POST", f"{base}/tenants/{CORP}/access-token/refresh", rng.choice(BODIES)
        return "GET", path, b""
    return (
        rng.choice(["GET", "POST", "PUT", "DELETE"]),
        rng.choice(
            [
                f"/{quote(h, safe='%')}",
                f"/healthz?{q}",
                f"/readyz?x={q}",
                "/metrics",
                "/favicon.ico",
            ]
        ),
        rng.choice(BODIES),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database", choices=["postgresql", "sqlite"], default="postgresql")
    args = parser.parse_args()

    workdir, env, drop = deployment(args.database, "fuzz")
    env |= {
        "SUITE_SERVER_LOG_LEVEL": "WARNING",
        # No platform is reachable: an install start fails fast, as it would with a dead network.
        "SUITE_SERVER_WECOM_API_BASE": "http://127.0.0.1:9",
        "SUITE_SERVER_WECHAT_API_BASE": "http://127.0.0.1:9",
    }
    os.environ.update(env)
    from suite_server import accounts, create_app, db, schema
    from suite_server.apps import register_app
    from suite_server.models import Tenant

    app = create_app()
    schema.upgrade(app)
    with app.app_context(), db.transaction() as session:
        suite = register_app(
            session,
            platform="wecom",
            app_id=SUITE,
            secret="s",
            token=TOKEN,
            aes_key=AES_KEY,
            provider_corpid="wwfuzzprovider",
        )
        component = register_app(
            session, platform="open", app_id=COMPONENT, secret="s", token=TOKEN, aes_key=AES_KEY
        )
        session.flush()
        session.add(Tenant(app_pk=suite.id, tenant_id=CORP, name="Corp", credential="p"))
        session.add(Tenant(app_pk=component.id, tenant_id=ACCOUNT, name="Acc", credential="r"))
        accounts.create_admin(session, "fuzzer", PASSWORD)
        key = accounts.create_api_key(session, "fuzzer")
    db.dispose(app)

    log = workdir / "gunicorn.log"
    output = open(log, "w")  # noqa: SIM115 - open while gunicorn runs
    server, base = gunicorn("wsgi:app", env, workers=2, output=output)
    rng = random.Random(args.seed)
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    unavailable: list[str] = []
    try:
        admin = requests.Session()
        form = admin.get(base + "/admin/login").text
        token = form.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
        admin.post(
            base + "/admin/login",
            data={"csrf_token": token, "username": "fuzzer", "password": PASSWORD},
            allow_redirects=False,
        )
        anonymous = requests.Session()
        began = time.perf_counter()
        for _ in range(args.count):
            baseline = anonymous.get(base + "/healthz", timeout=30)
            assert baseline.status_code == 200
        baseline_seconds = time.perf_counter() - began
        began = time.perf_counter()
        for _ in range(args.count):
            method, path, body = request_of(rng)
            client = admin if path.startswith("/admin") and rng.random() < 0.5 else anonymous
            headers = {"Content-Type": "text/xml"}
            if path.startswith("/api") and rng.random() < 0.5:
                headers["Authorization"] = f"Bearer {key}"
            try:
                answer = client.request(
                    method,
                    base + path,
                    data=body,
                    headers=headers,
                    timeout=30,
                    allow_redirects=False,
                )
                statuses[answer.status_code] += 1
                if answer.status_code == 503:
                    unavailable.append(f"{method} {path[:100]!r} {answer.text[:80]!r}")
                if answer.status_code >= 500 and answer.status_code != 503:
                    failures.append(f"{answer.status_code} {method} {path[:120]!r}")
            except requests.RequestException as exc:
                statuses[0] += 1  # refused by the client library or the server's HTTP layer
                failures.append(f"no answer: {method} {path[:80]!r}: {type(exc).__name__}")
        seconds = time.perf_counter() - began
    finally:
        server.terminate()
        server.wait()
        output.close()
        drop()
    tracebacks = log.read_text(errors="replace").count("Traceback")
    print(f"{args.count} hostile requests, seed {args.seed}, gunicorn 2 workers on {args.database}")
    print(f"baseline: {args.count} health checks in {baseline_seconds:.1f} s")
    print(f"hostile requests took {seconds:.1f} s")
    print("answers by status: " + ", ".join(f"{s}: {n}" for s, n in sorted(statuses.items())))
    for line in unavailable[:3]:
        print("  503 (no platform is reachable here): " + line)
    for line in failures[:20]:
        print("  " + line)
    print(f"requests answered 500 or not at all: {len(failures)} (target = 0)")
    print(f"tracebacks in the servers' log: {tracebacks} (target = 0)")


if __name__ == "__main__":
    main()
