"""The request path's statements on SQLite, straight on ``sqlite3``.

Building, caching and compiling a SQLAlchemy statement, and turning its rows into
typed values, cost about ten times what SQLite takes to run it: most of a request's
state-database CPU. The few statements every request runs (the policy's facts, the
audit append) go straight to the driver here. They are written from the same
``Table`` definitions, so a column added there is read here too, and their values are
decoded by those columns' types, so they come back as the Core path returns them.
A list of ids is one parameter (a JSON array read with ``json_each``), so each
statement is prepared once whatever the list's length.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cache
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import Boolean, Connection, Date, Integer, String, Table

from gateway.governance.state import UtcDateTime

Decode = Callable[[Any], Any]


def driver(conn: Connection) -> sqlite3.Connection | None:
    """The ``sqlite3`` connection under ``conn``; None on any other database or driver
    (aiosqlite's connection is not sqlite3's, and must be reached through its thread)."""
    if conn.dialect.name != "sqlite":
        return None
    raw = conn.connection.driver_connection
    return raw if isinstance(raw, sqlite3.Connection) else None


def _utc(value: str | None) -> dt.datetime | None:
    # SQLAlchemy stores SQLite times as naive ISO text in UTC (UtcDateTime converts on
    # the way in).
    if value is None:
        return None
    return dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)


def _date(value: str | None) -> dt.date | None:
    return None if value is None else dt.date.fromisoformat(value)


def _bool(value: int | None) -> bool | None:
    return None if value is None else bool(value)


def _decoder(column_type: object) -> Decode | None:
    if isinstance(column_type, UtcDateTime):
        return _utc
    if isinstance(column_type, Boolean):
        return _bool
    if isinstance(column_type, Date):
        return _date
    return None


@cache
def _select(
    table: Table,
    key: str,
    columns: tuple[str, ...],
    equal: tuple[str, ...],
    order_by: tuple[str, ...],
) -> tuple[str, tuple[str, ...], tuple[Decode | None, ...]]:
    # Written once per shape: the SQL, the names it selects and their decoders.
    names = columns or tuple(column.name for column in table.columns)
    decoders = tuple(_decoder(table.c[name].type) for name in names)
    sql = (
        f"SELECT {', '.join(names)} FROM {table.name} "
        f"WHERE {table.c[key].name} IN (SELECT value FROM json_each(?))"
    )
    for name in equal:
        sql += f" AND {table.c[name].name} = ?"
    if order_by:
        sql += " ORDER BY " + ", ".join(table.c[name].name for name in order_by)
    return sql, names, decoders


def rows_in(
    db: sqlite3.Connection,
    table: Table,
    key: str,
    ids: Iterable[str],
    *,
    columns: tuple[str, ...] = (),
    equal: Sequence[tuple[str, object]] = (),
    order_by: tuple[str, ...] = (),
) -> list[dict[str, Any]]:
    """``columns`` (default: all) of ``table``'s rows whose ``key`` is one of ``ids`` and
    whose ``equal`` columns have those values, decoded by their column types."""
    sql, names, decoders = _select(table, key, columns, tuple(name for name, _ in equal), order_by)
    parameters = (orjson.dumps(list(ids)).decode(), *(value for _, value in equal))
    return [
        {
            name: (value if decode is None or value is None else decode(value))
            for name, decode, value in zip(names, decoders, raw, strict=True)
        }
        for raw in db.execute(sql, parameters)
    ]


def insert_many(db: sqlite3.Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (each naming every column it sets, all alike) in one statement."""
    if not rows:
        return
    sql, values_of, dated = _insert(table, tuple(rows[0]))
    values = [values_of(row) for row in rows]
    for position in dated:
        # Only the audit's columns are written here: text, integers and booleans (which
        # sqlite3 binds as 1 and 0, as SQLAlchemy does).
        if any(isinstance(row[position], dt.date) for row in values):
            raise TypeError("times are written through SQLAlchemy, which knows their format")
    db.executemany(sql, values)


@cache
def _insert(
    table: Table, names: tuple[str, ...]
) -> tuple[str, Callable[[Mapping[str, Any]], tuple[Any, ...]], tuple[int, ...]]:
    # Written once per shape: the SQL, a function taking a row's values in its order, and
    # the positions of columns whose values could be times.
    placeholders = ", ".join("?" for _ in names)
    sql = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({placeholders})"
    getter = itemgetter(*names)
    values_of = getter if len(names) > 1 else (lambda row: (getter(row),))
    dated = tuple(
        position
        for position, name in enumerate(names)
        if name not in table.c or not isinstance(table.c[name].type, String | Integer | Boolean)
    )
    return sql, values_of, dated
