"""Creating users, checking passwords and API tokens."""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from kura.auth.models import ApiToken, Role, User
from kura.db import utcnow
from kura.errors import Conflict, Invalid

_hasher = PasswordHasher()
TOKEN_PREFIX = "kura_"  # noqa: S105 (a public prefix, not a secret)


def create_user(session: Session, username: str, password: str, role: Role | str = Role.operator) -> User:
    username = username.strip()
    if not username:
        raise Invalid("username", "A username is needed.")
    if len(password) < 8:
        raise Invalid("password", "The password needs at least 8 characters.")
    try:
        role = Role(role)
    except ValueError:
        raise Invalid("role", f"Unknown role {role!r}; use one of: {', '.join(r.value for r in Role)}.") from None
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"A user named {username!r} exists already.")
    user = User(username=username, password_hash=_hasher.hash(password), role=role)
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    user = session.scalar(select(User).where(User.username == username.strip(), User.active.is_(True)))
    if user is None:
        _hasher.hash(password)  # same cost whether or not the user exists
        return None
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return user


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, user: User, name: str) -> str:
    """Returns the token in clear, once; only its digest is kept."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, name=name, token_hash=_digest(token), prefix=token[:12]))
    session.flush()
    return token


def user_for_token(session: Session, token: str) -> User | None:
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(token), ApiToken.revoked.is_(False)))
    if row is None:
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        return None
    return user


def touch_token(session: Session, token: str) -> None:
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(token)))
    if row is not None:
        row.last_used_at = utcnow()


def has_any_user(session: Session) -> bool:
    return session.scalar(select(User.id).limit(1)) is not None
