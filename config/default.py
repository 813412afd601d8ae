# suite-server settings, with their defaults.
#
# Point SUITE_SERVER_CONFIG at a copy of this file to use it; every setting can also be given in
# the environment with the SUITE_SERVER_ prefix (SUITE_SERVER_DATABASE_URL=...), which wins over
# the file. A commented-out setting keeps its built-in default.

# "development" (default) or "production". Production refuses to start without SECRET_KEY,
# ENCRYPTION_KEYS and a non-SQLite DATABASE_URL, and never changes the database schema by itself.
ENV = "development"

# SQLAlchemy URL. Default: SQLite in the instance folder (instance/suite_server.db).
# Production: PostgreSQL, e.g. "postgresql://suite:PASSWORD@db.internal:5432/suite_server".
# DATABASE_URL = None

# Redis for RQ queues, locks and the token cache. Unset: background jobs run in-process.
# REDIS_URL = "redis://127.0.0.1:6379/0"

# Signs the admin UI's session cookies. Development: generated once into instance/secret_key.
# SECRET_KEY = None

# Keys for secrets at rest (app secrets, AES keys, permanent codes, refresh and access tokens),
# comma-separated; the first encrypts, all decrypt. Make one with `suite-server keys generate`;
# to rotate, put a new key first and run `suite-server keys rotate`.
# Development: generated once into instance/encryption_key.
# ENCRYPTION_KEYS = None

# The externally visible base URL: install redirects come back to PUBLIC_URL/install/<app>/done.
PUBLIC_URL = "http://127.0.0.1:8000"

# Upstream APIs and install pages. Point all three URL kinds at `suite-server sandbox` to run
# every flow offline.
WECOM_API_BASE = "https://qyapi.weixin.qq.com"
WECHAT_API_BASE = "https://api.weixin.qq.com"
WECOM_INSTALL_URL = "https://open.work.weixin.qq.com/3rdapp/install"
OPEN_AUTH_URL = "https://mp.weixin.qq.com/cgi-bin/componentloginpage"

# Seconds a callback's timestamp may lag or lead the server clock; 0 turns the check off.
CALLBACK_MAX_AGE = 600

# A cached token is served only while at least this many seconds remain (capped at half its
# lifetime); otherwise it is refreshed first.
TOKEN_MIN_REMAINING = 300

# Tenant token refreshes one worker process runs at once (the platforms answer in 50-200 ms, so
# a worker waits on many calls together); each takes a database connection while it runs.
REFRESH_CONCURRENCY = 8

# Python modules that register tenant handlers on suite_server.dispatch.router when imported
# (see examples/handlers.py and docs/handlers.md). SUITE_SERVER_HANDLERS=a.b,c.d also works.
HANDLERS = []

# Answer the WeChat Open Platform's full-network release test (全网发布接入检测) automatically:
# the test accounts' messages get the replies the check expects, with no code of yours.
RELEASE_CHECK = True

# Log lines: "text" (readable) or "json" (one JSON object per line, for log shippers); each line
# carries the request id (X-Request-Id) and, where known, the app, tenant and job.
LOG_FORMAT = "text"
LOG_LEVEL = "INFO"

# A bearer token for GET /metrics: set, a scrape must send `Authorization: Bearer <token>`
# (Prometheus: `authorization: {credentials: ...}`); unset, /metrics answers anyone who reaches it.
# METRICS_TOKEN = None

# How many reverse proxies (nginx, a load balancer) stand between the clients and this server.
# The admin sign-in throttles failed attempts per client address: behind N proxies the client's
# address is the one the Nth proxy from us put in X-Forwarded-For (werkzeug's ProxyFix). 0: the
# header is never believed (anyone can send one) and the address is the connecting socket's, so
# behind a proxy every client would look like the proxy. Set it to the number of proxies you
# run, never more.
TRUSTED_PROXIES = 0

# Days each kind of stored row is kept before the periodic pruning deletes it; 0 keeps it for
# ever. Failed events and deliveries are kept longer, to be looked at and redelivered; a pending
# delivery and an event with a kept delivery are never pruned. A partial dict changes only the
# kinds it names.
RETENTION_DAYS = {
    "events": 30,
    "failed_events": 90,
    "deliveries": 30,
    "failed_deliveries": 90,
    "audit": 365,
    "tickets": 2,
}

# The clock the admin shows times on (each admin may choose another on their account page);
# hovering over a time shows it in UTC.
ADMIN_TIMEZONE = "Asia/Shanghai"
