"""The school's records as its management system exports them: CSV files.

One file per record set (``demographics.csv``, ``involvement.csv``, ``enrolments.csv``,
``special_needs.csv``, ``concerns.csv``), each row keyed by the ``pupil_ref`` column, the
school's own reference for the pupil, with one column per catalogue field. Dates are
ISO, booleans ``true``/``false``, absent values empty. The school has no NHS number.
"""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

from fame_demo.synthetic import RECORD_SETS_HELD, SCHOOL, Population, Row
from gateway.core.catalogue import Catalogue

#: The column holding the school's reference for the pupil: the local id.
PUPIL_REF = "pupil_ref"


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
        for row in population.rows(SCHOOL, local_id, record_set):
            rows.append({PUPIL_REF: local_id, **row})
    # The catalogue's fields in its order, leaving out those the school never records.
    fields = [item.field for item in catalogue.record_sets_by_name[record_set].items]
    held = [field for field in fields if any(field in row for row in rows)]
    columns = [PUPIL_REF, *(held or fields)]
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
