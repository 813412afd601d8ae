"""Whole numbers from query strings and forms (`?limit=`, `?before=`), parsed strictly.

Python's int() takes far more than a URL should carry: "+5", " 5", "5_000", "٥" (any Unicode
digit; and str.isdigit() says yes to "²", which int() then refuses), and thousands of digits
(refused past 4,300, after the work). So a number here is ASCII digits only, with no sign, space
or leading zero ("0001000" is no way past a maximum of 500), and no longer than the maximum
itself: nothing long is ever converted.
"""

from __future__ import annotations

import re

from suite_server.errors import BadNumber

_DIGITS = re.compile(r"0|[1-9][0-9]*")  # [0-9], not \d: ASCII only
# The largest id a row can have: events, deliveries and audit entries have BIGINT keys (SQLite's
# integers stop at 2**63); tenants, apps and the other tables INTEGER ones, and PostgreSQL refuses
# to compare an INTEGER column with anything past 2**31 - 1 ("integer out of range", a 500).
MAX_ID = 2**62
MAX_SMALL_ID = 2**31 - 1


def whole_number(
    value: str | None, name: str, *, minimum: int, maximum: int, default: int | None = None
) -> int | None:
    """`value` as an int from `minimum` to `maximum`; `default` when it is absent or empty.
    Raises BadNumber("<name> must be a whole number from <minimum> to <maximum>")."""
    if value is None or value == "":
        return default
    if (
        len(value) > len(str(maximum))
        or not _DIGITS.fullmatch(value)
        or not minimum <= int(value) <= maximum
    ):
        raise BadNumber(f"{name} must be a whole number from {minimum} to {maximum}")
    return int(value)
