"""How an agency's own system lays out its tables: columns and where their values come from.

Shared by :mod:`fame_demo.stores` (the base agencies) and :mod:`fame_demo.pilot_tables`
(the agencies the pilots add).
"""

from __future__ import annotations

from dataclasses import dataclass

KEY = "@key"
SEQ = "@seq"


@dataclass(frozen=True)
class Column:
    """One column of an agency table and where its value comes from.

    ``source`` is a catalogue item (``"medications.name"``), ``"@key"`` for the agency's
    local person id, ``"@seq"`` for a surrogate row number, or ``"!<name>"`` for a value
    the agency keeps for itself and never maps.
    """

    name: str
    sql_type: str
    source: str

    @property
    def mapped_item(self) -> str | None:
        """The catalogue item this column holds, or None for keys and private columns."""
        return None if self.source[0] in "@!" else self.source


@dataclass(frozen=True)
class TableSpec:
    """One table of an agency's system.

    A table fed by one-row record sets (demographics, involvement) holds one row per
    person keyed by ``key``; a table fed by a many-row record set holds one row per
    record, with ``key`` as an indexed, non-unique column.
    """

    name: str
    key: str
    record_sets: tuple[str, ...]
    many: bool
    columns: tuple[Column, ...]


def col(name: str, sql_type: str, source: str) -> Column:
    """A column named ``name`` of ``sql_type`` holding ``source``."""
    return Column(name, sql_type, source)


ID = "VARCHAR(16)"
DATE = "VARCHAR(10)"
SHORT = "VARCHAR(40)"
NAME = "VARCHAR(80)"
LINE = "VARCHAR(200)"
TEXT = "VARCHAR(400)"


def demographics_columns(
    names: tuple[str, str, str, str, str, str, str, str],
) -> tuple[Column, ...]:
    """Demographics columns under the agency's own names (an empty name: not held)."""
    fields = (
        ("nhs_number", "VARCHAR(10)"),
        ("given_name", NAME),
        ("family_name", NAME),
        ("date_of_birth", DATE),
        ("gender", "VARCHAR(10)"),
        ("address", LINE),
        ("postcode", "VARCHAR(10)"),
        ("phone", "VARCHAR(20)"),
    )
    return tuple(
        col(name, sql_type, f"demographics.{field}")
        for name, (field, sql_type) in zip(names, fields, strict=True)
        if name
    )
