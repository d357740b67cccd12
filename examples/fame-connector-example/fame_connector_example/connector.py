"""The ``jsonl`` connector: serves a JSON-lines export from memory, re-read when it changes.

A version that cannot be read keeps the last good one in service (and ``degraded``
says why); with none ever read, a fetch fails as AGENCY_UNAVAILABLE.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from connectors.base import (
    AgencyUnavailable,
    FetchRequest,
    FetchResult,
    Row,
    SourceCheck,
)
from fame_connector_example.source import (
    Export,
    ExportProblem,
    ExportUnreadable,
    JsonLinesSource,
    parse_source,
    read_export,
    signature,
)
from gateway.core.errors import ConfigError, Problems
from gateway.core.registration import AgencyConfig


class JsonLinesKind:
    """Parses jsonl agency files and builds their connectors."""

    name = "jsonl"

    def parse_source(
        self, doc: Mapping[str, Any], config_dir: Path, problems: Problems
    ) -> JsonLinesSource | None:
        """Validate the jsonl-specific parts of an agency file."""
        del config_dir  # the export's path is relative to the agency file
        return parse_source(doc, problems)

    def create(self, agency: AgencyConfig) -> JsonLinesConnector:
        """A connector for a validated agency."""
        return JsonLinesConnector(agency)


class JsonLinesConnector:
    """One agency's JSON-lines export, indexed by local id."""

    def __init__(self, agency: AgencyConfig) -> None:
        self._agency = agency
        self._source: JsonLinesSource = agency.source
        self._export: Export | None = None
        self._lock = asyncio.Lock()
        #: Why the export in service is not the file's current version, if it is not.
        self.degraded: str | None = None

    @property
    def agency_id(self) -> str:
        """The agency this connector reads from."""
        return self._agency.id

    async def open(self) -> None:
        """Nothing to acquire: the export is read when first needed."""

    async def close(self) -> None:
        """Nothing to release."""

    async def fetch(self, request: FetchRequest) -> FetchResult:
        """Each group's permitted items for its ids, and nothing else."""
        export = await self._current()
        result: FetchResult = {}
        for group in request.groups:
            fields = [
                (
                    self._agency.catalogue.items[item].record_set,
                    self._agency.catalogue.items[item].field,
                )
                for item in sorted(group.items)
                if item in self._source.items
            ]
            if not fields:
                continue
            for local_id in group.local_ids:
                held = export.people.get(local_id)
                if held is None:
                    continue
                records = result.setdefault(local_id, {})
                for rs_name in sorted({rs for rs, _ in fields}):
                    wanted = [name for rs, name in fields if rs == rs_name]
                    for row in held.get(rs_name, ()):
                        if self._in_range(rs_name, row, request):
                            copy: Row = {name: row.get(name) for name in wanted}
                            records.setdefault(rs_name, []).append(copy)
        return result

    def _in_range(self, rs_name: str, row: Row, request: FetchRequest) -> bool:
        bounds = request.ranges.get(rs_name)
        date_field = self._agency.catalogue.record_sets_by_name[rs_name].date_field
        if bounds is None or bounds.open or date_field is None:
            return True
        if f"{rs_name}.{date_field}" not in self._source.items:
            return True
        return bounds.contains(row.get(date_field))

    async def _current(self) -> Export:
        async with self._lock:
            try:
                now = signature(self._source.path)
                if self._export is None or self._export.signature != now:
                    self._export = await asyncio.to_thread(read_export, self._source)
                self.degraded = None
            except ExportProblem as exc:
                if self._export is None:
                    raise AgencyUnavailable(
                        self.agency_id, f"{self._agency.name}'s export cannot be used: {exc}"
                    ) from exc
                self.degraded = f"{exc}; serving the previous version"
            return self._export

    async def check(self) -> SourceCheck:
        """Read the export: readable, every line a person, every mapped path found somewhere."""
        try:
            export = await asyncio.to_thread(read_export, self._source)
        except ExportProblem as exc:
            unreadable = isinstance(exc, ExportUnreadable)
            found = () if unreadable else (self._problem("source.path", str(exc)),)
            return SourceCheck(self.agency_id, False, not unreadable, str(exc), found)
        seen = {
            f"{rs}.{name}"
            for records in export.people.values()
            for rs, rows in records.items()
            for row in rows
            for name, value in row.items()
            if value is not None
        }
        problems = tuple(
            self._problem(f'items."{item}"', "has no value for anyone in the export")
            for item in sorted(set(self._source.items) - seen)
            if export.people  # an empty export says nothing about the mapping
        )
        detail = f"{len(export.people)} people, {len(self._source.items)} items mapped"
        return SourceCheck(self.agency_id, not problems, True, detail, problems)

    def _problem(self, key: str, problem: str) -> ConfigError:
        return ConfigError(
            self._agency.file, key, problem, "Check the mapping against the export's members."
        )
