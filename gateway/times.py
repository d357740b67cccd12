"""The gateway's clock, and timestamps as the state database hands them back."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


def aware(value: dt.datetime | None) -> dt.datetime | None:
    """The value as a timezone-aware datetime (UTC when stored without an offset)."""
    # SQLite hands back naive datetimes even for timezone-aware columns.
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.UTC)


def when(value: dt.datetime | None) -> dt.datetime:
    """A required timestamp, timezone-aware."""
    found = aware(value)
    if found is None:
        raise ValueError("a required timestamp is missing in the state database")
    return found
