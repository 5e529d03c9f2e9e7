"""The web application: REST API under /api/v1, pages under /, static files, errors as JSON or pages."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import IntegrityError
from starlette.middleware.sessions import SessionMiddleware

from kura import __version__, i18n
from kura.config import Settings, get_settings
from kura.db import Database
from kura.errors import KuraError
from kura.web.deps import LoginRequired

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).parent / "static"


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or "application/json" in request.headers.get("accept", "")


def _validation_message(exc: RequestValidationError) -> tuple[str, list[dict[str, object]]]:
    problems = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")]
        problems.append({"field": ".".join(loc) or "body", "problem": err.get("msg", "invalid")})
    summary = "; ".join(f"{p['field']}: {p['problem']}" for p in problems[:5])
    return f"Fix the request: {summary}.", problems


def create_app(settings: Settings | None = None, db: Database | None = None, start_jobs: bool = True) -> FastAPI:
    """The app; with start_jobs, its lifespan also runs the embedded job consumer and dispatcher (when the
    settings say embedded: a SQLite queue, or KURA_EMBEDDED_WORKERS > 0)."""
    settings = settings or get_settings()
    database = db or Database(settings.database_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        jobs = None
        if start_jobs:
            from kura.jobs.queue import start_embedded

            jobs = start_embedded(settings.queue_url, database)
        app.state.jobs = jobs
        try:
            yield
        finally:
            if jobs is not None:
                jobs.stop()
            if db is None:
                database.dispose()

    app = FastAPI(title="Kura", version=__version__, lifespan=lifespan, docs_url="/docs")
    app.state.settings = settings
    app.state.db = database

    @app.exception_handler(KuraError)
    async def _kura_error(request: Request, exc: KuraError) -> Response:
        if _wants_json(request) or request.headers.get("hx-request"):
            return JSONResponse(exc.to_dict(), status_code=exc.status)
        from kura.web.templating import render

        return render(request, "error.html", status_code=exc.status, error=exc)

    @app.exception_handler(IntegrityError)
    async def _integrity_error(request: Request, exc: IntegrityError) -> Response:
        # Two requests racing past a service's own duplicate check meet the database's unique constraint.
        log.info("integrity error answered as 409: %s", type(exc.orig).__name__)
        body = {"code": "conflict", "message": "This clashes with a record saved at the same moment (a duplicate "
                "code or number); reload and try again."}
        return JSONResponse(body, status_code=409)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        message, problems = _validation_message(exc)
        return JSONResponse({"code": "invalid", "message": message, "details": {"problems": problems}}, 422)

    @app.exception_handler(LoginRequired)
    async def _login_required(request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)

    @app.middleware("http")
    async def _locale(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        chosen = request.cookies.get("kura_lang")
        locale = chosen if chosen in i18n.LOCALES else i18n.negotiate(
            request.headers.get("accept-language"), settings.default_locale
        )
        token = i18n.current_locale.set(locale)
        try:
            return await call_next(request)
        finally:
            i18n.current_locale.reset(token)

    session_secret = hashlib.sha256(b"kura-session:" + settings.fernet_key()).hexdigest()
    app.add_middleware(
        SessionMiddleware,
        secret_key=session_secret,
        session_cookie="kura_session",
        max_age=settings.session_max_age_s,
        same_site="lax",
        https_only=False,
    )
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    from kura.observability.web import install as install_operations

    install_operations(app, settings, database)  # /readyz, /metrics, X-Request-ID

    from kura.web.api import routers as api_routers
    from kura.web.pages import routers as page_routers

    for router in api_routers:
        app.include_router(router, prefix="/api/v1")
    for router in page_routers:
        app.include_router(router)
    return app
