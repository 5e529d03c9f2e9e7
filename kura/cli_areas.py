"""The area commands of the CLI (products, stock, orders, stores, sync), registered on the main app, and the
few helpers they share: the database from the settings, user errors as one red line, JSON output."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.exc import ArgumentError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session

from kura.config import get_settings
from kura.db import Database
from kura.errors import KuraError


def register(app: typer.Typer) -> None:
    """Adds each area's sub-commands; an area adds itself here when it gains a CLI."""
    # Imported here so that an area's CLI module may import the helpers below without a cycle.
    from kura.bulk import cli as bulk_cli  # adds `products upload|list-on|hide|unhide|delist`
    from kura.catalog import cli as catalog_cli
    from kura.inventory import cli as inventory_cli
    from kura.orders import cli as orders_cli

    app.add_typer(catalog_cli.products_app, name="products")
    app.add_typer(inventory_cli.stock_app, name="stock")
    app.add_typer(inventory_cli.warehouses_app, name="warehouses")
    app.add_typer(orders_cli.orders_app, name="orders")
    if not any(group.name == "sync" for group in app.registered_groups):
        app.add_typer(orders_cli.sync_app, name="sync")  # until a `sync` group of its own exists
    bulk_cli.register(catalog_cli.products_app)
    from kura.stores import cli as stores_cli  # `stores connect|list`, `sync products`

    stores_cli.register(app)
    from kura.shipping import cli as shipping_cli  # `orders ship|pack|label|return|returns|…`

    shipping_cli.register(orders_cli.orders_app)


def fail(message: str) -> NoReturn:
    """A user error: one red line on stderr saying what to fix, exit code 1."""
    Console(stderr=True, highlight=False).print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)
    raise typer.Exit(1)


@contextmanager
def _database() -> Iterator[Database]:
    settings = get_settings()
    database = Database(settings.database_url)
    try:
        yield database
    finally:
        database.dispose()


def _not_ready(exc: Exception) -> str:
    return (
        f"the database at {get_settings().database_url} is not ready ({type(exc).__name__}); "
        "check KURA_DATABASE_URL and run `kura db upgrade`."
    )


@contextmanager
def reading() -> Iterator[Session]:
    """A read-only session on the configured database; user errors end the command with a red line."""
    try:
        with _database() as database, database.reader() as s:
            yield s
    except KuraError as exc:
        fail(exc.message)
    except (ArgumentError, OperationalError, ProgrammingError) as exc:
        fail(_not_ready(exc))


@contextmanager
def writing() -> Iterator[Session]:
    """One write transaction on the configured database; user errors roll it back and end the command."""
    try:
        with _database() as database, database.transaction() as s:
            yield s
    except KuraError as exc:
        fail(exc.message)
    except (ArgumentError, OperationalError, ProgrammingError) as exc:
        fail(_not_ready(exc))


def print_json(rows: Sequence[dict[str, Any]]) -> None:
    """Machine-readable output: a plain JSON list of objects on stdout."""
    typer.echo(json.dumps(list(rows), ensure_ascii=False, default=str))


def print_table(columns: Sequence[str], rows: Sequence[dict[str, Any]], *, total: int | None = None) -> None:
    table = Table(*columns)
    for row in rows:
        table.add_row(*(escape("" if row[c] is None else str(row[c])) for c in columns))
    console = Console()
    console.print(table)
    if total is not None:
        console.print(f"{len(rows)} of {total}")
