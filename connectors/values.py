"""Bring agencies' values to the catalogue's kinds (0/1 flags, Decimal hours, datetimes)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

from gateway.core.catalogue import ValueKind


def _boolean(value: object) -> object:
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        return bool(value)
    return value


def _float(value: object) -> object:
    if isinstance(value, Decimal | int) and not isinstance(value, bool):
        return float(value)
    return value


def _int(value: object) -> object:
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    return value


def _date(value: object) -> object:
    # Dates stay either ``date`` or ISO text: both serialise to the same Date,
    # and parsing every text date here would cost more than it gives.
    if isinstance(value, dt.datetime):
        return value.date()
    return value


_COERCERS: dict[ValueKind, Callable[[object], object]] = {
    ValueKind.BOOLEAN: _boolean,
    ValueKind.FLOAT: _float,
    ValueKind.INT: _int,
    ValueKind.DATE: _date,
}


def coercer(kind: ValueKind) -> Callable[[object], object] | None:
    """The function bringing a non-null value to ``kind``; None when values pass as they are.

    Connectors look it up once per field, not per value: a caseload has
    hundreds of thousands of values.
    """
    return _COERCERS.get(kind)


def coerce(kind: ValueKind, value: object) -> object:
    """The value as the catalogue's kind expects it; ``None`` and unknown shapes pass through."""
    if value is None:
        return None
    convert = _COERCERS.get(kind)
    return convert(value) if convert is not None else value
