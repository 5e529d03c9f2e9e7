"""The area commands of the CLI (products, stock, orders, stores, sync), registered on the main app."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Adds each area's sub-commands; an area adds itself here when it gains a CLI."""
