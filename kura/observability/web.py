"""The web side of operations: /readyz, /metrics (optionally behind KURA_METRICS_TOKEN) and request ids."""

from __future__ import annotations

import hmac
import logging
import threading
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from kura.config import Settings
from kura.db import Database
from kura.observability import ObservabilitySettings
from kura.observability.logging import request_id_middleware

_huey_lock = threading.Lock()


def queue_of(app: FastAPI) -> Any:
    """The Huey this app enqueues on: the embedded consumer's, else one built from the app's queue URL."""
    jobs = getattr(app.state, "jobs", None)
    if jobs is not None:
        return jobs.huey
    with _huey_lock:
        huey = getattr(app.state, "queue_huey", None)
        if huey is None:
            from kura.jobs.queue import make_huey

            huey = app.state.queue_huey = make_huey(app.state.settings.queue_url)
    return huey


def _authorized(request: Request, token: str) -> bool:
    if not token:
        return True
    return hmac.compare_digest(request.headers.get("authorization", "").encode(), f"Bearer {token}".encode())


def install(app: FastAPI, settings: Settings, database: Database) -> None:
    """Adds /readyz, /metrics and the request-id middleware to the app."""
    metrics_token = ObservabilitySettings().metrics_token
    app.middleware("http")(request_id_middleware)

    @app.get("/readyz", include_in_schema=False)
    def readyz() -> Response:
        from kura.observability.health import readiness

        result = readiness(database, settings.queue_url)
        return JSONResponse(result.to_dict(), status_code=200 if result.ready else 503)

    @app.get("/metrics", include_in_schema=False)
    def metrics(request: Request) -> Response:
        from kura.observability.metrics import exposition

        if not _authorized(request, metrics_token):
            return JSONResponse(
                {"code": "unauthorized", "message": "Send Authorization: Bearer <KURA_METRICS_TOKEN>."},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        body, content_type = exposition(database, queue_of(app))
        return Response(body, media_type=content_type)


def health_of(app: FastAPI) -> Any:
    """The dashboard's SystemHealth for this app, or None if even that could not be read."""
    from kura.observability.health import system_health

    try:
        return system_health(app.state.db, app.state.settings.queue_url, queue_of(app))
    except Exception:
        logging.getLogger(__name__).exception("system health unreadable")
        return None
