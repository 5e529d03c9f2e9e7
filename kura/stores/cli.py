"""`kura stores …` (connect a Rakuten shop, list stores) and `kura sync products` (a product sync in the
foreground with a progress bar)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from kura.cli_areas import fail, print_json, print_table, reading
from kura.config import get_settings
from kura.db import Database
from kura.errors import KuraError
from kura.stores import service

stores_app = typer.Typer(no_args_is_help=True, help="Sales channel stores (connected Rakuten shops).")


def _row(store: Any) -> dict[str, Any]:
    return {
        "id": store.id,
        "name": store.name,
        "channel": store.channel.value,
        "status": store.status.value,
        "shop_code": store.shop_code,
        "api_base_url": store.api_base_url,
        "license_key": store.license_key_hint,  # masked
        "license_expires_at": store.license_expires_at.isoformat() if store.license_expires_at else None,
        "license_expiry_warning": service.expiry_warning(store),
        "sku_source": store.sku_source.value,
        "import_warehouse_id": store.import_warehouse_id,
    }


@stores_app.command("connect")
def connect(
    name: str = typer.Option(..., "--name", help="A name for the store in Kura."),
    shop_url: str = typer.Option(..., "--shop-url", help="https://www.rakuten.co.jp/<shop>/ or just <shop>."),
    license_key: str = typer.Option(..., "--license-key", help="From RMS → WEB APIサービス."),
    service_secret: str = typer.Option(..., "--service-secret", help="From RMS → WEB APIサービス."),
    api_base_url: str = typer.Option(None, "--api-base-url", help="Default: the real RMS host (or a sandbox URL)."),
    no_import: bool = typer.Option(False, "--no-import", help="Don't queue the product import."),
) -> None:
    """Connect a Rakuten shop: the credentials are checked with RMS, then the product import is queued."""
    database = Database(get_settings().database_url)
    try:
        connected = service.connect_rakuten(database, name=name, shop_url=shop_url, license_key=license_key,
                                            service_secret=service_secret, api_base_url=api_base_url,
                                            import_products=not no_import)  # fmt: skip
        if connected.run_id is not None:
            from kura.jobs.queue import enqueue, get_huey

            enqueue(get_huey(), service.IMPORT_KIND, connected.store_id, connected.run_id)
        with database.reader() as s:
            store = service.get_store(s, connected.store_id)
            row = _row(store)
    except KuraError as exc:
        fail(exc.message)
    finally:
        database.dispose()
    console = Console()
    console.print(f"store {row['id']} ({row['name']}) connected; licence key {row['license_key']} "
                  f"expires {row['license_expires_at'] or 'unknown'}")  # fmt: skip
    if connected.run_id is not None:
        console.print(f"product import queued (run {connected.run_id}); it runs in `kura serve` or `kura worker`, "
                      f"or now in this terminal: kura sync products --store {row['id']}")  # fmt: skip


@stores_app.command("list")
def list_stores(as_json: bool = typer.Option(False, "--json", help="Print a JSON list.")) -> None:
    """List the stores (secrets are never shown)."""
    with reading() as s:
        rows = [_row(store) for store in service.list_stores(s)]
    if as_json:
        print_json(rows)
        return
    print_table(["id", "name", "channel", "status", "shop_code", "license_key", "license_expires_at"], rows)


def _find_store(database: Database, store: str) -> int:
    with database.reader() as s:
        if store.isdigit():
            return service.get_store(s, int(store)).id
        return service.get_store_by_name(s, store).id


class _Bar:
    """The job's progress callback, drawn as a rich progress bar (and still recorded in the run)."""

    def __init__(self, inner: Any, bar: Progress, task: Any) -> None:
        self.inner, self.bar, self.task = inner, bar, task
        self.run_id = getattr(inner, "run_id", None)

    def __call__(self, done: int, total: int | None = None) -> None:
        self.inner(done, total)
        self.bar.update(self.task, completed=done, total=total)


def sync_products(
    store: str = typer.Option(..., "--store", help="The store's name or id."),
    manage_number: str = typer.Option(None, "--manage-number", help="Only this item (商品管理番号)."),
    groups: bool = typer.Option(False, "--groups", help="Only group (variation) items."),
) -> None:
    """Import products from Rakuten now, in the foreground, with a progress bar."""
    from kura.channels.rakuten.products import SyncRequest, import_products

    request = SyncRequest(manage_number=manage_number.strip().lower() if manage_number else None, groups_only=groups)
    _foreground(store, request.kind, "items", 600.0,
                lambda db, store_id, bar: import_products(db, store_id, bar, request=request))  # fmt: skip


def register(app: typer.Typer) -> None:
    """`kura stores …`, and `products` on the `sync` group (whichever module made it)."""
    app.add_typer(stores_app, name="stores")
    sync_group = next((g.typer_instance for g in app.registered_groups if g.name == "sync"), None)
    if sync_group is None:
        sync_group = typer.Typer(no_args_is_help=True, help="Sync with the sales channels.")
        app.add_typer(sync_group, name="sync")
    sync_group.command("products")(sync_products)
    sync_group.command("stock")(sync_stock)


def sync_stock(
    store: str = typer.Option(..., "--store", help="The store's name or id."),
    sku: list[str] = typer.Option(None, "--sku", help="Only this SKU (repeatable); default every listed SKU."),
    reconcile: bool = typer.Option(False, "--reconcile", help="Read Rakuten's stock, report and correct drift."),
) -> None:
    """Push the stock of every listed SKU to Rakuten now (Sync Stock), in the foreground, with a progress bar."""
    from kura.channels.rakuten import stock

    if reconcile:
        _foreground(store, stock.RECONCILE_JOB, "SKUs", 300.0,
                    lambda db, store_id, bar: stock.reconcile(db, store_id, progress=bar))  # fmt: skip
    else:
        _foreground(store, stock.SYNC_JOB, "SKUs", 300.0,
                    lambda db, store_id, bar: stock.sync_stock(db, store_id, progress=bar,
                                                               skus=sku or None))  # fmt: skip


def _foreground(store: str, kind: str, unit: str, lease_ttl_s: float,
                work: Callable[[Database, int, Any], Any]) -> None:  # fmt: skip
    """Runs one store's job now, in this process, as a job run (its lease, its log), with a progress bar; prints
    its counts, or fails with its error."""
    from kura.jobs.runs import RunStatus, run_job

    database = Database(get_settings().database_url)
    try:
        store_id = _find_store(database, store)
        columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns) as bar:
            task = bar.add_task(unit, total=None)

            def fn(sid: int | None, progress: Any) -> Any:
                assert sid is not None
                return work(database, sid, _Bar(progress, bar, task))

            run = run_job(database, kind, store_id, fn, lease_ttl_s=lease_ttl_s)
    except KuraError as exc:
        fail(exc.message)
    finally:
        database.dispose()
    if run.status != RunStatus.done:
        fail(f"run {run.id} {run.status.value}: {run.error}")
    counts = {k: v for k, v in (run.counts or {}).items() if isinstance(v, int) and v}
    Console().print(f"run {run.id} done: " + (", ".join(f"{k} {v}" for k, v in counts.items()) or "nothing to do"))

