"""Kura's command line: `kura serve`, `kura db upgrade`, users, products, stock, orders, the sandbox."""

from __future__ import annotations

import secrets
import sys

import typer
from rich.console import Console

from kura.config import get_settings
from kura.db import Database

app = typer.Typer(no_args_is_help=True, help="Kura — order management for Rakuten Ichiba shops.")
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
users_app = typer.Typer(no_args_is_help=True, help="Users and their roles.")
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
console = Console()
err = Console(stderr=True)


def database() -> Database:
    return Database(get_settings().database_url)


def fail(message: str, code: int = 1) -> None:
    err.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


@app.command()
def serve(
    host: str = typer.Option(None, help="Address to listen on (KURA_HOST)."),
    port: int = typer.Option(None, help="Port (KURA_PORT)."),
    demo: bool = typer.Option(False, "--demo", help="Also run the RMS sandbox (a seeded shop) and connect it."),
    sandbox_port: int = typer.Option(8765, "--sandbox-port", help="Port of the demo's RMS sandbox."),
) -> None:
    """Run the web app and API (and, embedded, the job consumer)."""
    import uvicorn

    from kura.observability.logging import configure_logging
    from kura.web.app import create_app

    settings = get_settings()
    configure_logging(level=settings.log_level)
    if demo:
        from kura.stores.demo import announce, start_demo

        announce(settings, start_demo(settings, sandbox_port), host or settings.host, port or settings.port)
    uvicorn.run(
        create_app(settings),
        host=host or settings.host,
        port=port or settings.port,
        log_level=settings.log_level.lower(),
        log_config=None,  # configure_logging's handler (KURA_LOG_FORMAT) serves uvicorn's loggers too
        workers=1,
    )


@app.command()
def worker(
    workers: int = typer.Option(4, "--workers", "-w", help="Worker threads (or processes) in this consumer."),
    worker_type: str = typer.Option("thread", help="thread or process."),
    metrics_port: int = typer.Option(0, envvar="KURA_WORKER_METRICS_PORT", help="Serve this worker's metrics."),
    metrics_host: str = typer.Option("127.0.0.1", envvar="KURA_WORKER_METRICS_HOST", help="Address for them."),
) -> None:
    """Run a job consumer (distributed mode: KURA_QUEUE_URL=redis://…; set KURA_EMBEDDED_WORKERS=0 on web nodes)."""
    from kura.jobs.queue import run_worker
    from kura.observability.logging import configure_logging
    from kura.observability.metrics import serve_process_metrics

    settings = get_settings()
    configure_logging(level=settings.log_level)
    if metrics_port:
        serve_process_metrics(metrics_port, metrics_host)
    run_worker(settings.queue_url, database(), workers, worker_type)


@app.command()
def scheduler(
    interval: float = typer.Option(None, help="Seconds between dispatcher ticks (KURA_DISPATCH_INTERVAL_S)."),
) -> None:
    """Run the dispatcher: claim due job schedules and enqueue them (one per installation is enough)."""
    from kura.jobs.queue import JobSettings, run_scheduler
    from kura.observability.logging import configure_logging

    configure_logging(level=get_settings().log_level)
    run_scheduler(get_settings().queue_url, database(), interval or JobSettings().dispatch_interval_s)


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head")) -> None:
    """Apply the migrations up to REVISION (default: the newest)."""
    from kura.migrate import upgrade

    upgrade(get_settings().database_url, revision)
    console.print(f"database at {revision}")


@db_app.command("copy")
def db_copy(
    source: str = typer.Option(..., "--from", help="The database to copy, e.g. sqlite:///var/kura.db"),
    target: str = typer.Option(..., "--to", help="Where to, e.g. postgresql+psycopg://kura@db/kura"),
    force: bool = typer.Option(False, "--force", help="Empty a target that already holds rows."),
    batch: int = typer.Option(1000, help="Rows per insert batch."),
) -> None:
    """Copy every table into another database (migrated to head first), then verify the row counts."""
    from rich.table import Table

    from kura.dbcopy import CopyMismatch, CopyRefused, copy_database

    try:
        counts = copy_database(source, target, force=force, batch=batch)
    except (CopyRefused, CopyMismatch) as exc:
        fail(str(exc))
        return
    table = Table("table", "source rows", "target rows", title="kura db copy")
    for c in counts:
        table.add_row(c.table, str(c.source), str(c.target))
    console.print(table)
    console.print(f"copied {sum(c.target for c in counts)} rows in {len(counts)} tables; counts match")


@users_app.command("create")
def users_create(
    username: str = typer.Option(..., "--username", "-u"),
    role: str = typer.Option("operator", help="admin, operator or viewer."),
    password: str = typer.Option(None, help="Asked for when not given; never echoed."),
) -> None:
    """Create a user."""
    from kura.auth.service import create_user
    from kura.errors import KuraError

    password = password or typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        with database().transaction() as s:
            create_user(s, username, password, role)
    except KuraError as exc:
        fail(exc.message)
    console.print(f"user {username} ({role}) created")


@users_app.command("reset-password")
def users_reset_password(username: str = typer.Argument(...)) -> None:
    """Give a user a new random password and print it once."""
    from sqlalchemy import select

    from kura.auth.models import User
    from kura.auth.service import _hasher

    password = secrets.token_urlsafe(12)
    with database().transaction() as s:
        user = s.scalar(select(User).where(User.username == username))
        if user is None:
            fail(f"no user named {username!r}; see `kura users create`")
            return
        user.password_hash = _hasher.hash(password)
    console.print(f"new password for {username}: {password}")


@app.command("bootstrap", hidden=True)
def bootstrap() -> None:
    """First-run setup used by `make run`: migrate, create the admin account, print the login."""
    from kura.auth.service import create_user, has_any_user
    from kura.migrate import upgrade

    settings = get_settings()
    upgrade(settings.database_url)
    with database().transaction() as s:
        if has_any_user(s):
            password = None
        else:
            password = secrets.token_urlsafe(12)
            create_user(s, "admin", password, "admin")
    url = f"http://{settings.host}:{settings.port}/"
    console.print(f"\n  Kura is at [bold]{url}[/bold]")
    if password:
        console.print(f"  login: [bold]admin[/bold]  password: [bold]{password}[/bold]  (shown once; store it)\n")
    else:
        console.print("  login: admin (password as printed on first run; `kura users reset-password admin`)\n")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def sandbox(ctx: typer.Context) -> None:
    """Run the RMS sandbox, a local Rakuten (options: see `kura sandbox --help-sandbox`)."""
    from rms_sandbox.cli import main

    args = ["--help" if a == "--help-sandbox" else a for a in ctx.args]
    sys.exit(main(args))


def _register_area_commands() -> None:
    """Area commands (products, stock, orders, …) live beside their area and register here."""
    from kura import cli_areas

    cli_areas.register(app)


_register_area_commands()

def main() -> None:
    """The `kura` command. A wrong KURA_* setting ends the command that reads it with what to fix (exit 2),
    not a traceback; commands that read no setting (--help, `kura sandbox`) are not stopped by it."""
    from pydantic import ValidationError
    from rich.markup import escape

    try:
        app()
    except ValidationError as exc:
        for problem in exc.errors():
            name = "KURA_" + "_".join(str(part) for part in problem["loc"]).upper()
            message = problem["msg"].removeprefix("Value error, ")
            text = message if name in message else f"{name}: {message}"
            err.print(f"[red]error:[/red] {escape(text)}", soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
