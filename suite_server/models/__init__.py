"""The tables, one module per aggregate; importing this package registers them all on Base."""

from suite_server.models.accounts import AdminSession, AdminUser, ApiKey, LoginThrottle
from suite_server.models.activity import ActivityCount, TokenRefresh
from suite_server.models.apps import KINDS, PLATFORMS, App, Ticket, kind_for
from suite_server.models.audit import AuditEntry
from suite_server.models.authorizations import (
    AuthCodeClaim,
    InstallLink,
    InstallState,
    PreAuthCode,
    TenantHistory,
)
from suite_server.models.billing import AppOrder, LicenseAccount, LicenseOrder, TenantLicense
from suite_server.models.events import InboundEvent, ProxyErrcode, QuotaClear
from suite_server.models.registrations import Registration
from suite_server.models.releases import Deployment, DeploymentTarget
from suite_server.models.tenants import Tenant
from suite_server.models.tokens import AppToken, JsapiTicket, TenantToken
from suite_server.models.webhooks import WebhookAttempt, WebhookDelivery, WebhookReceiver

__all__ = [
    "KINDS",
    "PLATFORMS",
    "ActivityCount",
    "AdminSession",
    "AdminUser",
    "ApiKey",
    "App",
    "AppOrder",
    "AppToken",
    "AuditEntry",
    "AuthCodeClaim",
    "Deployment",
    "DeploymentTarget",
    "InboundEvent",
    "InstallLink",
    "InstallState",
    "JsapiTicket",
    "LicenseAccount",
    "LicenseOrder",
    "LoginThrottle",
    "PreAuthCode",
    "ProxyErrcode",
    "QuotaClear",
    "Registration",
    "Tenant",
    "TenantHistory",
    "TenantLicense",
    "TenantToken",
    "Ticket",
    "TokenRefresh",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookReceiver",
    "kind_for",
]
