"""The carrier sandbox's ASGI app: a small JSON carrier API per carrier, plus /_sandbox/ admin endpoints.

Carrier API (carrier = yamato | sagawa | japanpost):
  POST   /v1/{carrier}/shipments                    issue a tracking number for a shipment request
  DELETE /v1/{carrier}/shipments/{tracking_number}  withdraw a shipment that has not been picked up
  GET    /v1/{carrier}/tracking?numbers=a,b,...     events so far, with the carrier's own (Japanese) words
"""

from __future__ import annotations

import dataclasses
import json
import threading
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from carriers_sandbox.carriers import PROFILES
from carriers_sandbox.clock import Clock, iso_jst, parse_ts
from carriers_sandbox.config import DEFAULT_TIMINGS, CarrierSandboxConfig
from carriers_sandbox.parcels import ParcelError, Parcels
from carriers_sandbox.store import Store

_SETTABLE = {"seed", "absent_rate", "failed_rate", "lost_rate", "timings", "max_numbers_per_query"}


class Faults:
    """The next `count` carrier-API requests answer `status` (503 by default): for clients' retry paths."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.status = 503
        self.count = 0

    def take(self) -> int | None:
        with self.lock:
            if self.count <= 0:
                return None
            self.count -= 1
            return self.status


def _error(status: int, message: str, **details: Any) -> JSONResponse:
    return JSONResponse({"error": message, **details}, status_code=status)


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    data = json.loads(raw) if raw.strip() else {}
    if not isinstance(data, dict):
        raise ParcelError(400, "body must be a JSON object")
    return data


def _endpoint(handler: Any, faults: Faults | None = None) -> Any:
    """Wraps a handler: JSON errors for ParcelError and bad JSON, and injected faults."""

    async def endpoint(request: Request) -> Response:
        if faults is not None and (status := faults.take()) is not None:
            return _error(status, "injected fault: service temporarily unavailable")
        try:
            return await handler(request)
        except ParcelError as exc:
            return _error(exc.status, exc.message, **exc.details)
        except (json.JSONDecodeError, ValueError, TypeError) as exc:
            return _error(400, f"bad request: {exc}")

    return endpoint


def create_app(config: CarrierSandboxConfig | None = None) -> Starlette:
    """The sandbox as an ASGI app; `app.state.parcels` gives tests direct access."""
    config = config or CarrierSandboxConfig()
    store = Store(config.db_path)
    start = parse_ts(config.clock_start) if config.clock_start else None
    clock = Clock(store, config.clock, start)
    saved = store.get_meta("config")
    if saved:  # settings changed through /_sandbox/config outlive a restart, like the parcels
        for key, value in saved.items():
            setattr(config, key, value)
    parcels = Parcels(store, clock, config)
    faults = Faults()

    async def create_shipment(request: Request) -> Response:
        result = parcels.create(request.path_params["carrier"], await _body(request))
        return JSONResponse(result, status_code=201)

    async def cancel_shipment(request: Request) -> Response:
        return JSONResponse(parcels.cancel(request.path_params["carrier"], request.path_params["number"]))

    async def tracking(request: Request) -> Response:
        numbers = [n for n in request.query_params.get("numbers", "").split(",") if n.strip()]
        if not numbers:
            raise ParcelError(400, "give numbers=<tracking number>[,<tracking number>...]")
        return JSONResponse({"results": parcels.track(request.path_params["carrier"], numbers)})

    def clock_view() -> dict[str, Any]:
        now = clock.now()
        return {"mode": clock.mode, "epoch": now, "jst": iso_jst(now)}

    async def get_clock(request: Request) -> Response:
        return JSONResponse(clock_view())

    async def advance_clock(request: Request) -> Response:
        clock.advance(float((await _body(request)).get("seconds", 0)))
        return JSONResponse(clock_view())

    async def set_clock(request: Request) -> Response:
        clock.set(parse_ts((await _body(request))["at"]))
        return JSONResponse(clock_view())

    def config_view() -> dict[str, Any]:
        view = {k: v for k, v in dataclasses.asdict(config).items() if k in _SETTABLE}
        view["timings"] = {**DEFAULT_TIMINGS, **config.timings}
        return view

    async def get_config(request: Request) -> Response:
        return JSONResponse(config_view())

    async def put_config(request: Request) -> Response:
        body = await _body(request)
        unknown = set(body) - _SETTABLE
        if unknown:
            raise ParcelError(400, f"unknown settings {sorted(unknown)}; settable: {sorted(_SETTABLE)}")
        for key, value in body.items():
            setattr(config, key, value)
        store.set_meta("config", {k: getattr(config, k) for k in _SETTABLE})
        return JSONResponse(config_view())

    async def list_parcels(request: Request) -> Response:
        return JSONResponse({"parcels": parcels.list_parcels(request.query_params.get("carrier"))})

    async def get_parcel(request: Request) -> Response:
        return JSONResponse(parcels.view(request.path_params["number"]))

    async def force_outcome(request: Request) -> Response:
        body = await _body(request)
        return JSONResponse(parcels.force(request.path_params["number"], str(body.get("outcome")),
                                          at_once=bool(body.get("at_once", False))))

    async def put_faults(request: Request) -> Response:
        body = await _body(request)
        with faults.lock:
            faults.status, faults.count = int(body.get("status", 503)), int(body.get("count", 1))
        return JSONResponse({"status": faults.status, "count": faults.count})

    async def reset(request: Request) -> Response:
        store.reset()
        with faults.lock:
            faults.count = 0
        return JSONResponse({"reset": True})

    async def carriers(request: Request) -> Response:
        return JSONResponse({"carriers": [{"key": p.key, "name_ja": p.name_ja, "time_slots": p.time_slots}
                                          for p in PROFILES.values()]})

    routes = [
        Route("/v1/carriers", _endpoint(carriers), methods=["GET"]),
        Route("/v1/{carrier}/shipments", _endpoint(create_shipment, faults), methods=["POST"]),
        Route("/v1/{carrier}/shipments/{number}", _endpoint(cancel_shipment, faults), methods=["DELETE"]),
        Route("/v1/{carrier}/tracking", _endpoint(tracking, faults), methods=["GET"]),
        Route("/_sandbox/clock", _endpoint(get_clock), methods=["GET"]),
        Route("/_sandbox/clock/advance", _endpoint(advance_clock), methods=["POST"]),
        Route("/_sandbox/clock/set", _endpoint(set_clock), methods=["POST"]),
        Route("/_sandbox/config", _endpoint(get_config), methods=["GET"]),
        Route("/_sandbox/config", _endpoint(put_config), methods=["PUT"]),
        Route("/_sandbox/parcels", _endpoint(list_parcels), methods=["GET"]),
        Route("/_sandbox/parcels/{number}", _endpoint(get_parcel), methods=["GET"]),
        Route("/_sandbox/parcels/{number}/outcome", _endpoint(force_outcome), methods=["POST"]),
        Route("/_sandbox/faults", _endpoint(put_faults), methods=["PUT"]),
        Route("/_sandbox/reset", _endpoint(reset), methods=["POST"]),
    ]
    app = Starlette(routes=routes)
    app.state.parcels = parcels
    app.state.clock = clock
    app.state.store = store
    return app
