"""The token API and tenant gateway (docs/api.md): /api/v1, where the ISV's other services get
tokens and call the platforms.

`routes.py` is the blueprint (parsing, errors as JSON, tokens), `auth.py` the API-key check,
`queries.py` what the API reads from the database; the tokens themselves come from
tokens/service.py. The gateway's route modules register on the same blueprint; `blueprint()`
imports each of them.
"""

from __future__ import annotations

from flask import Blueprint


def blueprint() -> Blueprint:
    """The /api/v1 blueprint with every route module's routes on it."""
    from suite_server.api import (
        deployments,  # noqa: F401
        installs,  # noqa: F401  (install links, on routes.bp)
        jsapi,  # noqa: F401  (the gateway's routes, on routes.bp)
        proxy,  # noqa: F401
        registrations,  # noqa: F401
        routes,
        signin,  # noqa: F401
    )

    return routes.bp
