"""Encrypts secrets at rest (license keys, service secrets) with Fernet, and masks them for display."""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken

from kura.config import get_settings
from kura.errors import KuraError


class SecretUnreadable(KuraError):
    """A stored secret cannot be decrypted: KURA_SECRET_KEY (or var/secret.key) changed since it was saved."""

    code = "secret_unreadable"
    status = 500


@lru_cache(maxsize=4)
def _fernet(key: bytes) -> Fernet:
    return Fernet(key)


def encrypt(value: str, key: bytes | None = None) -> str:
    return _fernet(key or get_settings().fernet_key()).encrypt(value.encode()).decode()


def decrypt(token: str, key: bytes | None = None) -> str:
    try:
        return _fernet(key or get_settings().fernet_key()).decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "A stored secret cannot be decrypted with this KURA_SECRET_KEY; restore the key it was saved with, "
            "or enter the store's credentials again (Update key)."
        ) from None


def mask(value: str | None) -> str:
    """Shows only enough to recognise a secret: 'SL39…a1b2'."""
    if not value:
        return ""
    if len(value) <= 8:
        return "•" * len(value)
    return f"{value[:4]}…{value[-4:]}"
