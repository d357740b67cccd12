"""What one GraphQL request carries through its resolvers, and what it gathers for
the response's ``errors`` and ``extensions`` and for the disclosure audit."""

from __future__ import annotations

from collections.abc import Awaitable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from connectors.base import ConnectorError
from gateway.config.settings import Settings
from gateway.core.logs import current_request_id
from gateway.decide.requester import Requester
from gateway.governance.judge import Governance
from gateway.governance.linkage_store import LinkEvent
from gateway.governance.person_index import PersonIndex
from gateway.pipeline.fanout import AgencyRef, Assembly, Fanout, SourceOutcome
from gateway.pipeline.planner import Plan
from gateway.pipeline.resilience import AgencyGuard

Path = tuple[str | int, ...]


class RunningGateway(Protocol):
    """What a request may use of the running gateway (``gateway.service.Gateway``).

    A protocol, not the class: the gateway is built from the resolvers, the audit and
    the metrics, which all take a request's context, so naming the class here would
    make each of them import the gateway that imports them.
    """

    @property
    def settings(self) -> Settings:
        """The validated configuration the gateway runs with."""
        ...

    @property
    def governance(self) -> Governance:
        """Consents, grants, reviews and the Judge that decides with them."""
        ...

    @property
    def index(self) -> PersonIndex:
        """The person index: who each agency holds, and under which local id."""
        ...

    @property
    def state_engine(self) -> AsyncEngine:
        """The state database, for reports that read it directly."""
        ...

    @property
    def fanout(self) -> Fanout:
        """Assembles people from the agencies' answers."""
        ...

    @property
    def guards(self) -> Mapping[str, AgencyGuard]:
        """Each agency's guard (circuit, in-flight calls), by agency id."""
        ...

    def agency_ref(self, agency_id: str) -> AgencyRef:
        """The agency's reference as shown on records."""
        ...

    def agency_status(self, agency_id: str) -> str:
        """The agency's last known state (ok, unreachable, misconfigured, circuit_open...)."""
        ...

    def post_in_background(self, url: str, body: Mapping[str, object]) -> None:
        """POST a JSON notice without holding up the response."""
        ...


@dataclass
class RequestContext:
    """The requester, the running gateway, and what happened during this request."""

    requester: Requester
    gateway: RunningGateway
    query_hash: str = ""
    #: The id the HTTP edge gave the request (its log lines and spans carry it too).
    request_id: str = field(default_factory=current_request_id)
    #: ``time.monotonic()`` by which every agency call of the request must have ended.
    deadline: float | None = None
    #: The intent record being written; agencies are called only once it is.
    intent: Awaitable[object] | None = None
    outcomes: list[SourceOutcome] = field(default_factory=list)
    agency_errors: list[tuple[Path, ConnectorError]] = field(default_factory=list)
    withheld: list[dict[str, Any]] = field(default_factory=list)
    break_glass: dict[str, dict[str, Any]] = field(default_factory=dict)
    assemblies: list[Assembly] = field(default_factory=list)
    #: People whose index entry this request showed (findPeople, knownTo), in order, once each.
    lookups: dict[str, None] = field(default_factory=dict)
    #: Changes this request made to the person index; each gets an ``index`` record in
    #: the audit before the answer leaves.
    index_events: list[LinkEvent] = field(default_factory=list)

    def looked_up(self, person_ids: Iterable[str]) -> None:
        """Note that these people's index entries are in the answer; each gets a lookup
        record in the audit before the answer leaves, or the answer does not leave."""
        for person_id in person_ids:
            self.lookups.setdefault(person_id, None)

    def record(
        self, path: Path, assembly: Assembly, plan: Plan, order: Sequence[str] | None = None
    ) -> None:
        """Keep an assembly's outcomes, failures and withheld items.

        ``order`` is the person ids in the order of a list field (caseload), so
        that withheld paths carry each person's index; None for a single person.
        """
        self.assemblies.append(assembly)
        self.outcomes.extend(assembly.outcomes)
        self.agency_errors.extend((path, error) for error in assembly.errors)
        position = {person_id: index for index, person_id in enumerate(order or ())}
        quiet = self.gateway.settings.quiet_withholding
        seen: set[tuple[object, ...]] = set()
        for entry in assembly.withheld:
            if entry.person_id not in assembly.views:
                continue
            person_path: Path = path
            if order is not None:
                if entry.person_id not in position:
                    continue
                person_path = (*path, position[entry.person_id])
            for relative in plan.paths.get(entry.item, ()):
                full = [*person_path, *relative]
                if quiet:
                    key: tuple[object, ...] = tuple(full)
                    if key in seen:
                        continue
                    seen.add(key)
                    self.withheld.append({"path": full, "reason": "WITHHELD"})
                    continue
                assert entry.decision.reason is not None
                self.withheld.append(
                    {
                        "path": full,
                        "agency": entry.agency,
                        "item": entry.item,
                        "reason": entry.decision.reason.value,
                    }
                )
        for person_id, grant in assembly.grants.items():
            if not grant.break_glass:
                continue
            self.break_glass[grant.id] = {
                "grant": grant.id,
                "personId": person_id,
                "reasonCategory": grant.reason_category,
                "reason": grant.reason,
                "expiresAt": grant.expires_at.isoformat(),
            }
