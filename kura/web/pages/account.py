"""Signing in and out, and the language switcher."""

from __future__ import annotations

from urllib.parse import urlparse

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from kura import i18n
from kura.auth.service import authenticate
from kura.db import Database
from kura.web.deps import check_csrf, get_db
from kura.web.templating import render

router = APIRouter(include_in_schema=False)


def _safe_next(target: str) -> str:
    """Only same-site paths, so the login form cannot redirect elsewhere."""
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


@router.get("/login")
def login_form(request: Request, next: str = "/") -> Response:
    return render(request, "login.html", next=_safe_next(next), error=None)


@router.post("/login", dependencies=[Depends(check_csrf)])
def login(
    request: Request,
    username: str = Form(...),
    password: str = Form(...),
    next: str = Form("/"),
    db: Database = Depends(get_db),
) -> Response:
    with db.transaction() as s:
        user = authenticate(s, username, password)
        user_id = user.id if user else None
    if user_id is None:
        return render(
            request, "login.html", status_code=401, next=_safe_next(next),
            error=i18n.gettext("Wrong username or password."),
        )
    csrf = request.session.get("csrf")
    request.session.clear()
    request.session.update({"user_id": user_id, "csrf": csrf})
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/logout", dependencies=[Depends(check_csrf)])
def logout(request: Request) -> Response:
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


@router.get("/lang/{locale}")
def switch_language(locale: str, request: Request) -> Response:
    back = _safe_next(request.headers.get("referer", "/").split(str(request.base_url).rstrip("/"), 1)[-1])
    response = RedirectResponse(back, status_code=303)
    if locale in i18n.LOCALES:
        response.set_cookie("kura_lang", locale, max_age=365 * 24 * 3600, samesite="lax")
    return response
