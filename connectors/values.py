"""Bring agencies' values to the catalogue's kinds (0/1 flags, Decimal hours, datetimes)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from gateway.catalogue import ValueKind


def coerce(kind: ValueKind, value: object) -> object:
    """The value as the catalogue's kind expects it; ``None`` and unknown shapes pass through.

    Dates stay either ``date`` or ISO text: both serialise to the same Date,
    and parsing every text date here would cost more than it gives.
    """
    if value is None:
        return None
    if (
        kind is ValueKind.BOOLEAN
        and isinstance(value, int | Decimal)
        and not isinstance(value, bool)
    ):
        return bool(value)
    if kind is ValueKind.FLOAT and isinstance(value, Decimal | int) and not isinstance(value, bool):
        return float(value)
    if kind is ValueKind.INT and isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    if kind is ValueKind.DATE and isinstance(value, dt.datetime):
        return value.date()
    return value
