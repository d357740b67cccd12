"""The ``csv`` connector: flat files an agency with little IT exports on a schedule.

The agency file names each export and the column holding the agency's local id,
and maps catalogue items to ``file.column``, like the sql kind's tables::

    kind = "csv"

    [files.pupils]
    path = "exports/pupils.csv"     # relative to the agency file
    key = "upn"
    order_by = "start_date"         # optional: the order of a person's rows
    delimiter = ","                 # optional, one character ("\\t" for tab-separated)
    encoding = "utf-8"              # optional

    [items]
    "enrolments.school" = "pupils.school_name"

A file is read whole, in a worker thread, when a fetch first needs it and again
whenever it changes (its inode, size or modification time): only the mapped
columns are parsed (see ``connectors.csv_values`` for dates and flags) and kept,
indexed by local id, so a fetch is a dictionary lookup and copies out only each
group's permitted items. Agencies should write a new export under another name
and rename it into place, so that a half-written file is never read.

A new version that cannot be read or does not parse is refused as a whole: the
connector keeps serving the last good copy and reports the agency as degraded,
naming the file, line and column; the gateway's log says so once per version.
If no version has ever been read, there is nothing true to serve, so the fetch
fails as AGENCY_UNAVAILABLE with the same message.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors.base import (
    AgencyTimeout,
    AgencyUnavailable,
    FetchRequest,
    FetchResult,
    Row,
    SourceCheck,
)
from connectors.csv_config import CsvSource, parse_csv_source
from connectors.csv_table import (
    CsvFile,
    FileMalformed,
    FileUnreadable,
    Layout,
    Signature,
    Snapshot,
    current_signature,
    read_header,
    read_snapshot,
)
from connectors.csv_values import EXPECTED
from gateway.core.errors import ConfigError, Problems
from gateway.core.registration import AgencyConfig

log = logging.getLogger(__name__)

#: Data rows ``check`` parses for each file: enough to catch a wrong mapping or format.
_SAMPLE_ROWS = 100


class CsvKind:
    """Parses csv agency files and builds their connectors."""

    name = "csv"

    def parse_source(
        self, doc: Mapping[str, Any], config_dir: Path, problems: Problems
    ) -> CsvSource | None:
        """Validate the csv-specific parts of an agency file."""
        del config_dir  # paths are relative to the agency file itself
        return parse_csv_source(doc, problems)

    def create(self, agency: AgencyConfig) -> CsvConnector:
        """A connector for a validated agency."""
        return CsvConnector(agency)


@dataclass
class _FileState:
    """One file's last good copy, its current problem and any read under way."""

    spec: CsvFile
    layout: Layout
    snapshot: Snapshot | None = None
    problem: str | None = None
    failed: Signature | None = None
    reading: asyncio.Task[Snapshot] | None = field(default=None, repr=False)


class CsvConnector:
    """Serves an agency's CSV exports from memory, re-reading each file when it changes."""

    def __init__(self, agency: AgencyConfig) -> None:
        self._agency = agency
        self._source: CsvSource = agency.source
        self._files = {
            name: _FileState(spec, self._source.layouts[name])
            for name, spec in self._source.files.items()
        }

    @property
    def agency_id(self) -> str:
        """The agency this connector reads from."""
        return self._agency.id

    @property
    def degraded(self) -> str | None:
        """Why answers come from an older copy of some file, or None when all are current."""
        notes = [
            f"files.{name}: {state.problem}; serving the copy read at "
            f"{state.snapshot.read_at:%Y-%m-%d %H:%M:%S} UTC"
            for name, state in sorted(self._files.items())
            if state.problem is not None and state.snapshot is not None
        ]
        return "; ".join(notes) or None

    async def open(self) -> None:
        """Nothing to acquire: files are read when a fetch first needs them."""

    async def close(self) -> None:
        """Wait for reads under way, so that no thread outlives the connector."""
        for state in self._files.values():
            if state.reading is not None:
                await asyncio.wait([state.reading])

    async def fetch(self, request: FetchRequest) -> FetchResult:
        """Copy out each group's permitted items for its ids, from the files' current copies."""
        plans: list[tuple[tuple[str, ...], dict[str, list[tuple[str, str, int]]]]] = []
        needed: set[str] = set()
        for group in request.groups:
            by_file: dict[str, list[tuple[str, str, int]]] = defaultdict(list)
            for item in sorted(group.items):
                ref = self._source.items.get(item)
                if ref is not None:
                    spec = self._agency.catalogue.items[item]
                    by_file[ref.file].append((spec.record_set, spec.field, ref.slot))
            needed.update(by_file)
            plans.append((group.local_ids, by_file))
        result: FetchResult = {}
        if not needed:
            return result
        try:
            async with asyncio.timeout(self._agency.timeout_seconds):
                copies = {name: await self._current(name) for name in sorted(needed)}
        except TimeoutError as exc:
            raise AgencyTimeout(
                self.agency_id,
                f"{self._agency.name}'s export was not read within "
                f"{self._agency.timeout_seconds:g}s (a large file is still being parsed; "
                "the next request uses it once read)",
            ) from exc
        for local_ids, by_file in plans:
            for file_name, fields in by_file.items():
                self._copy_out(copies[file_name], file_name, local_ids, fields, request, result)
        return result

    def _copy_out(
        self,
        copy: Snapshot,
        file_name: str,
        local_ids: tuple[str, ...],
        fields: list[tuple[str, str, int]],
        request: FetchRequest,
        result: FetchResult,
    ) -> None:
        # Date bounds apply to a record set through its mapped date column, as the sql
        # kind's WHERE does, whether or not the date itself is permitted.
        bounds = {}
        for rs_name in {rs for rs, _, _ in fields}:
            date_field = self._agency.catalogue.record_sets_by_name[rs_name].date_field
            wanted = request.ranges.get(rs_name)
            ref = self._source.items.get(f"{rs_name}.{date_field}") if date_field else None
            if wanted is not None and not wanted.open and ref is not None:
                bounds[rs_name] = (wanted, ref.slot)
        for local_id in local_ids:
            rows = copy.rows.get(local_id)
            if not rows:
                continue
            records = result.setdefault(local_id, {})
            for values in rows:
                built: dict[str, Row] = {}
                for rs_name, field_name, slot in fields:
                    built.setdefault(rs_name, {})[field_name] = values[slot]
                for rs_name, row in built.items():
                    limit = bounds.get(rs_name)
                    if limit is not None and not limit[0].contains(values[limit[1]]):
                        continue
                    records.setdefault(rs_name, []).append(row)

    async def _current(self, name: str) -> Snapshot:
        state = self._files[name]
        try:
            # A stat of a local file costs microseconds: not worth a thread per fetch.
            signature = current_signature(state.spec.path)
        except FileUnreadable as exc:
            return self._fall_back(state, str(exc), None)
        if state.snapshot is not None and state.snapshot.signature == signature:
            return state.snapshot
        if state.failed == signature and state.problem is not None:
            return self._fall_back(state, state.problem, signature)  # not re-read until it changes
        if state.reading is None:
            state.reading = asyncio.get_running_loop().create_task(
                asyncio.to_thread(read_snapshot, state.spec, state.layout)
            )
        reading = state.reading
        try:
            # Shielded: a fetch that times out leaves the read to finish for the next one.
            copy = await asyncio.shield(reading)
        except (FileUnreadable, FileMalformed) as exc:
            self._settle(state, reading)
            return self._fall_back(state, str(exc), signature)
        except Exception as exc:  # anything else the read met, e.g. no memory for the file
            self._settle(state, reading)
            return self._fall_back(state, f"{state.spec.path.name}: {exc!r}", signature)
        self._settle(state, reading)
        if state.problem is not None:
            log.warning("agency %s: file %s is readable again", self.agency_id, name)
        state.snapshot, state.problem, state.failed = copy, None, None
        return copy

    @staticmethod
    def _settle(state: _FileState, reading: asyncio.Task[Snapshot]) -> None:
        if state.reading is reading:
            state.reading = None

    def _fall_back(self, state: _FileState, problem: str, signature: Signature | None) -> Snapshot:
        if problem != state.problem:
            log.warning(
                "agency %s: file %s cannot be used: %s; %s",
                self.agency_id,
                state.spec.name,
                problem,
                "serving its last good copy" if state.snapshot else "no copy to serve",
            )
        state.problem, state.failed = problem, signature
        if state.snapshot is not None:
            return state.snapshot
        raise AgencyUnavailable(
            self.agency_id,
            f"{self._agency.name}'s export {state.spec.name!r} has not been read yet: "
            f"{problem}; fix the file, then run `fame-gateway check {self.agency_id}`",
        )

    async def check(self) -> SourceCheck:
        """Read each file's header and first rows: present, readable, mapped columns there,
        values of the items' kinds."""
        return await asyncio.to_thread(self._check)

    def _check(self) -> SourceCheck:
        problems: list[ConfigError] = []
        unreadable: list[str] = []
        for name, state in sorted(self._files.items()):
            try:
                header = read_header(state.spec)
            except FileUnreadable as exc:
                unreadable.append(str(exc))
                continue
            except FileMalformed as exc:
                problems.append(self._problem(f"files.{name}", str(exc), "Fix the export."))
                continue
            missing = self._missing_columns(name, state.spec, header)
            problems.extend(missing)
            if missing:
                continue
            try:
                read_snapshot(state.spec, state.layout, sample=_SAMPLE_ROWS)
            except FileUnreadable as exc:
                unreadable.append(str(exc))
            except FileMalformed as exc:
                problems.extend(self._value_problems(name, exc))
        if unreadable:
            detail = "cannot read " + "; ".join(unreadable)
        elif problems:
            detail = f"{len(problems)} mapping problem(s)"
        else:
            detail = f"{len(self._source.items)} items in {len(self._files)} files"
        return SourceCheck(
            agency=self.agency_id,
            ok=not unreadable and not problems,
            reachable=not unreadable,
            detail=detail,
            problems=tuple(problems),
        )

    def _missing_columns(self, name: str, spec: CsvFile, header: list[str]) -> list[ConfigError]:
        found: list[ConfigError] = []
        use = f"Use one of the header's columns: {', '.join(repr(h) for h in header)}."
        for key, column in (("key", spec.key), ("order_by", spec.order_by)):
            if column is not None and column not in header:
                found.append(
                    self._problem(
                        f"files.{name}.{key}",
                        f"names column {column!r}, which {spec.path.name} does not have",
                        use,
                    )
                )
        for item, ref in sorted(self._source.items.items()):
            if ref.file == name and ref.column not in header:
                found.append(
                    self._problem(
                        f'items."{item}"',
                        f"maps to column {ref.column!r}, which {spec.path.name} does not have",
                        use,
                    )
                )
        return found

    def _value_problems(self, name: str, broken: FileMalformed) -> list[ConfigError]:
        found: list[ConfigError] = []
        for problem in broken.problems:
            items = sorted(
                item
                for item, ref in self._source.items.items()
                if ref.file == name and ref.column == problem.column
            )
            if items:
                kind = self._agency.catalogue.items[items[0]].kind
                found.append(
                    self._problem(
                        f'items."{items[0]}"',
                        f"{broken.path.name} {problem}",
                        "Correct the export, or map the item to a column holding "
                        f"{EXPECTED[kind]}.",
                    )
                )
            else:
                found.append(
                    self._problem(
                        f"files.{name}", f"{broken.path.name} {problem}", "Correct the export."
                    )
                )
        if broken.total > len(broken.problems):
            found.append(
                self._problem(
                    f"files.{name}",
                    f"has {broken.total - len(broken.problems)} more problem(s) in its first "
                    f"{_SAMPLE_ROWS} rows",
                    "Fix those listed, then check again.",
                )
            )
        return found

    def _problem(self, key: str, problem: str, fix: str) -> ConfigError:
        return ConfigError(self._agency.file, key, problem, fix)
