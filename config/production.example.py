# An example production configuration: copy it, fill in the secrets (or better, set them in the
# environment as SUITE_SERVER_SECRET_KEY / SUITE_SERVER_ENCRYPTION_KEYS from your secret store),
# and point SUITE_SERVER_CONFIG at the copy. Left as it is, it refuses to start: the keys are
# empty on purpose.

ENV = "production"
DATABASE_URL = "postgresql://suite:CHANGE-ME@127.0.0.1:5432/suite_server"
REDIS_URL = "redis://127.0.0.1:6379/0"
PUBLIC_URL = "https://isv.example.com"

# Required: a long random string, the same on every web process.
SECRET_KEY = ""
# Required: `suite-server keys generate`; the same list on every process.
ENCRYPTION_KEYS = ""

CALLBACK_MAX_AGE = 600
TOKEN_MIN_REMAINING = 300
