"""Prometheus metrics for ``GET /metrics``: requests, agency calls, disclosures, break-glass.

Each ``GatewayMetrics`` has its own ``CollectorRegistry``, so that several
gateways in one process (as in the tests) never clash. The figures count
what the disclosure audit records, the same way: an item counts as disclosed
only when its agency answered, and once per person, agency and item in a
request. No label ever carries a person, a practitioner or a value.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Callable, Iterator, Mapping
from typing import Generic, TypeVar

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.registry import Collector

from gateway.pipeline.context import RequestContext
from gateway.pipeline.resilience import CircuitState, GuardState

#: The circuit state as a number, for alerting: 0 closed, 1 half-open, 2 open.
_CIRCUIT_LEVEL = {CircuitState.CLOSED: 0, CircuitState.HALF_OPEN: 1, CircuitState.OPEN: 2}

#: Agency answer times run from a few milliseconds (local SQL) to the connector timeout.
_AGENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


M = TypeVar("M", bound=MetricWrapperBase)


class Children(Generic[M]):
    """A labelled metric's children, each looked up once by its label values.

    ``labels(...)`` checks and joins the values and takes a lock on every call, which a
    request pays several times over; the child it returns is the same one every time
    (nothing here ever removes one), so it is kept. Label values come from small fixed
    sets (routes, statuses, outcomes, agencies, reasons), so the cache stays small.
    """

    def __init__(self, metric: M) -> None:
        self.metric = metric
        self._children: dict[tuple[str, ...], M] = {}

    def __call__(self, *values: str) -> M:
        """The child for these label values, in the order the metric declares its labels."""
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self.metric.labels(*values)
        return child


def request_outcome(context: RequestContext | None, status_code: int) -> str:
    """``ok``, ``partial`` (some agency failed), ``rejected`` (4xx) or ``error`` (5xx)."""
    if status_code >= 500:
        return "error"
    if status_code >= 400:
        return "rejected"
    if context is not None and any(o.status != "ok" for o in context.outcomes):
        return "partial"
    return "ok"


class GuardCollector(Collector):
    """Reads each agency guard when scraped: circuit state, calls in flight, retries."""

    def __init__(self, states: Callable[[], Mapping[str, GuardState]]) -> None:
        self._states = states

    def collect(self) -> Iterator[Metric]:
        """The guards' figures as they stand at the scrape."""
        circuit = GaugeMetricFamily(
            "fame_agency_circuit_state",
            "Each agency's circuit: 0 closed, 1 half-open (probing), 2 open (not asked).",
            labels=["agency"],
        )
        in_flight = GaugeMetricFamily(
            "fame_agency_in_flight", "Calls to each agency under way.", labels=["agency"]
        )
        waiting = GaugeMetricFamily(
            "fame_agency_waiting",
            "Calls waiting for one of an agency's connection slots.",
            labels=["agency"],
        )
        attempts = CounterMetricFamily(
            "fame_agency_attempts",
            "Attempts made to reach each agency, retries included.",
            labels=["agency"],
        )
        retries = CounterMetricFamily(
            "fame_agency_retries",
            "Retries after a connection failure (kept within 20% of attempts).",
            labels=["agency"],
        )
        for agency, state in sorted(self._states().items()):
            circuit.add_metric([agency], _CIRCUIT_LEVEL[state.circuit])
            in_flight.add_metric([agency], state.in_flight)
            waiting.add_metric([agency], state.waiting)
            attempts.add_metric([agency], state.calls)
            retries.add_metric([agency], state.retries)
        yield from (circuit, in_flight, waiting, attempts, retries)


class GatewayMetrics:
    """The gateway's counters and histograms, in a registry of their own."""

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        guards: Callable[[], Mapping[str, GuardState]] | None = None,
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        if guards is not None:
            self.registry.register(GuardCollector(guards))
        self.requests = Counter(
            "fame_requests",
            "GraphQL requests by outcome: ok, partial (an agency failed), rejected (4xx), "
            "error (5xx).",
            ["outcome"],
            registry=self.registry,
        )
        self.http_responses = Counter(
            "fame_http_responses",
            "Every HTTP response by route (other: an unknown path) and status, 5xx included.",
            ["route", "status"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "fame_request_seconds",
            "Time to answer a GraphQL request, in seconds.",
            registry=self.registry,
        )
        self.agency_calls = Counter(
            "fame_agency_calls",
            "Calls to a source agency by status: ok or the error code.",
            ["agency", "status"],
            registry=self.registry,
        )
        self.agency_seconds = Histogram(
            "fame_agency_seconds",
            "Time a source agency took to answer, in seconds.",
            ["agency"],
            buckets=_AGENCY_BUCKETS,
            registry=self.registry,
        )
        self.items_disclosed = Counter(
            "fame_items_disclosed",
            "Data items disclosed, by the agency that holds them (per person and request).",
            ["agency"],
            registry=self.registry,
        )
        self.items_withheld = Counter(
            "fame_items_withheld",
            "Data items withheld, by the agency that holds them and the reason.",
            ["agency", "reason"],
            registry=self.registry,
        )
        self.cache_hits = Counter(
            "fame_cache_hits",
            "People whose part of an answer came from the in-memory cache, by agency.",
            ["agency"],
            registry=self.registry,
        )
        self.break_glass_responses = Counter(
            "fame_break_glass_responses",
            "Responses that disclosed something under a break-glass grant.",
            registry=self.registry,
        )
        self._outcomes = Children(self.requests)
        self._responses = Children(self.http_responses)
        self._agency_calls = Children(self.agency_calls)
        self._agency_seconds = Children(self.agency_seconds)
        self._disclosed = Children(self.items_disclosed)
        self._withheld = Children(self.items_withheld)
        self._cache_hits = Children(self.cache_hits)

    def count_response(self, route: str, status: int) -> None:
        """Count one HTTP response by its route (or ``other``) and status."""
        self._responses(route, str(status)).inc()

    def observe_request(
        self, context: RequestContext | None, seconds: float, status_code: int
    ) -> None:
        """Count one finished request; ``context`` is None when it was refused before one
        existed (authentication, a malformed body)."""
        self._outcomes(request_outcome(context, status_code)).inc()
        self.request_seconds.observe(seconds)
        if context is None:
            return
        for outcome in context.outcomes:
            if outcome.cached:
                self._cache_hits(outcome.agency).inc(outcome.cached)
            if not outcome.called:
                continue
            self._agency_calls(outcome.agency, outcome.status).inc()
            self._agency_seconds(outcome.agency).observe(outcome.milliseconds / 1000)
        if status_code >= 400:
            return  # nothing left the gateway (the audit could not be written)
        disclosed: dict[tuple[str, str], Mapping[str, object]] = {}
        withheld: dict[tuple[str, str, str], str] = {}
        for assembly in context.assemblies:
            for key, decisions in assembly.delivered.items():
                earlier = disclosed.get(key)
                disclosed[key] = decisions if earlier is None else {**earlier, **decisions}
            for entry in assembly.withheld:
                assert entry.decision.reason is not None
                withheld[(entry.person_id, entry.agency, entry.item)] = entry.decision.reason.value
        # Summed first: a caseload discloses thousands of items, and a labelled
        # increment per item would cost more than the rest of the request.
        per_agency: Tally[str] = Tally()
        for (_, agency), items in disclosed.items():
            per_agency[agency] += len(items)
        for agency, count in per_agency.items():
            self._disclosed(agency).inc(count)
        for (agency, reason), count in Tally(
            (agency, reason) for (_, agency, _), reason in withheld.items()
        ).items():
            self._withheld(agency, reason).inc(count)
        if context.break_glass:
            self.break_glass_responses.inc()

    def render(self) -> tuple[bytes, str]:
        """The metrics in Prometheus' text format, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
