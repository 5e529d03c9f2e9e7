"""FastAPI dependencies: the database, the signed-in user, roles and CSRF."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Iterator

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from kura.auth.models import Role, User
from kura.auth.service import user_for_token
from kura.db import Database
from kura.errors import Forbidden, KuraError

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
ROLE_RANK = {Role.viewer: 0, Role.operator: 1, Role.admin: 2}


class Unauthenticated(KuraError):
    """No valid session or API token came with the request."""

    code = "unauthenticated"
    status = 401


class LoginRequired(Exception):
    """A page needs a signed-in user; the handler redirects to the login page."""


class CsrfFailed(KuraError):
    """A form or htmx request came without the page's CSRF token."""

    code = "csrf_failed"
    status = 403


def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return str(token)


async def check_csrf(request: Request) -> None:
    if request.method in SAFE_METHODS:
        return
    expected = request.session.get("csrf", "")
    given = request.headers.get("x-csrf-token", "")
    if not given and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        given = str(form.get("csrf_token", ""))
    if not expected or not hmac.compare_digest(str(expected), given):
        raise CsrfFailed("The form has expired or did not come from Kura; reload the page and try again.")


def _load_user(db: Database, user_id: int) -> User | None:
    with db.reader() as s:
        user = s.get(User, user_id)
        if user is None or not user.active:
            return None
        s.expunge(user)
        return user


async def api_user(request: Request, db: Database = Depends(get_db)) -> User:
    """A Bearer token, or the browser's session (then unsafe methods need the CSRF header)."""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        token = auth[7:].strip()
        with db.reader() as s:
            user = user_for_token(s, token)
            if user is not None:
                s.expunge(user)
        if user is None:
            raise Unauthenticated("The API token is unknown or revoked; create one under Settings → API tokens.")
        return user
    user_id = request.session.get("user_id")
    if user_id:
        user = _load_user(db, int(user_id))
        if user is not None:
            await check_csrf(request)
            return user
    raise Unauthenticated("Send an API token as 'Authorization: Bearer <token>', or sign in.")


async def page_user(request: Request, db: Database = Depends(get_db)) -> User:
    user_id = request.session.get("user_id")
    user = _load_user(db, int(user_id)) if user_id else None
    if user is None:
        raise LoginRequired()
    await check_csrf(request)
    return user


def require_role(role: Role, dependency: Callable[..., object] = api_user) -> Callable[..., object]:
    """A dependency that lets through users with `role` or a higher one."""

    async def _check(user: User = Depends(dependency)) -> User:
        if ROLE_RANK[user.role] < ROLE_RANK[role]:
            raise Forbidden(f"This needs the {role.value} role; your role is {user.role.value}.")
        return user

    return _check


def read_scope(db: Database = Depends(get_db)) -> Iterator[Session]:
    """A read-only session for one request. Writes use `with db.transaction()` inside the handler, so
    that a failed commit is the response and not an error after it."""
    with db.reader() as s:
        yield s
