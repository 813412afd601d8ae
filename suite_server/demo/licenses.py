"""The demo's interface licenses (docs/licenses.md): two corps have installed the demo suite; for
the second, the ISV's "shop" buys a license order through our provider proxy (with an API key,
as the ISV's own services do), the buyer pays it on the sandbox (its control API plays WeCom's
billing, which pushes `license_pay_success` to our system event URL), and the shop activates one
account for a member. Then both corps are synced, as the hourly job and the admin's "check now"
do, so the demo starts with one tenant in trial and one licensed.

Steps that fail say why in the demo's report; the demo runs on without them.
"""

from __future__ import annotations

import requests
from flask import Flask
from sqlalchemy import select

from suite_server import accounts, db
from suite_server.jobs import runner
from suite_server.models import App, Tenant, TenantLicense
from suite_server.tenants.views import license_state

SHOP_KEY = "demo-shop"  # the API key the demo's shop uses: the provider, license paths only
LICENSE_PATH = "/cgi-bin/license/"
BUYER = "boss"  # who places the order: a member of the provider's own corp
MEMBER = "zhangsan"  # the member of the licensed corp who gets an account
ORDER = {"base_count": 2, "months": 12}  # two basic accounts for a year: one is left to activate
SYNC_WAIT = 30.0  # seconds for the pay push's processing and the syncs


class StepFailed(Exception):
    """A step of the license demo that did not work; its message says which and why."""


def license_corp(app: Flask, sandbox_url: str, public_url: str, provider: str, corp: str) -> str:
    """Buy, pay and activate one account for `corp`; returns the order id."""
    with app.app_context():
        session = db.session()
        key = accounts.create_api_key(
            session, SHOP_KEY, app_ids=[provider], path_prefixes=[LICENSE_PATH]
        )
        session.commit()  # the key is never printed: `suite-server apikeys create` makes yours

    def call(name: str, body: dict) -> dict:
        url = f"{public_url}/api/v1/providers/{provider}/proxy{LICENSE_PATH}{name}"
        headers = {"Authorization": f"Bearer {key}"}
        try:
            response = requests.post(url, json=body, headers=headers, timeout=30)
            answer = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise StepFailed(f"{name}: {type(exc).__name__}") from None
        if response.status_code != 200 or answer.get("errcode"):
            reason = answer.get("errmsg") or answer.get("message") or response.status_code
            raise StepFailed(f"{name}: {answer.get('errcode', '')} {reason}".replace("  ", " "))
        return answer

    order_id = call(
        "create_new_order",
        {
            "corpid": corp,
            "buyer_userid": BUYER,
            "account_count": {"base_count": ORDER["base_count"]},
            "account_duration": {"months": ORDER["months"]},
        },
    )["order_id"]
    try:
        paid = requests.post(
            f"{sandbox_url}/sandbox/providers/{provider}/licenses/{order_id}/pay",
            json={},
            timeout=30,
        ).json()
    except (requests.RequestException, ValueError) as exc:
        raise StepFailed(f"pay: {type(exc).__name__}") from None
    codes = [c["active_code"] for c in paid.get("codes") or [] if c.get("type") == 1]
    if not codes:
        raise StepFailed(f"pay: {paid.get('error') or 'no account codes'}")
    call("active_account", {"corpid": corp, "active_code": codes[0], "userid": MEMBER})
    return order_id


def sync(app: Flask, provider: str, corps: list[str]) -> None:
    """Sync each corp's license state now (the job the hourly `licenses.sync` and the admin's
    "check now" enqueue) and wait for the demo's jobs to be done."""
    with app.app_context():
        session = db.session()
        provider_pk = session.scalar(
            select(App.id).where(App.app_id == provider, App.kind == "provider")
        )
        session.rollback()
        for corp in corps:
            runner.enqueue("licenses.sync_corp", provider_pk, corp)
        runner.get_runner(app).drain(timeout=SYNC_WAIT)


def states(app: Flask, suite: str, corps: list[tuple[str, str]]) -> list[str]:
    """One line per corp: its license state for the suite as the tenant API shows it."""
    lines = []
    with app.app_context():
        session = db.session()
        for corp, name in corps:
            found = session.execute(
                select(TenantLicense)
                .join(Tenant, Tenant.id == TenantLicense.tenant_pk)
                .join(App, App.id == Tenant.app_pk)
                .where(App.app_id == suite, Tenant.tenant_id == corp)
            ).scalar_one_or_none()
            lines.append(f"    {corp} ({name}): {_describe(found)}")
        session.rollback()
    return lines


def _describe(row: TenantLicense | None) -> str:
    if row is None or row.checked_at is None:
        return "unknown (not synced yet)"
    state = license_state(row.license_status, row.trial_end, row.active_accounts)
    if row.check_error:
        return f"{state} ({row.check_error})"
    held = row.active_accounts or 0
    accounts_held = {0: "no account", 1: "1 account"}.get(held, f"{held} accounts")
    if state == "trial" and row.trial_end is not None:
        return f"trial until {row.trial_end:%Y-%m-%d}, {accounts_held}"
    return f"{state}, {accounts_held}"
