"""Whether an agency's value can be served as a catalogue item's kind.

``agency check`` reads a few values of each mapped field and asks this module about
each: a text column holding ``"Initial CP"`` mapped to a date item would otherwise be
served as ``raisedOn: "Initial CP"``. The rules follow what the client view's scalars
make of a value (dates as dates or ISO text; whole numbers; 0/1 flags).
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal, InvalidOperation

from gateway.core.catalogue import ValueKind

#: How a kind is named in messages ("... is not a date").
KIND_WORDS: dict[ValueKind, str] = {
    ValueKind.STRING: "text",
    ValueKind.DATE: "a date (YYYY-MM-DD)",
    ValueKind.INT: "a whole number",
    ValueKind.FLOAT: "a number",
    ValueKind.BOOLEAN: "a true/false flag (boolean, or 0/1)",
}


def _number(value: object) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _date(value: object) -> bool:
    if isinstance(value, dt.date):
        return True
    if isinstance(value, str):
        try:
            dt.date.fromisoformat(value[:10])
        except ValueError:
            return False
        return True
    return False


def _int(value: object) -> bool:
    if isinstance(value, str):
        try:
            value = Decimal(value.strip())
        except InvalidOperation:
            return False
    if not _number(value):
        return False
    assert isinstance(value, int | float | Decimal)
    return math.isfinite(value) and value == int(value)


def _float(value: object) -> bool:
    if isinstance(value, str):
        try:
            return math.isfinite(float(value))
        except ValueError:
            return False
    return _number(value) and math.isfinite(float(value))  # type: ignore[arg-type]


def _boolean(value: object) -> bool:
    return isinstance(value, bool) or (_number(value) and value in (0, 1))


_FITS = {
    ValueKind.DATE: _date,
    ValueKind.INT: _int,
    ValueKind.FLOAT: _float,
    ValueKind.BOOLEAN: _boolean,
}


def value_fits(kind: ValueKind, value: object) -> bool:
    """Whether a non-null value read from an agency can be served as ``kind``."""
    if value is None:
        return True
    check = _FITS.get(kind)
    # Any value reads as text: numbers, dates and flags included.
    return check(value) if check is not None else True
