"""An agency's file of its people, as ``fame-gateway index import`` reads it.

CSV (UTF-8, a header row) with these columns, in any order::

    agency_id,local_id,nhs_number,given_name,family_name,date_of_birth,postcodes,team

``nhs_number``, ``given_name``, ``family_name``, ``date_of_birth``, ``postcodes`` and
``team`` may be empty. Dates are ``YYYY-MM-DD`` (or ``DD/MM/YYYY``); ``postcodes`` is
the postcode history, current first, separated by ``;``. Every problem of the file is
reported at once, by line; an invalid NHS number is not a problem of the file (the
record is matched without it) but is reported too.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from gateway.core.errors import GatewayError
from gateway.governance.linkage_store import IncomingRecord

COLUMNS = (
    "agency_id",
    "local_id",
    "nhs_number",
    "given_name",
    "family_name",
    "date_of_birth",
    "postcodes",
    "team",
)
_REQUIRED = ("agency_id", "local_id")
#: Problems listed in the message; all are kept on the exception.
_LISTED = 20


class IndexFileError(GatewayError):
    """An agency's file that cannot be imported; lists every problem, by line."""

    def __init__(self, file: Path, problems: list[str]) -> None:
        self.problems = problems
        listed = "\n".join(f"  - {problem}" for problem in problems[:_LISTED])
        if len(problems) > _LISTED:
            listed += f"\n  ... and {len(problems) - _LISTED} more"
        super().__init__(
            f"{file}: nothing imported; {len(problems)} problem(s) to fix first:\n{listed}"
        )


@dataclass(frozen=True)
class IndexFile:
    """The records of a file, in order."""

    records: tuple[IncomingRecord, ...]


def _date(value: str) -> dt.date:
    for form in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return dt.datetime.strptime(value, form).date()
        except ValueError:
            continue
    raise ValueError(value)


def read_index_file(file: Path, agency_id: str) -> IndexFile:
    """The file's records, all of ``agency_id``; IndexFileError naming every problem."""
    try:
        text = file.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise IndexFileError(file, [f"cannot be read ({exc.strerror})"]) from exc
    except UnicodeDecodeError as exc:
        raise IndexFileError(file, [f"is not UTF-8 text ({exc.reason})"]) from exc
    reader = csv.DictReader(text.splitlines())
    header = [name.strip() for name in reader.fieldnames or []]
    missing = [name for name in COLUMNS if name not in header]
    unknown = [name for name in header if name not in COLUMNS]
    if missing or unknown:
        found = ", ".join(header) or "no header"
        raise IndexFileError(
            file,
            [
                f"line 1: the header must name the columns {','.join(COLUMNS)} "
                f"(found: {found}"
                + (f"; missing: {', '.join(missing)}" if missing else "")
                + (f"; not known: {', '.join(unknown)}" if unknown else "")
                + ")"
            ],
        )
    reader.fieldnames = header
    problems: list[str] = []
    records: list[IncomingRecord] = []
    seen: dict[tuple[str, str | None], int] = {}
    for row in reader:
        line = reader.line_num
        values = {name: (row.get(name) or "").strip() for name in COLUMNS}
        if None in row:
            problems.append(f"line {line}: has more fields than the header names")
        empty = [name for name in _REQUIRED if not values[name]]
        if empty:
            problems.append(f"line {line}: {', '.join(empty)} is empty")
            continue
        if values["agency_id"] != agency_id:
            problems.append(
                f"line {line}: agency_id is {values['agency_id']!r}, but this import is for "
                f"{agency_id} (--agency); import each agency's file on its own"
            )
            continue
        born = None
        if values["date_of_birth"]:
            try:
                born = _date(values["date_of_birth"])
            except ValueError:
                problems.append(
                    f"line {line}: date_of_birth {values['date_of_birth']!r} is not a date; "
                    "write YYYY-MM-DD"
                )
                continue
        team = values["team"] or None
        key = (values["local_id"], team)
        if key in seen:
            problems.append(
                f"line {line}: local_id {values['local_id']} (team {team or 'none'}) is on "
                f"line {seen[key]} too"
            )
            continue
        seen[key] = line
        records.append(
            IncomingRecord(
                line=line,
                agency_id=agency_id,
                local_id=values["local_id"],
                nhs_number=values["nhs_number"] or None,
                given_name=values["given_name"] or None,
                family_name=values["family_name"] or None,
                date_of_birth=born,
                postcodes=tuple(p.strip() for p in values["postcodes"].split(";") if p.strip()),
                team=team,
            )
        )
    if problems:
        raise IndexFileError(file, problems)
    return IndexFile(tuple(records))


def write_index_file(file: Path, records: list[IncomingRecord]) -> None:
    """Write records as an agency's file (for tests and for agencies' export scripts)."""
    with file.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        for r in records:
            writer.writerow(
                (
                    r.agency_id,
                    r.local_id,
                    r.nhs_number or "",
                    r.given_name or "",
                    r.family_name or "",
                    r.date_of_birth.isoformat() if r.date_of_birth else "",
                    ";".join(r.postcodes),
                    r.team or "",
                )
            )
