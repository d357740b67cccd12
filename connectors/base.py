"""The seam between the gateway and each agency's own system."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from gateway.core.errors import ConfigError, Problems
from gateway.core.registration import AgencyConfig

#: One row of a record set, keyed by the catalogue field name (``"severity"``).
Row = dict[str, object]
#: What an agency returned for one local id: record set name -> its rows.
PersonRecords = dict[str, list[Row]]
#: What an agency returned for a batch: local id -> its records. Ids the agency
#: does not know are absent.
FetchResult = dict[str, PersonRecords]


@dataclass(frozen=True)
class DateRange:
    """An inclusive date range; ``None`` leaves that end open."""

    start: dt.date | None = None
    end: dt.date | None = None

    def contains(self, value: object) -> bool:
        """Whether a row's date (a date or an ISO string) falls inside the range."""
        if self.start is None and self.end is None:
            return True
        if isinstance(value, str):
            try:
                value = dt.date.fromisoformat(value[:10])
            except ValueError:
                return False
        if isinstance(value, dt.datetime):
            value = value.date()
        if not isinstance(value, dt.date):
            return False
        if self.start is not None and value < self.start:
            return False
        return not (self.end is not None and value > self.end)

    @property
    def open(self) -> bool:
        """True when neither end is set."""
        return self.start is None and self.end is None


def outside(row: Row, date_field: str | None, bounds: DateRange | None) -> bool:
    """Whether ``row`` falls outside its record set's range: an agency may ignore the from
    and to it was sent, so the range is applied again to what it answered. A row without
    the dated field, or a record set without one, is never outside."""
    return (
        bounds is not None
        and date_field is not None
        and date_field in row
        and not bounds.contains(row[date_field])
    )


@dataclass(frozen=True)
class FetchGroup:
    """Some of the agency's people, and the items permitted about each of them."""

    local_ids: tuple[str, ...]
    items: frozenset[str]


@dataclass(frozen=True)
class FetchRequest:
    """Ask an agency, once, for the permitted items about a batch of its own people.

    Items are catalogue names (``"alerts.severity"``). People whose permitted
    items differ (consent is per person) are in different groups; a connector
    must read nothing beyond each group's items for that group's ids.
    ``ranges`` narrows date-filterable record sets.
    """

    groups: tuple[FetchGroup, ...]
    ranges: Mapping[str, DateRange] = field(default_factory=dict)

    @classmethod
    def single(
        cls,
        local_ids: tuple[str, ...],
        items: frozenset[str],
        ranges: Mapping[str, DateRange] | None = None,
    ) -> FetchRequest:
        """A request in which every person gets the same items."""
        return cls(groups=(FetchGroup(local_ids, items),), ranges=ranges or {})

    @property
    def local_ids(self) -> tuple[str, ...]:
        """Every local id in the request."""
        return tuple(local_id for group in self.groups for local_id in group.local_ids)

    @property
    def items(self) -> frozenset[str]:
        """Every item asked for, for anyone."""
        return frozenset().union(*(group.items for group in self.groups))


@dataclass(frozen=True)
class SourceCheck:
    """The outcome of checking a connector against its live source.

    ``problems`` are mapping errors found on a source that answered (they stop the
    gateway's start); ``cause`` says, as file, key, problem and fix, why a source could
    not be reached or logged into (the gateway starts without it). ``passed`` lists the
    checks that passed, one line each, for a readable report.
    """

    agency: str
    ok: bool
    reachable: bool
    detail: str
    problems: tuple[ConfigError, ...] = ()
    cause: ConfigError | None = None
    passed: tuple[str, ...] = ()


class ConnectorError(Exception):
    """An agency could not answer; ``code`` is the GraphQL error code to report."""

    code = "AGENCY_ERROR"

    def __init__(self, agency: str, message: str) -> None:
        self.agency = agency
        super().__init__(message)


class AgencyTimeout(ConnectorError):
    """The agency did not answer within its timeout."""

    code = "AGENCY_TIMEOUT"


class AgencyUnavailable(ConnectorError):
    """The agency could not be reached at all (refused, DNS, database down)."""

    code = "AGENCY_UNAVAILABLE"


class CircuitOpen(ConnectorError):
    """The agency failed repeatedly of late, so it is not asked until a probe succeeds."""

    code = "CIRCUIT_OPEN"


class Connector(Protocol):
    """An agency's system, as the gateway sees it."""

    @property
    def agency_id(self) -> str:
        """The id of the agency this connector reads from."""
        ...

    async def open(self) -> None:
        """Acquire what the connector needs (pools, sessions); called once at start-up."""
        ...

    async def fetch(self, request: FetchRequest) -> FetchResult:
        """Read the requested items for a batch of local ids, in one call to the source."""
        ...

    async def check(self) -> SourceCheck:
        """Test the mapping against the live source: reachable, every mapped field exists."""
        ...

    async def close(self) -> None:
        """Release pools and sessions."""
        ...


class ConnectorKind(Protocol):
    """A kind of agency system: parses its part of an agency file and builds connectors."""

    name: str

    def parse_source(
        self, doc: Mapping[str, Any], config_dir: Path, problems: Problems
    ) -> object | None:
        """Validate the kind-specific parts of an agency file."""
        ...

    def create(self, agency: AgencyConfig) -> Connector:
        """Build the connector for a validated agency."""
        ...


@runtime_checkable
class ReportsDegradation(Protocol):
    """A connector that may answer from an older copy of its source, and says when it does.

    File-based kinds keep serving the last good copy of an export whose new version
    cannot be read; ``degraded`` then says which file, what is wrong and since when,
    and the gateway reports the agency as ``degraded`` with that detail.
    """

    @property
    def degraded(self) -> str | None:
        """Why answers are not from the source's current version; None when they are."""
        ...
