"""The token service: app tokens (suite_access_token, component_access_token, and the WeCom
provider_access_token) and tenant tokens (WeCom corp access_token, from get_corp_token or, for
customized apps, gettoken; Open authorizer_access_token), served while fresh and refreshed once.
What the rest of the code imports; the ideas live beside it:

- policy.py: when a token may be served and when it is refreshed (WeCom: the same until expiry);
- rows.py: what is read of a token row, and what a caller is served;
- store.py: the refresh engine: one refresher per token (locks.py), compare-and-set writes;
- app_tokens.py: app tokens from tickets, api_start_push_ticket, the retry on a refused one;
- tenant_tokens.py: tenant tokens, Open refresh-token recovery, the first token of a tenant;
- tasks.py: the background refresh jobs and their sweep.

Every function here commits the session it is given (it polls other processes' commits), so call
it before, not in the middle of, a unit of work of your own.
"""

from __future__ import annotations

from suite_server.errors import TokenUnavailable
from suite_server.tokens.app_tokens import (
    TICKET_REQUEST_EVERY,
    app_token,
    expire_app_token,
    refresh_app_token,
    serve_app_token,
    with_app_token,
)
from suite_server.tokens.policy import LAST_SECONDS, SAME_UNTIL_EXPIRY, margin, refresh_time
from suite_server.tokens.rows import Served, TokenRow, token_columns
from suite_server.tokens.tasks import JOB_RETRIES, refresh_app, refresh_tenant, sweep
from suite_server.tokens.tenant_tokens import (
    refresh_tenant_token,
    serve_tenant_token,
    store_first_token,
)

__all__ = [
    "JOB_RETRIES",
    "LAST_SECONDS",
    "SAME_UNTIL_EXPIRY",
    "TICKET_REQUEST_EVERY",
    "Served",
    "TokenRow",
    "TokenUnavailable",
    "app_token",
    "expire_app_token",
    "margin",
    "refresh_app",
    "refresh_app_token",
    "refresh_tenant",
    "refresh_tenant_token",
    "refresh_time",
    "serve_app_token",
    "serve_tenant_token",
    "store_first_token",
    "sweep",
    "token_columns",
    "with_app_token",
]
