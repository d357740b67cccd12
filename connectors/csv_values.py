"""Text cells of a flat-file export, read as the catalogue's kinds.

A CSV file holds only text, so every mapped cell is parsed once, when the file is
read, into what the catalogue item's kind says. A cell that does not parse is an
error the loader reports with its line and column, never a value passed through:
a US date or a shifted column served as if it were right is worse than none.

Dates: ISO (``2024-09-03``) and the UK's day-first ``03/09/2024`` (or ``03-09-2024``,
``3.9.2024``), because those are what English agencies' spreadsheets export.
Month-first dates are never guessed, and two-digit years are refused: ``03/09/24``
could be 1924 or 2024 for a date of birth.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable

from gateway.core.catalogue import ValueKind

_UK_DATE = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# A date-time's date part, as exports from systems with timestamps carry (2024-09-03T10:00).
_ISO_DATETIME = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$"
)
_INT = re.compile(r"^[+-]?\d+$")
_TRUE = frozenset({"true", "yes", "y", "1"})
_FALSE = frozenset({"false", "no", "n", "0"})

#: What each kind expects, as the loader's messages say it.
EXPECTED: dict[ValueKind, str] = {
    ValueKind.STRING: "text",
    ValueKind.DATE: "a date as 2024-09-03 or 03/09/2024 (day first, four-digit year)",
    ValueKind.INT: "a whole number",
    ValueKind.FLOAT: "a number",
    ValueKind.BOOLEAN: "true/false, yes/no, y/n or 1/0",
}


class BadValue(ValueError):
    """A cell that is not what its item's kind needs."""


def _string(text: str) -> object:
    return text


def _date(text: str) -> object:
    if _ISO_DATE.match(text):
        return _valid_date(text, lambda: dt.date.fromisoformat(text))
    found = _UK_DATE.match(text)
    if found:
        day, month, year = (int(part) for part in found.groups())
        return _valid_date(text, lambda: dt.date(year, month, day))
    found = _ISO_DATETIME.match(text)
    if found:
        date_part = found.group(1)
        return _valid_date(text, lambda: dt.date.fromisoformat(date_part))
    raise BadValue(text)


def _valid_date(text: str, build: Callable[[], dt.date]) -> dt.date:
    try:
        return build()
    except ValueError as exc:  # 31/02/2024: the right shape, no such day
        raise BadValue(text) from exc


def _int(text: str) -> object:
    if not _INT.match(text):
        raise BadValue(text)
    return int(text)


def _float(text: str) -> object:
    try:
        value = float(text)
    except ValueError as exc:
        raise BadValue(text) from exc
    # float() reads "nan" and "inf", which no agency means as a number of hours.
    if not math.isfinite(value):
        raise BadValue(text)
    return value


def _boolean(text: str) -> object:
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise BadValue(text)


_PARSERS: dict[ValueKind, Callable[[str], object]] = {
    ValueKind.STRING: _string,
    ValueKind.DATE: _date,
    ValueKind.INT: _int,
    ValueKind.FLOAT: _float,
    ValueKind.BOOLEAN: _boolean,
}


def parser(kind: ValueKind) -> Callable[[str], object]:
    """The function reading one non-empty, stripped cell as ``kind``; raises BadValue."""
    return _PARSERS[kind]


def parse_cell(kind: ValueKind, cell: str) -> object:
    """A cell as ``kind``: ``None`` when empty (the agency holds no value); raises BadValue."""
    text = cell.strip()
    if not text:
        return None
    return _PARSERS[kind](text)
