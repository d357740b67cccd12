"""Statements compiled once per shape: placeholders, parameters and rows by position."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Date, bindparam, column, select, table
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Dialect

from connectors.sql_compiled import bucket, compile_shape, ids_condition, uses_array


@pytest.mark.parametrize(
    ("count", "size"), [(1, 1), (2, 2), (3, 4), (5, 8), (200, 256), (257, 500), (500, 500)]
)
def test_a_branch_of_ids_gets_the_next_power_of_two_placeholders_at_most_the_limit(
    count: int, size: int
) -> None:
    assert bucket(count, 500) == size


def _compiled(dialect: Dialect) -> tuple[str, tuple[object, ...]]:
    notes = table("notes", column("ref"), column("kind"), column("noted_on"))
    size = None if uses_array(dialect) else bucket(3, 500)
    statement = (
        select(notes.c.ref, notes.c.kind)
        .where(ids_condition(notes.c.ref, "ids_0", size))
        .where(notes.c.noted_on >= bindparam("date_from_0", dt.date(2024, 1, 2), type_=Date()))
    )
    shape = compile_shape(statement, dialect, [("ids_0", "ref", [])], [size])
    return shape.sql, shape.parameters([["A-1", "A-2", "A-3"]])


def test_postgresql_takes_the_ids_as_one_array() -> None:
    sql, values = _compiled(postgresql.asyncpg.dialect())  # type: ignore[no-untyped-call]
    assert "= ANY ($1::VARCHAR[])" in sql
    assert values == (["A-1", "A-2", "A-3"], dt.date(2024, 1, 2))


@pytest.mark.parametrize(
    "dialect",
    [mysql.aiomysql.dialect(), sqlite.aiosqlite.dialect()],
    ids=["mariadb", "sqlite"],
)
def test_without_arrays_the_ids_fill_a_bucket_padded_with_the_last(dialect: Dialect) -> None:
    sql, values = _compiled(dialect)
    assert sql.count("%s" if dialect.name == "mysql" else "?") == 5, sql
    # SQLite is given dates as ISO text, as SQLAlchemy would bind them on each execution.
    bound = "2024-01-02" if dialect.name == "sqlite" else dt.date(2024, 1, 2)
    assert values == ("A-1", "A-2", "A-3", "A-3", bound)
    for local_id in ("A-1", "A-2", "A-3"):
        assert local_id not in sql, "ids are bound values, never SQL"
