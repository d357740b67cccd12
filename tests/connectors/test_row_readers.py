"""The row readers generated per shape (http answers, sql rows) against plain loops that
read the same values one field at a time: any object, any path, any row."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from connectors.http_shape import _reader
from connectors.sql_compiled import _row_adder

_MISSING = object()
SEGMENTS = st.sampled_from(["a", "b", "c", "if", "def f(): pass", "x y", ""])
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(SEGMENTS, inner, max_size=4),
    max_leaves=12,
)


def _upper(value: object) -> object:
    return str(value).upper()


CONVERTERS: list[Callable[[object], object] | None] = [None, _upper]
HTTP_FIELDS = st.lists(
    st.tuples(
        st.text(min_size=1, max_size=6),
        st.sampled_from(CONVERTERS),
        st.lists(SEGMENTS, max_size=3).map(tuple),
    ),
    min_size=1,
    max_size=5,
    unique_by=lambda field: field[0],
)


def _dig(value: Any, path: tuple[str, ...]) -> Any:
    for segment in path:
        if not isinstance(value, dict) or segment not in value:
            return _MISSING
        value = value[segment]
    return value


def _expected(fields: list[Any], value: Any, single: bool) -> dict[str, Any] | None:
    row: dict[str, Any] = {}
    present = False
    for field, convert, path in fields:
        found = _dig(value, path)
        present = present or found is not _MISSING
        found = None if found is _MISSING else found
        row[field] = found if convert is None or found is None else convert(found)
    return row if present or not single else None


@given(HTTP_FIELDS, JSON, st.booleans())
def test_an_http_reader_reads_what_the_paths_lead_to(
    fields: list[Any], value: Any, single: bool
) -> None:
    assert _reader(fields, single=single)(value) == _expected(fields, value, single)


def test_an_http_single_record_with_none_of_its_paths_is_no_row() -> None:
    fields = [("name", None, ("name",)), ("city", _upper, ("address", "city"))]
    read = _reader(fields, single=True)
    assert read({"other": 1}) is None
    assert read({"address": "not an object"}) is None
    assert read({"address": {"city": "ludlow"}}) == {"name": None, "city": "LUDLOW"}
    assert read({"name": None}) == {"name": None, "city": None}


SQL_FIELDS = st.lists(
    st.tuples(
        st.sampled_from(["demographics", "alerts", "x y", "'quoted'"]),
        st.text(min_size=1, max_size=6),
        st.integers(0, 5),
        st.sampled_from(CONVERTERS),
    ),
    min_size=1,
    max_size=6,
    unique_by=lambda field: (field[0], field[1]),
)
ROW = st.lists(st.none() | st.text(max_size=3) | st.dates(), min_size=6, max_size=6)


@given(SQL_FIELDS, st.lists(ROW, min_size=1, max_size=3))
def test_an_sql_row_adder_adds_one_record_per_record_set_per_row(
    fields: list[Any], rows: list[list[object]]
) -> None:
    add = _row_adder(fields)
    records: dict[str, list[dict[str, Any]]] = {}
    expected: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        add(row, records)
        made: dict[str, dict[str, Any]] = {}
        for rs_name, field, at, convert in fields:
            value = row[at]
            made.setdefault(rs_name, {})[field] = (
                value if convert is None or value is None else convert(value)
            )
        for rs_name, record in made.items():
            expected.setdefault(rs_name, []).append(record)
    assert records == expected


def test_an_sql_row_adder_keeps_a_date_as_the_driver_gave_it() -> None:
    add = _row_adder([("alerts", "raisedOn", 1, None), ("alerts", "level", 0, _upper)])
    records: dict[str, list[dict[str, Any]]] = {"alerts": [{"raisedOn": None, "level": "LOW"}]}
    add(("high", dt.date(2024, 6, 25)), records)
    assert records["alerts"][-1] == {"raisedOn": dt.date(2024, 6, 25), "level": "HIGH"}
    assert len(records["alerts"]) == 2
