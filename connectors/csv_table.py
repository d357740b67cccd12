"""Reading one CSV export into memory: only the mapped columns, parsed, indexed by key.

This is blocking work (file I/O and parsing) and runs in a worker thread, never on
the event loop. A file is read whole or not at all: the first problem does not stop
the reading, so one pass lists the problems an agency has to fix, but any problem
means the version is refused and the caller keeps whatever it had before.
Columns that no item maps are never parsed nor kept.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from connectors.csv_values import EXPECTED, BadValue, parse_cell
from gateway.core.catalogue import ValueKind

#: Problems described one by one; past this many only their number is given.
_SHOWN = 10


@dataclass(frozen=True)
class CsvFile:
    """A mapped file: its name in the agency file, where it is and how it is written."""

    name: str
    path: Path
    key: str
    order_by: str | None = None
    delimiter: str = ","
    encoding: str = "utf-8"


@dataclass(frozen=True)
class Layout:
    """What to keep from a file: its mapped columns, each read as one kind.

    ``unique_keys`` is set when the file holds a one-row record set, so that a
    person appearing twice is an error rather than an arbitrary pick.
    ``order_kind`` is how the ``order_by`` column sorts (the kind of an item mapping
    it, else text).
    """

    slots: tuple[tuple[str, ValueKind], ...]
    unique_keys: bool
    order_kind: ValueKind = ValueKind.STRING


#: What identifies one version of a file: device, inode, size, modification time (ns).
Signature = tuple[int, int, int, int]


@dataclass(frozen=True)
class Snapshot:
    """One good version of a file: its rows by local id, each a tuple of slot values."""

    signature: Signature
    rows: Mapping[str, tuple[tuple[object, ...], ...]]
    row_count: int
    read_at: dt.datetime


@dataclass(frozen=True)
class CellProblem:
    """One thing wrong in a file, with its line (1 is the header) and column where known."""

    line: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = [f"line {self.line}"] if self.line is not None else []
        if self.column is not None:
            where.append(f"column {self.column!r}")
        return f"{', '.join(where)}: {self.message}" if where else self.message


class FileUnreadable(Exception):
    """The file cannot be opened or read at all (missing, permissions, a directory)."""


class FileMalformed(Exception):
    """The file was read but is not a usable export; ``problems`` lists the first few."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.path = path
        self.problems: list[CellProblem] = []
        self.total = 0

    def add(self, problem: CellProblem) -> None:
        """Count a problem; keep its description if fewer than ``_SHOWN`` are kept."""
        self.total += 1
        if len(self.problems) < _SHOWN:
            self.problems.append(problem)

    def __str__(self) -> str:
        shown = "; ".join(str(p) for p in self.problems)
        hidden = self.total - len(self.problems)
        more = f"; and {hidden} more" if hidden else ""
        return f"{self.path.name} has {self.total} problem(s): {shown}{more}"


def signature_of(stat: os.stat_result) -> Signature:
    """The version signature of a ``stat`` result."""
    return (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)


def current_signature(path: Path) -> Signature:
    """The signature of the file now; raises FileUnreadable when it cannot be stat'ed."""
    try:
        return signature_of(path.stat())
    except OSError as exc:
        raise FileUnreadable(_os_message(path, exc)) from exc


def read_header(spec: CsvFile) -> list[str]:
    """The file's column names (stripped); raises FileUnreadable or FileMalformed."""
    text, _ = _read_text(spec)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=spec.delimiter)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise _malformed(spec.path, CellProblem(1, None, f"is not CSV ({exc})")) from exc
    if not header:
        raise _malformed(spec.path, CellProblem(None, None, "is empty: it has no header line"))
    return [name.strip() for name in header]


def read_snapshot(spec: CsvFile, layout: Layout, *, sample: int | None = None) -> Snapshot:
    """Read, check and index the file; raises FileUnreadable or FileMalformed.

    ``sample`` stops after that many data rows (for a quick check of a live file).
    """
    text, signature = _read_text(spec)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=spec.delimiter)
    broken = FileMalformed(spec.path)
    try:
        header = [name.strip() for name in next(reader, None) or []]
    except csv.Error as exc:
        raise _malformed(spec.path, CellProblem(1, None, f"is not CSV ({exc})")) from exc
    if not header:
        raise _malformed(spec.path, CellProblem(None, None, "is empty: it has no header line"))
    positions = _positions(spec, layout, header, broken)
    if broken.total:
        raise broken
    key_at = positions[spec.key]
    slot_at = [(positions[column], kind) for column, kind in layout.slots]
    order_at = positions[spec.order_by] if spec.order_by else None
    order_slot = next(
        (
            at
            for at, (column, kind) in enumerate(layout.slots)
            if column == spec.order_by and kind is layout.order_kind
        ),
        None,
    )
    rows: dict[str, list[tuple[object, object]]] = {}
    count = 0
    try:
        for record in reader:
            if not record or (len(record) == 1 and not record[0].strip()):
                continue  # blank lines, as spreadsheets leave at the end
            line = reader.line_num
            if len(record) != len(header):
                broken.add(
                    CellProblem(
                        line, None, f"has {len(record)} fields, the header has {len(header)}"
                    )
                )
                continue
            key = record[key_at].strip()
            if not key:
                broken.add(CellProblem(line, spec.key, "is empty, so the row belongs to no one"))
                continue
            values = tuple(
                _cell(kind, record[at], line, header[at], broken) for at, kind in slot_at
            )
            order: object = None
            if order_slot is not None:
                order = values[order_slot]  # a mapped column: parsed (and reported) once
            elif order_at is not None:
                order = _cell(layout.order_kind, record[order_at], line, header[order_at], broken)
            held = rows.setdefault(key, [])
            if held and layout.unique_keys:
                broken.add(
                    CellProblem(
                        line,
                        spec.key,
                        "repeats the key of an earlier row, but the file holds a record set "
                        "with one row per person",
                    )
                )
            held.append((order, values))
            count += 1
            if sample is not None and count >= sample:
                break
    except csv.Error as exc:
        broken.add(CellProblem(reader.line_num, None, f"is not CSV ({exc})"))
    if broken.total:
        raise broken
    return Snapshot(
        signature=signature,
        rows={key: _ordered(found, order_at is not None) for key, found in rows.items()},
        row_count=count,
        read_at=dt.datetime.now(dt.UTC),
    )


def shape(cell: str) -> str:
    """A cell's shape, not its value: digits as 9, letters as A (``09/22/2021`` is
    ``99/99/9999``). Problems go to logs and to the ``agencies`` query, where values
    about people never go, yet the shape is usually enough to see what is wrong."""
    text = cell.strip()
    masked = "".join("9" if c.isdigit() else "A" if c.isalpha() else c for c in text[:24])
    return masked + ("..." if len(text) > 24 else "")


def _positions(
    spec: CsvFile, layout: Layout, header: list[str], broken: FileMalformed
) -> dict[str, int]:
    positions: dict[str, int] = {}
    for at, name in enumerate(header):
        positions.setdefault(name, at)
    wanted = dict.fromkeys([spec.key, *(column for column, _ in layout.slots)])
    if spec.order_by:
        wanted[spec.order_by] = None
    listed = ", ".join(repr(name) for name in header)
    for name in wanted:
        if name not in positions:
            broken.add(CellProblem(1, name, f"is not in the header, which has: {listed}"))
        elif header.count(name) > 1:
            broken.add(CellProblem(1, name, "appears more than once in the header"))
    return positions


def _cell(kind: ValueKind, cell: str, line: int, column: str, broken: FileMalformed) -> object:
    try:
        return parse_cell(kind, cell)
    except BadValue:
        broken.add(
            CellProblem(line, column, f"a value shaped {shape(cell)!r} is not {EXPECTED[kind]}")
        )
        return None


def _ordered(found: list[tuple[object, object]], ordered: bool) -> tuple[tuple[object, ...], ...]:
    if ordered:
        # Empty order values last; values of one column share a kind, so they compare.
        found = sorted(
            found, key=lambda pair: (pair[0] is None, pair[0] if pair[0] is not None else 0)
        )
    return tuple(values for _, values in found)  # type: ignore[misc]


def _read_text(spec: CsvFile) -> tuple[str, Signature]:
    try:
        with spec.path.open("rb") as handle:
            # The signature of the very file read (a rename in between changes the inode).
            signature = signature_of(os.fstat(handle.fileno()))
            data = handle.read()
    except OSError as exc:
        raise FileUnreadable(_os_message(spec.path, exc)) from exc
    # Spreadsheets write UTF-8 with a byte-order mark; it is not part of the first name.
    encoding = (
        "utf-8-sig"
        if spec.encoding.lower().replace("_", "-") in {"utf-8", "utf8"}
        else spec.encoding
    )
    try:
        return data.decode(encoding), signature
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise _malformed(
            spec.path,
            CellProblem(
                line,
                None,
                f"is not valid {spec.encoding} (byte {exc.start}); save the export as "
                f'{spec.encoding}, or set encoding = "..." to the one it is written in',
            ),
        ) from exc


def _malformed(path: Path, problem: CellProblem) -> FileMalformed:
    broken = FileMalformed(path)
    broken.add(problem)
    return broken


def _os_message(path: Path, exc: OSError) -> str:
    return f"{path} cannot be read ({exc.strerror or type(exc).__name__})"
