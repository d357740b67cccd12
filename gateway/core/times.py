"""The gateway's clock, and required timestamps as the state database hands them back."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


def when(value: dt.datetime | None) -> dt.datetime:
    """A required timestamp as the state database's ``UtcDateTime`` columns give it back
    (aware, in UTC); a missing one is a damaged row, not a value to guess."""
    if value is None:
        raise ValueError("a required timestamp is missing in the state database")
    return value
