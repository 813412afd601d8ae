"""Secrets at rest: the keyring, the encrypted column type, and key rotation."""

from __future__ import annotations

from collections.abc import Callable

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app
from sqlalchemy import Text, func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.types import TypeDecorator

from suite_server.db import Base
from suite_server.errors import UndecryptableSecret


class Keyring:
    """ENCRYPTION_KEYS as a MultiFernet (AES-128-CBC + HMAC-SHA256 per value): the first key
    encrypts, every key decrypts, so a new key can be put in front of the old ones and the rows
    re-encrypted afterwards with `suite-server keys rotate`."""

    def __init__(self, keys: list[str]) -> None:
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode("ascii")

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode("ascii")).decode()
        except InvalidToken:
            raise UndecryptableSecret(
                "a stored secret cannot be decrypted with any key in ENCRYPTION_KEYS"
            ) from None


def generate_key() -> str:
    return Fernet.generate_key().decode("ascii")


def current_keyring() -> Keyring:
    return current_app.extensions["suite_server.keyring"]


class EncryptedText(TypeDecorator):
    """A secret encrypted at rest with the current app's keyring: plain str in Python, Fernet
    ciphertext in the database, so a raw dump shows none of it."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return current_keyring().encrypt(value) if value is not None else None

    def process_result_value(self, value, dialect):
        return current_keyring().decrypt(value) if value is not None else None


def rotate(
    session: Session,
    batch_size: int = 500,
    on_progress: Callable[[int, int | None], None] | None = None,
) -> int:
    """Re-encrypt every encrypted column of every row with the first key; returns rows written.
    Commits per batch, so an interrupted run is simply run again (every key still decrypts).
    `on_progress(written, total)` is called after each batch (for the CLI's progress bar)."""
    models = []
    for mapper in Base.registry.mappers:
        columns = [c.key for c in mapper.columns if isinstance(c.type, EncryptedText)]
        if columns:
            models.append((mapper.class_, columns))
    total = None
    if on_progress is not None:
        total = sum(
            session.scalar(select(func.count()).select_from(model)) or 0 for model, _ in models
        )
        session.rollback()
    written = 0
    for model, columns in models:
        last_id = None
        while True:
            query = select(model).order_by(model.id).limit(batch_size)
            if last_id is not None:
                query = query.where(model.id > last_id)
            rows = session.scalars(query).all()
            if not rows:
                break
            for row in rows:
                for column in columns:
                    if getattr(row, column) is not None:
                        flag_modified(row, column)  # written back, so encrypted with key #1
            session.commit()
            written += len(rows)
            last_id = rows[-1].id
            session.expunge_all()  # keep memory flat on large tables
            if on_progress is not None:
                on_progress(written, max(total or 0, written))  # rows added meanwhile count too
    return written
