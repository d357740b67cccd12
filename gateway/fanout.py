"""Ask every agency involved once, concurrently, and assemble each person's view.

Between planning and fetching sits the ``ItemFilter``: the point where the
policy narrows, per person and agency, the items an agency will be asked for.
What it removes is never requested from the source.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from connectors.base import (
    Connector,
    ConnectorError,
    FetchGroup,
    FetchRequest,
    FetchResult,
    Row,
)
from gateway.agencies import AgencyConfig
from gateway.catalogue import record_set_of
from gateway.person_index import Links, PersonIndex
from gateway.planner import Plan
from gateway.requester import Requester

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AgencyRef:
    """The agency an item came from, as shown on every record."""

    id: str
    name: str


@dataclass(frozen=True)
class SourceOutcome:
    """How one agency answered one request: ``status`` is ``ok`` or an error code."""

    agency: str
    status: str
    milliseconds: float
    people: int
    message: str | None = None


@dataclass
class PersonView:
    """One person's picture for one request: rows per record set, each naming its agency.

    ``failed`` lists the record sets some agency could not provide, so that a
    list is shown as unknown (null) rather than empty when no source answered.
    """

    id: str
    agencies: tuple[str, ...]
    records: dict[str, list[Row]] = field(default_factory=dict)
    demographics: Row | None = None
    answered: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)

    def rows(self, record_set: str) -> list[Row] | None:
        """The record set's rows, or None when it is unknown because its sources failed."""
        found = self.records.get(record_set)
        if found is not None:
            return found
        if record_set in self.failed and record_set not in self.answered:
            return None
        return []


class ItemFilter(Protocol):
    """Narrows the items an agency is asked for about one person."""

    def __call__(
        self, requester: Requester, person_id: str, agency: AgencyConfig, items: frozenset[str]
    ) -> frozenset[str]:
        """The items that may be fetched; anything removed is never requested."""
        ...


def permit_all(
    requester: Requester, person_id: str, agency: AgencyConfig, items: frozenset[str]
) -> frozenset[str]:
    """The filter before any policy is configured: every planned item."""
    del requester, person_id, agency
    return items


@dataclass(frozen=True)
class Assembly:
    """The views of the people asked for, and how each agency answered."""

    views: dict[str, PersonView]
    outcomes: tuple[SourceOutcome, ...]
    errors: tuple[ConnectorError, ...]


class Fanout:
    """Plans per-agency requests for a batch of people, fetches them concurrently, assembles."""

    def __init__(
        self,
        agencies: Sequence[AgencyConfig],
        connectors: Mapping[str, Connector],
        index: PersonIndex,
        item_filter: ItemFilter = permit_all,
    ) -> None:
        self._agencies = {agency.id: agency for agency in agencies}
        self._order = {agency.id: position for position, agency in enumerate(agencies)}
        self._refs = {agency.id: AgencyRef(agency.id, agency.name) for agency in agencies}
        self._connectors = connectors
        self._index = index
        self._filter = item_filter

    async def assemble(
        self, requester: Requester, person_ids: Sequence[str], plan: Plan
    ) -> Assembly:
        """Fetch what ``plan`` needs about ``person_ids`` with one call per agency."""
        links = await self._index.links(person_ids)
        requests = self._requests(requester, links, plan)
        started = time.perf_counter()
        results = await asyncio.gather(
            *(self._fetch(agency_id, request, started) for agency_id, request in requests.items())
        )
        views = {
            person_id: PersonView(
                id=person_id,
                agencies=tuple(sorted(links[person_id], key=lambda a: self._order.get(a, 1 << 30))),
            )
            for person_id in person_ids
            if person_id in links
        }
        outcomes: list[SourceOutcome] = []
        errors: list[ConnectorError] = []
        for agency_id, request, (outcome, result, error) in zip(
            requests, requests.values(), results, strict=True
        ):
            outcomes.append(outcome)
            asked_sets = {record_set_of(item) for item in request.items}
            if error is not None:
                errors.append(error)
            self._merge(agency_id, links, request, result, asked_sets, views, error is None)
        for view in views.values():
            demographics = view.records.pop("demographics", None)
            view.demographics = demographics[0] if demographics else None
        return Assembly(views=views, outcomes=tuple(outcomes), errors=tuple(errors))

    def _requests(
        self, requester: Requester, links: Mapping[str, Links], plan: Plan
    ) -> dict[str, FetchRequest]:
        wants_demographics = any(item.startswith("demographics.") for item in plan.items)
        groups: dict[str, dict[frozenset[str], list[str]]] = defaultdict(lambda: defaultdict(list))
        for person_id, person_links in links.items():
            demographics_source = (
                self._demographics_source(person_links, plan) if wants_demographics else None
            )
            for agency_id, local_ids in person_links.items():
                agency = self._agencies.get(agency_id)
                if agency is None or agency_id not in self._connectors:
                    continue  # a link to an agency no longer registered
                items = plan.items_for(agency_id, agency.items)
                if agency_id != demographics_source:
                    items = frozenset(i for i in items if not i.startswith("demographics."))
                items = self._filter(requester, person_id, agency, items)
                if items:
                    groups[agency_id][items].extend(local_ids)
        return {
            agency_id: FetchRequest(
                groups=tuple(
                    FetchGroup(tuple(ids), items)
                    for items, ids in sorted(by_items.items(), key=lambda pair: sorted(pair[0]))
                ),
                ranges=plan.ranges,
            )
            for agency_id, by_items in sorted(groups.items())
        }

    def _demographics_source(self, person_links: Links, plan: Plan) -> str | None:
        best: tuple[int, int, str] | None = None
        for agency_id in person_links:
            agency = self._agencies.get(agency_id)
            if agency is None or agency.demographics_rank is None:
                continue
            if not plan.items_for(agency_id, agency.items):
                continue
            candidate = (agency.demographics_rank, self._order[agency_id], agency_id)
            if best is None or candidate < best:
                best = candidate
        return best[2] if best else None

    async def _fetch(
        self, agency_id: str, request: FetchRequest, started: float
    ) -> tuple[SourceOutcome, FetchResult, ConnectorError | None]:
        connector = self._connectors[agency_id]
        people = len(request.local_ids)
        try:
            result = await connector.fetch(request)
        except ConnectorError as exc:
            elapsed = (time.perf_counter() - started) * 1000
            return SourceOutcome(agency_id, exc.code, elapsed, people, str(exc)), {}, exc
        except Exception as exc:
            log.exception("connector %s failed unexpectedly", agency_id)
            error = ConnectorError(agency_id, f"{self._refs[agency_id].name} failed unexpectedly")
            error.__cause__ = exc
            elapsed = (time.perf_counter() - started) * 1000
            return SourceOutcome(agency_id, error.code, elapsed, people, str(error)), {}, error
        elapsed = (time.perf_counter() - started) * 1000
        return SourceOutcome(agency_id, "ok", elapsed, people), result, None

    def _merge(
        self,
        agency_id: str,
        links: Mapping[str, Links],
        request: FetchRequest,
        result: FetchResult,
        asked_sets: set[str],
        views: dict[str, PersonView],
        ok: bool,
    ) -> None:
        ref = self._refs[agency_id]
        asked_ids = set(request.local_ids)
        for person_id, view in views.items():
            local_ids = [i for i in links[person_id].get(agency_id, ()) if i in asked_ids]
            if not local_ids:
                continue
            if not ok:
                view.failed.update(asked_sets)
                continue
            view.answered.update(asked_sets)
            for local_id in local_ids:
                for rs_name, rows in result.get(local_id, {}).items():
                    target = view.records.setdefault(rs_name, [])
                    for row in rows:
                        row["agency"] = ref
                        target.append(row)
