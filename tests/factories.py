"""Valid rows in one line: factories for tests."""

from __future__ import annotations

import itertools

from sqlalchemy.orm import Session

from suite_server.apps import register_app
from suite_server.models import App, Tenant
from suite_server.providers import register_provider

AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
_numbers = itertools.count(1)


def wecom_app(session: Session, **fields) -> App:
    values = {
        "platform": "wecom",
        "app_id": f"wwsuite{next(_numbers)}",
        "secret": "suite-secret-value",
        "token": "QDG6eK",
        "aes_key": AES_KEY,
        "provider_corpid": "wwprovider0001",
    }
    values.update(fields)
    app = register_app(session, **values)
    session.commit()
    return app


def open_app(session: Session, **fields) -> App:
    values = {
        "platform": "open",
        "app_id": f"wxcomponent{next(_numbers)}",
        "secret": "component-secret-value",
        "token": "AAAAA",
        "aes_key": AES_KEY,
    }
    values.update(fields)
    app = register_app(session, **values)
    session.commit()
    return app


def tenant(session: Session, app: App, **fields) -> Tenant:
    values = {
        "app_pk": app.id,
        "tenant_id": f"wwcorp{next(_numbers)}",
        "name": "A Corp",
        "credential": "permanent-code-value",
    }
    values.update(fields)
    row = Tenant(**values)
    session.add(row)
    session.commit()
    return row


def provider(session: Session, **fields) -> App:
    values = {
        "corpid": f"wwprovider{next(_numbers)}",
        "secret": "provider-secret-value",
        "token": "PrOv1d3r",
        "aes_key": AES_KEY,
    }
    values.update(fields)
    row = register_provider(session, **values)
    session.commit()
    return row
