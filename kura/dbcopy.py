"""`kura db copy`: every row of one Kura database into another (SQLite → PostgreSQL, to scale out), verified.

The target is migrated to head first, and must be empty unless `force` (then it is emptied). Tables are
copied parent before child (Base.metadata.sorted_tables), in batches, inside ONE target transaction: a copy
that fails leaves the target as it was. The source is read in one read transaction, a consistent snapshot
even while Kura keeps running on SQLite (WAL), but rows written after that snapshot are not copied: stop
`kura serve` and the workers before the copy you switch over with. JSON columns travel as their JSON text,
so SQL NULL and JSON null stay distinct. PostgreSQL sequences are moved past the copied ids, and the row
count of every table is compared at the end.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, Column, Table, Text, bindparam, cast, func, select, text, type_coerce
from sqlalchemy.engine import Connection

from kura.db import Base, Database


class CopyRefused(Exception):
    """The copy did not start (target not empty, source not migrated, same database); nothing was changed."""


class CopyMismatch(Exception):
    """After copying, a table's row count differs between source and target; the copy was rolled back."""


@dataclass(frozen=True)
class TableCount:
    table: str
    source: int
    target: int

    @property
    def ok(self) -> bool:
        return self.source == self.target


def tables() -> list[Table]:
    """Kura's tables, parents before children."""
    import kura.models  # noqa: F401  (every table registered on Base.metadata)

    return list(Base.metadata.sorted_tables)


def _is_json(column: Column[Any]) -> bool:
    return isinstance(column.type, JSON)


def _count(conn: Connection, table: Table) -> int:
    return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _read_statement(table: Table) -> Any:
    columns = [cast(c, Text).label(c.name) if _is_json(c) else c for c in table.columns]
    return select(*columns).order_by(*table.primary_key.columns)


def _insert_statement(table: Table, dialect: str) -> Any:
    """INSERT with one bound parameter per column, p_<name>; JSON columns take their JSON text."""
    values: dict[str, Any] = {}
    for c in table.columns:
        if not _is_json(c):
            values[c.name] = bindparam(f"p_{c.name}", type_=c.type)
        elif dialect == "postgresql":
            values[c.name] = cast(bindparam(f"p_{c.name}", type_=Text), c.type)
        else:
            values[c.name] = type_coerce(bindparam(f"p_{c.name}", type_=Text), Text)
    return table.insert().values(values)


def _check_source(source: Database) -> None:
    from kura.observability.health import code_heads, database_heads

    current = database_heads(source)
    if current != code_heads():
        raise CopyRefused(
            f"the source database is at {', '.join(current) or 'no revision'}, this Kura needs "
            f"{', '.join(code_heads())}: run `kura db upgrade` against the source first"
        )


def _non_empty(conn: Connection) -> list[str]:
    return [t.name for t in tables() if conn.execute(select(text("1")).select_from(t).limit(1)).first()]


def _empty(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        names = ", ".join(f'"{t.name}"' for t in tables())
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        return
    for table in reversed(tables()):
        conn.execute(table.delete())


def reset_sequences(conn: Connection) -> None:
    """PostgreSQL: each serial/identity column's sequence continues after the largest copied id."""
    if conn.dialect.name != "postgresql":
        return  # SQLite picks max(rowid) + 1 by itself
    quote = conn.dialect.identifier_preparer.quote
    for table in tables():
        column = table.autoincrement_column
        if column is None:
            continue
        # Names come from Kura's own metadata, not from input.
        sql = (
            f"SELECT setval(pg_get_serial_sequence(:table, :column), COALESCE(MAX({quote(column.name)}), 1), "  # noqa: S608
            f"MAX({quote(column.name)}) IS NOT NULL) FROM {quote(table.name)}"
        )
        conn.execute(text(sql), {"table": table.name, "column": column.name})


def copy_database(
    source_url: str,
    target_url: str,
    *,
    force: bool = False,
    batch: int = 1000,
    report: Callable[[str, int], None] | None = None,
) -> list[TableCount]:
    """Copies every table from source_url into target_url and returns the verified counts per table.

    report(table, rows_so_far) is called after each batch (for a progress display)."""
    from kura.migrate import upgrade

    if source_url == target_url:
        raise CopyRefused("the source and the target are the same database")
    source, target = Database(source_url), Database(target_url)
    try:
        _check_source(source)
        upgrade(target_url)
        with (
            source.engine.connect().execution_options(kura_readonly=True) as src,
            src.begin(),
            target.engine.connect() as dst,
            dst.begin(),
        ):
            filled = _non_empty(dst)
            if filled and not force:
                raise CopyRefused(
                    f"the target already holds rows ({', '.join(filled[:5])}"
                    f"{', …' if len(filled) > 5 else ''}); use --force to empty it first"
                )
            if filled:
                _empty(dst)
            for table in tables():
                _copy_table(src, dst, table, batch, report)
            reset_sequences(dst)
            counts = [TableCount(t.name, _count(src, t), _count(dst, t)) for t in tables()]
            wrong = [c for c in counts if not c.ok]
            if wrong:
                shown = ", ".join(f"{c.table}: {c.source} → {c.target}" for c in wrong)
                raise CopyMismatch(f"row counts differ after the copy ({shown}); nothing was kept")
        return counts
    finally:
        source.dispose()
        target.dispose()


def _copy_table(
    src: Connection, dst: Connection, table: Table, batch: int, report: Callable[[str, int], None] | None
) -> None:
    insert = _insert_statement(table, dst.dialect.name)
    copied = 0
    result = src.execution_options(yield_per=batch).execute(_read_statement(table))
    for rows in result.partitions(batch):
        dst.execute(insert, [{f"p_{k}": v for k, v in row._mapping.items()} for row in rows])
        copied += len(rows)
        if report is not None:
            report(table.name, copied)
