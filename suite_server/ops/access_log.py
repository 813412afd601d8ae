"""What the access logs must not show: the one-time `auth_code` a platform puts in the install
redirect (`/install/<app_id>/done?auth_code=...&state=...`). Until it is exchanged (a few
minutes) it is worth a tenant's credential to whoever reads the log first, and the page it opens
sends it again as the Referer of its next request. The same goes for the token of an unused
install link (`/install/<app_id>?link=...`, authorization/context.py): whoever reads it first
installs with the ISV's customer's ref.

The access log lines are not written by our code: werkzeug's development server
(`suite-server serve`) logs each request to the `werkzeug` logger, gunicorn (`--access-logfile`)
to `gunicorn.access`. A filter on those two loggers masks the value in every string of a line
before any handler formats it: the request line, the query string, the Referer, whatever
gunicorn's `--access-logformat` picks.
"""

from __future__ import annotations

import logging
import re
from collections.abc import MutableMapping

ACCESS_LOGGERS = ("werkzeug", "gunicorn.access")
MASK = "***"
# The name as browsers send it, or percent-encoded (auth%5Fcode) by a careful client; an
# install link's `link` parameter (not a longer name ending in "link").
_AUTH_CODE = re.compile(r"(auth(?:_|%5[Ff])code=|(?<![\w%])link=)[^&\s\"'#]*")


def mask(text: str) -> str:
    return _AUTH_CODE.sub(r"\g<1>" + MASK, text) if "code=" in text or "link=" in text else text


class MaskAuthCodes(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = mask(record.msg)
        args = record.args
        if isinstance(args, tuple):
            record.args = tuple(mask(a) if isinstance(a, str) else a for a in args)
        elif isinstance(args, MutableMapping):
            # gunicorn's atoms: changed in place, as its dict type answers "-" for unknown keys.
            for name, value in list(args.items()):
                if isinstance(value, str) and ("code=" in value or "link=" in value):
                    args[name] = mask(value)
        return True


def install() -> None:
    """Mask auth codes in this process's access logs (once; later calls change nothing)."""
    for name in ACCESS_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, MaskAuthCodes) for f in logger.filters):
            logger.addFilter(MaskAuthCodes())
