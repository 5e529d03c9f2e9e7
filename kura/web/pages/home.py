"""The dashboard and the settings pages (users and API tokens)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy import select

from kura.auth.models import ApiToken, Role, User
from kura.auth.service import create_token, create_user
from kura.db import Database
from kura.errors import KuraError
from kura.web.deps import get_db, page_user, require_role
from kura.web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/")
def dashboard(request: Request, user: User = Depends(page_user), db: Database = Depends(get_db)) -> Response:
    from kura.observability.web import health_of
    from kura.web.pages.dashboard import dashboard_figures

    with db.reader() as s:
        dash = dashboard_figures(s)
    return render(request, "dashboard.html", user=user, active="dashboard", dash=dash, health=health_of(request.app))


def _settings_context(db: Database, user: User) -> dict[str, Any]:
    with db.reader() as s:
        users = list(s.scalars(select(User).order_by(User.username))) if user.role == Role.admin else []
        tokens = list(s.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id)))
    return {"users": users, "tokens": tokens, "roles": [r.value for r in Role]}


@router.get("/settings")
def settings_page(request: Request, user: User = Depends(page_user), db: Database = Depends(get_db)) -> Response:
    return render(request, "settings.html", user=user, active="settings", new_token=None, error=None,
                  **_settings_context(db, user))


@router.post("/settings/tokens")
def settings_new_token(
    request: Request, name: str = Form("api"), user: User = Depends(page_user), db: Database = Depends(get_db)
) -> Response:
    with db.transaction() as s:
        token = create_token(s, s.merge(user), name.strip() or "api")
    return render(request, "settings.html", user=user, active="settings", new_token=token, error=None,
                  **_settings_context(db, user))


@router.post("/settings/users")
def settings_new_user(
    request: Request,
    username: str = Form(...),
    password: str = Form(...),
    role: str = Form("operator"),
    user: User = Depends(require_role(Role.admin, page_user)),
    db: Database = Depends(get_db),
) -> Response:
    error = None
    try:
        with db.transaction() as s:
            create_user(s, username, password, role)
    except KuraError as exc:
        error = exc.message
    return render(request, "settings.html", status_code=422 if error else 200, user=user, active="settings",
                  new_token=None, error=error, **_settings_context(db, user))
