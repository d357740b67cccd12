"""The school's records as its management system exports them: CSV files.

One file per record set (``demographics.csv``, ``involvement.csv``, ``enrolments.csv``,
``special_needs.csv``, ``concerns.csv``), each row keyed by the ``pupil_ref`` column, the
school's own reference for the pupil, with one column per catalogue field. Dates are
ISO, booleans ``true``/``false``, absent values empty. The school has no NHS number.

Two files also hold what the school keeps to itself, in columns no agency file maps:
``free_school_meals`` in the pupils' details and the designated safeguarding lead's
``dsl_notes`` on each concern (carrying ``UNSHARED_MARKER``), so a test can show they
never leave the connector.
"""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

from fame_demo.synthetic import RECORD_SETS_HELD, SCHOOL, UNSHARED_MARKER, Population, Row
from gateway.core.catalogue import Catalogue

#: The column holding the school's reference for the pupil: the local id.
PUPIL_REF = "pupil_ref"
#: Columns the school's exports hold that are never shared, per record set's file.
UNSHARED_COLUMNS = {"demographics": "free_school_meals", "concerns": "dsl_notes"}


def _unshared(record_set: str, pupil_ref: str, number: int) -> str:
    """The never-shared column's value for a pupil's ``number``-th row (deterministic)."""
    if record_set == "demographics":
        return "true" if int(pupil_ref[1:]) % 3 == 0 else "false"
    return f"{UNSHARED_MARKER} DSL only: chronology and contact with family ({number})."


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def school_rows(
    population: Population, record_set: str, catalogue: Catalogue
) -> tuple[list[str], list[dict[str, str]]]:
    """The columns and rows of one record set's file, pupils in reference order."""
    rows: list[Row] = []
    for local_id in sorted(population.local_ids[SCHOOL].values()):
        held = population.rows(SCHOOL, local_id, record_set)
        for number, row in enumerate(held, start=1):
            extra = {}
            if record_set in UNSHARED_COLUMNS:
                extra[UNSHARED_COLUMNS[record_set]] = _unshared(record_set, local_id, number)
            rows.append({PUPIL_REF: local_id, **row, **extra})
    # The catalogue's fields in its order, leaving out those the school never records.
    fields = [item.field for item in catalogue.record_sets_by_name[record_set].items]
    held_fields = [field for field in fields if any(field in row for row in rows)]
    columns = [PUPIL_REF, *(held_fields or fields)]
    if record_set in UNSHARED_COLUMNS:
        columns.append(UNSHARED_COLUMNS[record_set])
    return columns, [{column: _cell(row.get(column)) for column in columns} for row in rows]


def write_school_csv(
    population: Population, directory: Path, catalogue: Catalogue
) -> dict[str, Path]:
    """Write one CSV file per record set the school holds into ``directory``, columns named
    after ``catalogue``'s fields (the demo's, with the pilots' record sets).

    Returns record set -> file path (``<record set>.csv``), replacing any old files.
    """
    directory.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for record_set in RECORD_SETS_HELD[SCHOOL]:
        columns, rows = school_rows(population, record_set, catalogue)
        path = directory / f"{record_set}.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
        written[record_set] = path
    return written
