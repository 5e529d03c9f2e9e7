"""`kura serve --demo`: the RMS sandbox in a background thread (a file DB under var/, a seeded shop with 500 items
and an order history), connected as the store "Demo shop", so that a newcomer sees a working shop at once."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from sqlalchemy import select

from kura.config import Settings
from kura.db import Database
from kura.stores.models import Store

log = logging.getLogger(__name__)

DEMO_STORE = "Demo shop"
DEMO_SEED = 42
DEMO_ITEMS = 500
DEMO_ORDERS = 3000


@dataclass(frozen=True)
class Demo:
    sandbox_url: str
    store_id: int
    connected_now: bool


def _server_class() -> type:
    import uvicorn

    class QuietServer(uvicorn.Server):
        """Leaves the signals to Kura's own server in the main thread."""

        def install_signal_handlers(self) -> None:
            pass

    return QuietServer


def start_sandbox(settings: Settings, port: int) -> tuple[str, dict[str, str]]:
    """Starts the sandbox on 127.0.0.1:port in a daemon thread; seeds its shop on first run."""
    import uvicorn

    from rms_sandbox.app import create_app
    from rms_sandbox.config import SandboxConfig
    from rms_sandbox.seed import seed_shop, shop_view

    settings.var_dir.mkdir(parents=True, exist_ok=True)
    app = create_app(SandboxConfig(db_path=str(settings.var_dir / "rms_sandbox.db"), clock="real",
                                   order_rate_per_hour=30.0, buyer_cancel_share=0.02))  # fmt: skip
    sb = app.state.sandbox
    shops = sb.store.query("SELECT shop_id FROM shops ORDER BY created, shop_id")
    if shops:
        shop_id = int(shops[0]["shop_id"])
    else:
        print(f"  seeding the RMS sandbox ({DEMO_ITEMS} items, {DEMO_ORDERS} orders)…", flush=True)
        shop_id = seed_shop(sb, DEMO_SEED, DEMO_ITEMS, DEMO_ORDERS)
    shop = shop_view(sb, shop_id)
    server = _server_class()(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, name="rms-sandbox", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the RMS sandbox did not start on port {port}")
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", shop


def start_demo(settings: Settings, port: int = 8765) -> Demo:
    """The sandbox, and the demo store connected to it (once; a restart finds it connected)."""
    from kura.jobs.queue import enqueue, make_huey
    from kura.stores.service import IMPORT_KIND, connect_rakuten

    url, shop = start_sandbox(settings, port)
    database = Database(settings.database_url)
    try:
        with database.reader() as s:
            existing = s.scalar(select(Store).where(Store.name == DEMO_STORE))
            if existing is not None:
                return Demo(url, existing.id, False)
        connected = connect_rakuten(database, name=DEMO_STORE, shop_url=shop["shop_url"],
                                    license_key=shop["license_key"], service_secret=shop["service_secret"],
                                    api_base_url=url)  # fmt: skip
        if connected.run_id is not None:
            # Sent now, run when the embedded consumer starts with the web app.
            enqueue(make_huey(settings.queue_url), IMPORT_KIND, connected.store_id, connected.run_id)
        return Demo(url, connected.store_id, True)
    finally:
        database.dispose()


def announce(settings: Settings, demo: Demo, host: str, port: int) -> None:
    from rich.console import Console

    console = Console()
    admin = f"{demo.sandbox_url}/_sandbox/shops"
    console.print(f"  RMS sandbox at [bold]{demo.sandbox_url}[/bold]  (its admin API: {admin})")
    state = "connected; its products are being imported" if demo.connected_now else "connected"
    console.print(f"  store [bold]{DEMO_STORE}[/bold] {state}: http://{host}:{port}/integrations\n")
