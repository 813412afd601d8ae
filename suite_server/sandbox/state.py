"""The simulated platforms' memory: apps, tickets, codes, tenants, tokens, faults, counts, records.

One lock guards everything; every method that reads or writes takes it (`with state.lock:` in
callers that need several steps to be atomic; the lock is re-entrant). Time comes from an
injectable clock so tests can move it, and every random choice of the simulation (ticket cadence
and repeats, fault rates, MsgIds, echostr plaintexts) from `state.random`, seedable so a run can
be repeated exactly. Secrets (tokens, codes, tickets) stay unpredictable whatever the seed.
"""

from __future__ import annotations

import random
import secrets
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from suite_server.sandbox.faults import FaultRule
from suite_server.sandbox.settings import SandboxSettings
from suite_server.sandbox.tokens import TokenBook

WECOM = "wecom"
OPEN = "open"
PLATFORMS = (WECOM, OPEN)
# open-platform.md §1 [obs]: the same ticket string pushed repeatedly "for about an hour".
TICKET_REPEAT_WINDOW = 3600.0
CODES_KEPT = 50_000  # codes kept before dead ones are forgotten (new_code)


@dataclass
class App:
    """A WeCom suite or an Open Platform component as registered in the sandbox."""

    platform: str
    app_id: str
    secret: str
    token: str
    aes_key: str  # the EncodingAESKey (43 chars)
    server_url: str  # base URL of our server; pushes go to its contract URLs under it
    provider_corpid: str = ""
    name: str = ""

    def public(self) -> dict[str, Any]:
        return {
            "platform": self.platform,
            "app_id": self.app_id,
            "name": self.name,
            "secret": self.secret,
            "token": self.token,
            "aes_key": self.aes_key,
            "provider_corpid": self.provider_corpid,
            "server_url": self.server_url,
        }


def is_template(app: App) -> bool:
    """A 代开发 (customized-app) template: a WeCom app whose id starts with `dk` (doc/97162)."""
    return app.platform == WECOM and app.app_id.startswith("dk")


@dataclass
class Provider:
    """A WeCom provider (服务商) account: its corpid, provider_secret and the Token/EncodingAESKey
    of its system-event URL (isv-capabilities.md §2)."""

    corpid: str
    secret: str
    token: str
    aes_key: str
    server_url: str  # system events go to <server_url>/callback/wecom/provider/<corpid>
    name: str = ""

    def public(self) -> dict[str, Any]:
        return {
            "corpid": self.corpid,
            "name": self.name,
            "secret": self.secret,
            "token": self.token,
            "aes_key": self.aes_key,
            "server_url": self.server_url,
        }

    def as_app(self) -> App:
        """The provider as the pusher and the URL check see it: pushes go out under its corpid,
        encrypted with its own Token/EncodingAESKey and the corpid as receive id."""
        return App(
            platform=WECOM,
            app_id=self.corpid,
            secret=self.secret,
            token=self.token,
            aes_key=self.aes_key,
            server_url=self.server_url,
            provider_corpid=self.corpid,
            name=self.name,
        )


@dataclass
class CustomizedLink:
    """What a get_customized_auth_url QR code carries (doc/98744): whose it is, the templates it
    installs and the ISV's state; it works for 864000 s."""

    link_id: str
    provider_corpid: str
    template_ids: list[str]
    state: str
    expires_at: float


@dataclass
class Ticket:
    value: str
    issued_at: float


@dataclass
class Code:
    """A pre-auth code or an auth code: single use, with a lifetime."""

    value: str
    kind: str  # "pre_auth" | "auth"
    app_id: str
    issued_at: float
    expires_at: float
    used: bool = False
    tenant_id: str | None = None  # auth codes: whose authorization it carries
    generation: int = 0  # auth codes: the authorization generation it belongs to
    auth_type: int = 0  # WeCom set_session_info: 0 formal, 1 test
    # What the install page was opened with (pre-auth codes), for headless approval.
    redirect_uri: str | None = None
    state: str = ""
    biz_appid: str = ""


@dataclass
class Tenant:
    """One authorization: a WeCom corp that installed the suite or an Open authorizer account."""

    app_id: str
    tenant_id: str  # corpid | authorizer appid
    name: str
    credential: str  # WeCom permanent_code | Open authorizer_refresh_token
    authorized_at: float
    generation: int = 1  # bumped by every re-authorization; older auth codes and credentials die
    active: bool = True  # False after cancel_auth / unauthorized
    exchanged: bool = False  # the current generation's auth code has been exchanged
    agent_id: int = 0  # WeCom: the app's agentid inside the corp
    user_name: str = ""  # Open: the account's original id (gh_…)
    account_type: str = "official_account"  # Open: official_account | mini_program
    func_ids: list[int] = field(default_factory=list)  # Open: granted permission sets
    # Open (capabilities.py): account_status (1 normal, 14, 16, 18, 19), service and verify
    # types (service None: the account type's own, 0 mini program / 2 service account), options.
    account_status: int = 1
    service_type: int | None = None
    verify_type: int = 0
    options: dict[str, str] = field(default_factory=dict)
    install_state: str = ""  # WeCom: the `state` of the install that created it
    installer: str = ""  # WeCom: userid of the admin who installed
    # WeCom: when the corp FIRST installed the app (re-authorizing keeps it): the license trial
    # (licenses.py) and the paid-app trial (orders.py) count from it.
    first_authorized_at: float = 0.0

    def public(self) -> dict[str, Any]:
        return {
            "app_id": self.app_id,
            "tenant_id": self.tenant_id,
            "name": self.name,
            "credential": self.credential,
            "status": "active" if self.active else "revoked",
            "generation": self.generation,
            "authorized_at": self.authorized_at,
            "agent_id": self.agent_id or None,
            "user_name": self.user_name or None,
            "account_type": self.account_type if self.user_name else None,
        }


class SandboxState:
    """Everything the sandbox knows, behind one lock."""

    def __init__(
        self,
        settings: SandboxSettings | None = None,
        clock: Callable[[], float] = time.time,
        seed: int | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self.clock = clock
        self.offset = 0.0  # moved by POST /sandbox/clock for clients that cannot inject a clock
        self.settings = settings or SandboxSettings()
        self._initial_settings = SandboxSettings(**self.settings.as_dict())
        self.seed = seed
        self.random = random.Random(seed)
        self._reset_data()

    def _reset_data(self) -> None:
        self.apps: dict[str, App] = {}
        self.providers: dict[str, Provider] = {}
        self.customized_links: dict[str, CustomizedLink] = {}
        self.tickets: dict[str, list[Ticket]] = {}
        self.codes: dict[str, Code] = {}
        self._forget_codes_at = CODES_KEPT
        self.tenants: dict[tuple[str, str], Tenant] = {}
        self.tokens = TokenBook()
        self.faults: list[FaultRule] = []
        self.calls: Counter[str] = Counter()
        self.tenant_calls: dict[str, Counter[str]] = {}
        self.pushes: deque[dict[str, Any]] = deque(maxlen=200)
        self.messages: list[dict[str, Any]] = []
        self.url_checks: deque[dict[str, Any]] = deque(maxlen=50)
        self._agent_ids = 1000001
        # jsapi_api.py: when each ticket call within the platforms' limits was answered, by limit.
        self.ticket_calls: dict[tuple, deque[float]] = {}
        # signin.py: sign-in codes, user tickets and users' OAuth tokens, by value.
        self.signins: dict[str, Any] = {}
        # licenses.py: a LicenseBook per provider corpid.
        self.license_books: dict[str, Any] = {}
        self.quota: Any = None  # quota.py: the Open Platform's daily counts, clears and rids
        # orders.py: paid-app orders by orderid, and each corp's edition by (suite id, corpid).
        self.app_orders: dict[str, Any] = {}
        self.editions: dict[tuple[str, str], Any] = {}
        # registrations.py: fast-registration tasks (enterprise, personal, beta) by id.
        self.registrations: dict[str, Any] = {}
        self.releases: Any = None  # releases.py: templates, each account's versions and audits

    def reset(self, seed: int | None = None) -> None:
        """Forget everything and go back to the settings the sandbox started with; the random
        choices start again from `seed` (or the seed it started with)."""
        with self.lock:
            self._reset_data()
            self.offset = 0.0
            self.settings = SandboxSettings(**self._initial_settings.as_dict())
            self.seed = seed if seed is not None else self.seed
            self.random = random.Random(self.seed)

    def now(self) -> float:
        return self.clock() + self.offset

    # --- apps and tickets ---------------------------------------------------------------------

    def app(self, app_id: str, platform: str | None = None) -> App | None:
        with self.lock:
            app = self.apps.get(app_id)
            if app is None or (platform is not None and app.platform != platform):
                return None
            return app

    def provider(self, corpid: str) -> Provider | None:
        with self.lock:
            return self.providers.get(corpid)

    def issue_ticket(self, app: App, value: str | None = None) -> Ticket:
        """Record a ticket as pushed now; the newest is last. Old ones are kept while valid."""
        with self.lock:
            if value is None:
                # open-platform.md §2: observed format `ticket@@@…`; WeCom tickets are opaque.
                value = secrets.token_urlsafe(48)
                if app.platform == OPEN:
                    value = "ticket@@@" + value
            ticket = Ticket(value, self.now())
            history = self.tickets.setdefault(app.app_id, [])
            history.append(ticket)
            del history[:-20]
            return ticket

    def repeat_ticket(self, app: App) -> Ticket | None:
        """Now and then (`open_ticket_repeat`) the Open Platform pushes the ticket it pushed
        before, while that one is under an hour old (open-platform.md §1 [obs]); WeCom tickets
        are always new. Returns the repeated ticket, recorded as pushed again, or None."""
        with self.lock:
            history = self.tickets.get(app.app_id)
            if app.platform != OPEN or not history:
                return None
            last = history[-1]
            if self.now() - last.issued_at >= TICKET_REPEAT_WINDOW:
                return None
            if self.random.random() >= self.settings.open_ticket_repeat:
                return None
            # Its validity still counts from its first push.
            history.append(Ticket(last.value, last.issued_at))
            del history[:-20]
            return last

    def ticket_age(self, app_id: str, value: str) -> float | None:
        """Seconds since `value` was pushed to this app, or None if it never was."""
        with self.lock:
            for ticket in reversed(self.tickets.get(app_id, [])):
                if secrets.compare_digest(ticket.value.encode(), value.encode()):
                    return self.now() - ticket.issued_at
            return None

    # --- codes --------------------------------------------------------------------------------

    def new_code(self, kind: str, app: App, ttl: float, prefix: str = "", **extra: Any) -> Code:
        with self.lock:
            now = self.now()
            if len(self.codes) > self._forget_codes_at:  # load tests: forget codes dead an hour
                for value in [v for v, c in self.codes.items() if c.expires_at < now - 3600]:
                    del self.codes[value]
                # The next pass once the codes have doubled: a pass on every new code made
                # 10,000 bulk tenants past 50,000 take 90 s (bench/tokens.py --tenants 100000).
                self._forget_codes_at = max(CODES_KEPT, 2 * len(self.codes))
            code = Code(
                prefix + secrets.token_urlsafe(32), kind, app.app_id, now, now + ttl, **extra
            )
            self.codes[code.value] = code
            return code

    # --- tenants ------------------------------------------------------------------------------

    def tenant(self, app_id: str, tenant_id: str) -> Tenant | None:
        with self.lock:
            return self.tenants.get((app_id, tenant_id))

    def tenants_of(self, app_id: str) -> list[Tenant]:
        with self.lock:
            return [t for (a, _), t in self.tenants.items() if a == app_id]

    def next_agent_id(self) -> int:
        with self.lock:
            self._agent_ids += 1
            return self._agent_ids

    # --- records ------------------------------------------------------------------------------

    def count_call(self, endpoint: str, tenant_id: str | None) -> None:
        with self.lock:
            self.calls[endpoint] += 1
            if tenant_id:
                self.tenant_calls.setdefault(endpoint, Counter())[tenant_id] += 1

    def calls_report(self) -> dict[str, Any]:
        with self.lock:
            return {
                "total": sum(self.calls.values()),
                "by_endpoint": dict(self.calls),
                "by_tenant": {e: dict(c) for e, c in self.tenant_calls.items()},
            }

    def reset_calls(self) -> None:
        with self.lock:
            self.calls.clear()
            self.tenant_calls.clear()

    def record_push(self, record: dict[str, Any]) -> None:
        with self.lock:
            self.pushes.append(record)

    def record_url_check(self, record: dict[str, Any]) -> None:
        with self.lock:
            self.url_checks.append(record)

    def record_message(self, record: dict[str, Any]) -> None:
        with self.lock:
            self.messages.append(record)
            del self.messages[:-1000]
