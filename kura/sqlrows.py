"""Many rows in one statement: the write paths that handle a page or a batch (the product import, stock batches,
the outbox) send their rows through these helpers instead of an executemany.

Why: on PostgreSQL, psycopg runs an executemany as one statement execution per row (pipelined), and each costs
~60-90 µs of Python in the driver and SQLAlchemy plus the server's per-execution work; an import wrote ~7 rows
per SKU that way, and that was most of its CPU. Here the rows travel as one JSON document, read back with
`json_to_recordset` (a function scan: in the document's order): one execution and one parameter, whatever the
number of rows. SQLite's executemany is a C loop over one prepared statement: it stays.

`insert_rows` and `update_rows` take the rows as dicts that all have the same keys (the table's column names);
`conflict` receives the dialect's INSERT and may add ON CONFLICT (`on_conflict_do_nothing` /
`on_conflict_do_update` have the same signature on both dialects). A row listed twice under an ON CONFLICT DO
UPDATE is an error on PostgreSQL (the statement would affect the row twice): callers pass each key once."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    Boolean,
    ColumnElement,
    Date,
    DateTime,
    Enum,
    Integer,
    String,
    Table,
    Text,
    any_,
    bindparam,
    cast,
    column,
    func,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator

from kura.db import UTCDateTime

Rows = Sequence[Mapping[str, Any]]
Conflict = Callable[[Any], Any]
# Types whose Python values go into the JSON document as they are (Enums sent by name are converted first).
_PLAIN = (Integer, String, Boolean, Date)


def is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _pg_type(col: Any) -> Any:
    """The column's PostgreSQL type (a `with_variant` type resolved)."""
    variants = getattr(col.type, "_variant_mapping", None) or {}
    return variants.get("postgresql", col.type)


@dataclass(frozen=True)
class _Reader:
    """How a table's rows with these columns travel: the columns read back from the JSON document (its
    parameter `_DOCUMENT`), the INSERT … SELECT of the whole document, and what must be converted before the
    document is written. Made once per table and set of columns (`_reader`): the INSERT's cache key is then
    computed once, and SQLAlchemy compiles it once."""

    columns: dict[str, Any]  # each column as the statements read it (update_rows builds its UPDATE from them)
    insert: Any
    by_name: dict[str, dict[Any, str]]  # Enum columns sent by member name
    times: tuple[str, ...]  # datetime columns, sent in ISO 8601


_DOCUMENT = "kura_rows"
# int keys become strings, as json.dumps makes them
_ORJSON = orjson.OPT_NON_STR_KEYS


@lru_cache(maxsize=256)
def _reader(table: Table, names: tuple[str, ...]) -> _Reader:
    """Each column is declared with its PostgreSQL type. JSON columns are declared `json` and cast to the
    column's type, a None there becoming JSON null (what an executemany of SQLAlchemy's JSON type sends; no
    Kura column uses none_as_null). An Enum whose members' names differ from their values is sent by name, as
    SQLAlchemy's Enum stores it; datetimes are sent in ISO 8601 with their offset (naive ones are refused, as
    UTCDateTime refuses them). A type with other bind processing is refused rather than sent unprocessed."""
    declared = []
    json_names: dict[str, Any] = {}
    by_name: dict[str, dict[Any, str]] = {}
    times: list[str] = []
    for name in names:
        kind = _pg_type(table.c[name])
        if isinstance(kind, JSON):  # JSONB too
            declared.append(column(name, postgresql.JSON()))
            json_names[name] = kind
            continue
        if isinstance(kind, Enum) and kind.enum_class is not None:
            members = list(kind.enum_class)
            if any(member.name != member.value for member in members):  # the member, or its value, → its name
                by_name[name] = {**{m.value: m.name for m in members}, **{m: m.name for m in members}}
        elif isinstance(kind, DateTime | UTCDateTime):
            times.append(name)
        elif not isinstance(kind, _PLAIN):
            raise TypeError(f"{table.name}.{name}: {kind!r} can't be sent as a JSON row value")
        declared.append(column(name, kind.impl if isinstance(kind, TypeDecorator) else kind))
    source = func.json_to_recordset(cast(bindparam(_DOCUMENT, type_=Text()), postgresql.JSON))
    derived = source.table_valued(*declared).render_derived(name="rows", with_types=True)
    read: dict[str, Any] = {}
    for name in names:
        if name in json_names:
            kind = json_names[name]
            read[name] = func.coalesce(cast(derived.c[name], kind), cast(literal_column("'null'"), kind))
        else:
            read[name] = derived.c[name]
    inserting = postgresql.insert(table).from_select(list(names), select(*[read[name] for name in names]))
    return _Reader(read, inserting, by_name, tuple(times))


def _document(reader: _Reader, rows: Rows) -> str:
    """The rows as one JSON document, for `reader`'s statement.

    Why JSON rather than one array per column: psycopg dumps a list element by element in Python (a regular
    expression escapes each one); a JSON encoder in C (orjson) does the whole batch at once."""
    by_name = reader.by_name
    for name in reader.times:  # orjson writes aware datetimes in ISO 8601 with their offset; naive ones are refused
        for row in rows:
            value = row[name]
            if value is not None and value.tzinfo is None:
                raise ValueError(f"{name}: naive datetime given where an aware one is needed")
    if by_name:
        rows = [{**row, **{name: values[row[name]] if row[name] is not None else None
                           for name, values in by_name.items()}} for row in rows]  # fmt: skip
    try:
        return orjson.dumps(rows, default=_json_default, option=_ORJSON).decode()
    except TypeError:  # what orjson refuses (an int beyond 64 bits): the standard encoder's answer, or its error
        return json.dumps(rows, default=_json_default, ensure_ascii=False, separators=(",", ":"))


def _iso(value: dt.datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("naive datetime given where an aware one is needed")
    return value.isoformat()


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return _iso(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} can't be sent as a row value")


def _names(rows: Rows) -> list[str]:
    keys = rows[0].keys()
    if any(row.keys() != keys for row in rows):
        raise ValueError("every row must have the same keys")
    return list(keys)


def insert_rows(session: Session, table: Table, rows: Rows, *, conflict: Conflict | None = None) -> None:
    """INSERT the rows in their order, in one statement on PostgreSQL (an executemany on SQLite)."""
    if not rows:
        return
    names = _names(rows)
    stmt: Any
    if is_postgresql(session):
        reader = _reader(table, tuple(names))
        stmt = conflict(reader.insert) if conflict else reader.insert
        session.execute(stmt, {_DOCUMENT: _document(reader, rows)})
        return
    stmt = sqlite.insert(table)
    session.execute(conflict(stmt) if conflict else stmt, list(rows))


def update_rows(
    session: Session,
    table: Table,
    rows: Rows,
    *,
    keys: Sequence[str],
    where: Sequence[ColumnElement[bool]] = (),
    values: Mapping[str, Any] | None = None,
) -> None:
    """UPDATE one row per dict: the `keys` columns find it (with `where`, the same for every row), the others
    are its new values, plus `values` (the same for every row); one statement on PostgreSQL. Rows are matched
    in no particular order: callers lock them first if they must (as `_apply_many` does)."""
    if not rows:
        return
    names = _names(rows)
    changed = [name for name in names if name not in keys]
    constant = dict(values or {})
    if is_postgresql(session):
        reader = _reader(table, tuple(names))
        read = reader.columns
        match = [table.c[key] == read[key] for key in keys]
        session.execute(update(table).where(*match, *where)
                        .values({**{name: read[name] for name in changed}, **constant}),
                        {_DOCUMENT: _document(reader, rows)})  # fmt: skip
        return
    params = [{f"b_{name}": row[name] for name in names} for row in rows]
    stmt = (update(table).where(*[table.c[key] == bindparam(f"b_{key}") for key in keys], *where)
            .values({**{name: bindparam(f"b_{name}") for name in changed}, **constant}))  # fmt: skip
    session.execute(stmt, params)


_SEPARATOR = "\x1f"  # ASCII unit separator: in no SKU code, manage number or id


def among(col: Any, values: Collection[int] | Collection[str], session: Session) -> ColumnElement[bool]:
    """`col IN (values)` for a page's worth of ids or codes.

    PostgreSQL: `col = ANY(string_to_array(:p, sep))` with the values joined in one text parameter (SQLAlchemy
    renders an IN list's values one by one and psycopg then parses a new statement text for every length:
    together ~15 µs a value). string_to_array is immutable, so the planner folds it into a constant array
    (Kura's connections plan every statement with its parameters: kura.db.make_engine) and an index serves
    it; a cast of an array literal would not be folded and would be parsed again for every row a filter
    reads. A value containing the separator falls back to an IN list. SQLite: an IN list (callers keep chunks
    under its parameter limit)."""
    texts = [str(v) for v in values]
    if not is_postgresql(session) or not texts or any(_SEPARATOR in t for t in texts):
        return col.in_(list(values))
    kind = _pg_type(col)
    array: Any = func.string_to_array(bindparam(None, _SEPARATOR.join(texts), type_=Text()), _SEPARATOR)
    if not isinstance(kind, String):
        array = cast(array, postgresql.ARRAY(kind))
    return col == any_(array)
