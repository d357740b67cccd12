"""Ask every agency involved once, concurrently, and assemble each person's view.

Between planning and fetching sits the policy: per person, agency and item,
a ``Judge`` permits or withholds. What it withholds is never requested from
the source.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from connectors.base import (
    Connector,
    ConnectorError,
    FetchGroup,
    FetchRequest,
    FetchResult,
    Row,
)
from gateway.core import tracing
from gateway.core.catalogue import record_set_of
from gateway.core.registration import AgencyConfig
from gateway.decide.policy import Decision, Grant, PersonFacts
from gateway.decide.requester import Requester
from gateway.governance.judge import Governance, Judge
from gateway.governance.person_index import Links
from gateway.pipeline.cache import AnswerCache, CacheKey, RequesterKey, ranges_key, requester_key
from gateway.pipeline.planner import Plan
from gateway.pipeline.resilience import AgencyGuard

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AgencyRef:
    """The agency an item came from, as shown on every record."""

    id: str
    name: str


@dataclass(frozen=True)
class SourceOutcome:
    """How one agency answered one request: ``status`` is ``ok`` or an error code.

    ``cached`` counts the people answered from the cache; ``called`` is False
    when the cache answered for everyone and the agency was not asked.
    """

    agency: str
    status: str
    milliseconds: float
    people: int
    message: str | None = None
    cached: int = 0
    called: bool = True


@dataclass
class PersonView:
    """One person's picture for one request: rows per record set, each naming its agency.

    ``unknown`` lists the record sets some agency could not provide or had
    withheld, so that a list is shown as unknown (null) rather than empty when
    no agency answered for it.
    """

    id: str
    agencies: tuple[str, ...]
    records: dict[str, list[Row]] = field(default_factory=dict)
    demographics: Row | None = None
    answered: set[str] = field(default_factory=set)
    unknown: set[str] = field(default_factory=set)

    def rows(self, record_set: str) -> list[Row] | None:
        """The record set's rows; None when every agency holding it failed or withheld it."""
        found = self.records.get(record_set)
        if found is not None:
            return found
        if record_set in self.unknown and record_set not in self.answered:
            return None
        return []


@dataclass(frozen=True)
class Withheld:
    """An item the policy withheld: about whom, from which agency, and the decision."""

    person_id: str
    agency: str
    item: str
    decision: Decision


@dataclass(frozen=True)
class Assembly:
    """The views of the people asked for, and how each agency answered."""

    views: dict[str, PersonView]
    outcomes: tuple[SourceOutcome, ...]
    errors: tuple[ConnectorError, ...]
    withheld: tuple[Withheld, ...] = ()
    #: What the policy permitted, per (person, agency): asked for, not necessarily received.
    permitted: Mapping[tuple[str, str], Mapping[str, Decision]] = field(default_factory=dict)
    grants: Mapping[str, Grant] = field(default_factory=dict)
    #: Every person id asked about, known or not: each gets an audit record alike.
    asked: tuple[str, ...] = ()

    @cached_property
    def delivered(self) -> Mapping[tuple[str, str], Mapping[str, Decision]]:
        """What reached the requester, per (person, agency): permitted and answered.

        The audit's disclosed items, break-glass notices and metrics all read
        this, so none of them can call disclosed what an agency failed to send. Worked
        out once: an assembly does not change once made.
        """
        ok = {o.agency for o in self.outcomes if o.status == "ok"}
        return {key: items for key, items in self.permitted.items() if key[1] in ok}


#: How far one answer time moves an agency's typical time (exponential smoothing).
_SMOOTHING = 0.5


class Fanout:
    """Plans per-agency requests for a batch of people, fetches them concurrently, assembles.

    Each agency is called through its ``AgencyGuard`` (limits, deadline,
    circuit, retries) and, where the agency allows caching, through the
    ``AnswerCache``, consulted only for what the policy has just permitted.
    """

    def __init__(
        self,
        agencies: Sequence[AgencyConfig],
        connectors: Mapping[str, Connector],
        governance: Governance,
        *,
        guards: Mapping[str, AgencyGuard] | None = None,
        cache: AnswerCache | None = None,
    ) -> None:
        self._agencies = {agency.id: agency for agency in agencies}
        self._order = {agency.id: position for position, agency in enumerate(agencies)}
        self._refs = {agency.id: AgencyRef(agency.id, agency.name) for agency in agencies}
        self._connectors = connectors
        self._governance = governance
        self._guards = dict(guards or {})
        self._cache = cache
        #: Each agency's recent answer time (ms, smoothed), to call the slowest first.
        self._typical_ms: dict[str, float] = {}

    async def assemble(
        self,
        requester: Requester,
        person_ids: Sequence[str],
        plan: Plan,
        deadline: float | None = None,
        ready: Awaitable[object] | None = None,
    ) -> Assembly:
        """Fetch what ``plan`` needs about ``person_ids`` with one call per agency.

        ``deadline`` (``time.monotonic()`` seconds) bounds every agency call;
        no agency is called before ``ready`` (the audit's intent record) is done,
        and not at all if it fails.
        """
        with tracing.policy(len(person_ids)):
            judge = await self._governance.judge(requester, person_ids)
            links, facts = judge.links, judge.facts
            # The one place that decides whether a person is available to the requester: the
            # others get no view, so every resolver answers for them as for an unknown id.
            available = {person_id for person_id, known in facts.items() if judge.may_see(known)}
            requests, withheld, decided = self._requests(judge, links, facts, plan, available)
        if ready is not None:
            await ready
        started = time.perf_counter()
        orders: dict[tuple[str, ...], tuple[str, ...]] = {}
        # The calls are sent one after another, each costing a little time to send: the
        # agency that usually answers last goes first, so that the others' sending
        # overlaps its wait rather than adding to the answer's time.
        typical = self._typical_ms
        calling = sorted(requests, key=lambda agency_id: -typical.get(agency_id, 0.0))
        answers = await asyncio.gather(
            *(
                self._fetch(agency_id, requests[agency_id], started, deadline, judge, links)
                for agency_id in calling
            )
        )
        by_agency = dict(zip(calling, answers, strict=True))
        results = [by_agency[agency_id] for agency_id in requests]
        for outcome, _, _ in answers:
            if outcome.called:
                earlier = typical.get(outcome.agency)
                typical[outcome.agency] = (
                    outcome.milliseconds
                    if earlier is None
                    else earlier + _SMOOTHING * (outcome.milliseconds - earlier)
                )
        views = {
            person_id: PersonView(id=person_id, agencies=self._in_order(links[person_id], orders))
            for person_id in person_ids
            if person_id in available
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
        for entry in withheld:
            view = views.get(entry.person_id)
            if view is not None:
                view.unknown.add(record_set_of(entry.item))
        for view in views.values():
            demographics = view.records.pop("demographics", None)
            view.demographics = demographics[0] if demographics else None
        grants = {}
        for person_id in views if judge.grants else ():  # no grants, none in force
            grant = judge.grant_for(facts[person_id])
            if grant is not None and any(
                d.grant == grant.id
                for agency_id in links[person_id]
                for d in decided.get((person_id, agency_id), {}).values()
            ):
                grants[person_id] = grant
        return Assembly(
            views=views,
            outcomes=tuple(outcomes),
            errors=tuple(errors),
            withheld=tuple(withheld),
            permitted=decided,
            grants=grants,
            asked=tuple(person_ids),
        )

    def _in_order(
        self, person_links: Links, orders: dict[tuple[str, ...], tuple[str, ...]]
    ) -> tuple[str, ...]:
        # The agencies holding a person in registration order, sorted once per set of them.
        holders = tuple(person_links)
        found = orders.get(holders)
        if found is None:
            found = orders[holders] = tuple(
                sorted(holders, key=lambda a: self._order.get(a, 1 << 30))
            )
        return found

    def _requests(
        self,
        judge: Judge,
        links: Mapping[str, Links],
        facts: Mapping[str, PersonFacts],
        plan: Plan,
        available: set[str],
    ) -> tuple[
        dict[str, FetchRequest], list[Withheld], dict[tuple[str, str], Mapping[str, Decision]]
    ]:
        wants_demographics = any(item.startswith("demographics.") for item in plan.items)
        # Local ids per agency and item set, in order, each once (a dict as an ordered set).
        groups: dict[str, dict[frozenset[str], dict[str, None]]] = defaultdict(
            lambda: defaultdict(dict)
        )
        withheld: list[Withheld] = []
        permitted_decisions: dict[tuple[str, str], Mapping[str, Decision]] = {}
        # What the plan asks of each agency, with and without its demographics: the same
        # for every person, so worked out once per request, not once per person.
        asked: dict[tuple[str, bool], frozenset[str]] = {}

        def items_of(agency: AgencyConfig, with_demographics: bool) -> frozenset[str]:
            key = (agency.id, with_demographics)
            found = asked.get(key)
            if found is None:
                found = plan.items_for(agency.id, agency.items)
                if not with_demographics:
                    found = frozenset(i for i in found if not i.startswith("demographics."))
                asked[key] = found
            return found

        # Which agency gives a person's demographics depends only on which agencies hold
        # them: worked out once per set of agencies.
        sources: dict[tuple[str, ...], str | None] = {}
        # Permitted mappings are shared by people decided alike; their item sets too.
        item_sets: dict[int, tuple[Mapping[str, Decision], frozenset[str]]] = {}
        for person_id, person_links in links.items():
            person = facts[person_id]
            demographics_source = None
            if wants_demographics:
                holders = tuple(person_links)
                if holders in sources:
                    demographics_source = sources[holders]
                else:
                    demographics_source = sources[holders] = self._demographics_source(
                        holders, plan
                    )
            for agency_id, agency_links in person_links.items():
                agency = self._agencies.get(agency_id)
                if agency is None or agency_id not in self._connectors:
                    continue  # a link to an agency no longer registered
                items = items_of(agency, agency_id == demographics_source)
                permitted, refused = judge.decide_items(person, agency_id, items)
                withheld.extend(
                    Withheld(person_id, agency_id, item, decision) for item, decision in refused
                )
                # Decided for the audit's account of what was refused; fetched only for
                # people available to the requester. People decided alike share one
                # (read-only) mapping, which lets the audit describe it once.
                if permitted and person_id in available:
                    permitted_decisions[(person_id, agency_id)] = permitted
                    # One record may be held by several teams: one link each, one local id.
                    known = item_sets.get(id(permitted))
                    if known is None:
                        known = item_sets[id(permitted)] = (permitted, frozenset(permitted))
                    group = groups[agency_id][known[1]]
                    for link in agency_links:
                        group[link.local_id] = None
        requests = {
            agency_id: FetchRequest(
                groups=tuple(
                    FetchGroup(tuple(ids), items)
                    for items, ids in sorted(by_items.items(), key=lambda pair: sorted(pair[0]))
                ),
                ranges=plan.ranges,
            )
            for agency_id, by_items in sorted(groups.items())
        }
        return requests, withheld, permitted_decisions

    def _demographics_source(self, holders: Sequence[str], plan: Plan) -> str | None:
        best: tuple[int, int, str] | None = None
        for agency_id in holders:
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
        self,
        agency_id: str,
        request: FetchRequest,
        started: float,
        deadline: float | None,
        judge: Judge,
        links: Mapping[str, Links],
    ) -> tuple[SourceOutcome, FetchResult, ConnectorError | None]:
        people = len(request.local_ids)
        cache = self._cache
        if cache is None or not cache.enabled_for(agency_id):
            return await self._call(agency_id, request, started, deadline, people)
        keys = _cache_keys(agency_id, request, judge, links)
        hits: FetchResult = {}
        missing: list[FetchGroup] = []
        for group in request.groups:
            absent = []
            for local_id in group.local_ids:
                records = cache.get(keys[(local_id, group.items)])
                if records is None:
                    absent.append(local_id)
                else:
                    hits[local_id] = records
            if absent:
                missing.append(FetchGroup(tuple(absent), group.items))
        cached = people - sum(len(group.local_ids) for group in missing)
        if not missing:
            elapsed = (time.perf_counter() - started) * 1000
            return (
                SourceOutcome(agency_id, "ok", elapsed, people, cached=cached, called=False),
                hits,
                None,
            )
        outcome, result, error = await self._call(
            agency_id, FetchRequest(tuple(missing), request.ranges), started, deadline, people
        )
        if error is None:
            for group in missing:
                for local_id in group.local_ids:
                    # An id the agency does not know is kept too: it would answer the same.
                    cache.put(keys[(local_id, group.items)], result.get(local_id, {}))
            result = {**result, **hits}
            outcome = SourceOutcome(agency_id, "ok", outcome.milliseconds, people, cached=cached)
        return outcome, result, error

    async def _call(
        self,
        agency_id: str,
        request: FetchRequest,
        started: float,
        deadline: float | None,
        people: int,
    ) -> tuple[SourceOutcome, FetchResult, ConnectorError | None]:
        connector = self._connectors[agency_id]
        guard = self._guards.get(agency_id)
        try:
            if guard is None:
                result = await tracing.agency_call(agency_id, people, connector.fetch(request))
            else:
                result = await guard.call(
                    lambda: tracing.agency_call(agency_id, people, connector.fetch(request)),
                    deadline,
                )
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
            agency_links = links[person_id].get(agency_id)
            if not agency_links:
                continue
            if len(agency_links) == 1:  # nearly everyone: one record per agency
                local_ids: Sequence[str] = (
                    (agency_links[0].local_id,) if agency_links[0].local_id in asked_ids else ()
                )
            else:
                local_ids = list(
                    dict.fromkeys(
                        link.local_id for link in agency_links if link.local_id in asked_ids
                    )
                )
            if not local_ids:
                continue
            if not ok:
                view.unknown.update(asked_sets)
                continue
            view.answered.update(asked_sets)
            records = view.records
            for local_id in local_ids:
                found = result.get(local_id)
                if not found:
                    continue
                for rs_name, rows in found.items():
                    for row in rows:
                        row["agency"] = ref
                    target = records.get(rs_name)
                    if target is None:
                        # A copy: other agencies' rows join it, and the result may be cached.
                        records[rs_name] = list(rows)
                    else:
                        target.extend(rows)


def _cache_keys(
    agency_id: str, request: FetchRequest, judge: Judge, links: Mapping[str, Links]
) -> dict[tuple[str, frozenset[str]], CacheKey]:
    owners = {
        link.local_id: person_id
        for person_id, person_links in links.items()
        for link in person_links.get(agency_id, ())
    }
    ranges = ranges_key(request.ranges)
    requesters: dict[str, RequesterKey] = {}
    keys: dict[tuple[str, frozenset[str]], CacheKey] = {}
    for group in request.groups:
        for local_id in group.local_ids:
            person_id = owners[local_id]
            who = requesters.get(person_id)
            if who is None:
                grant = judge.grant_for(judge.facts[person_id])
                who = requesters[person_id] = requester_key(
                    judge.requester, grant.id if grant else None
                )
            keys[(local_id, group.items)] = CacheKey(
                who, person_id, agency_id, local_id, group.items, ranges
            )
    return keys
