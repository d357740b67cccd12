"""The configuration in force: every part of the running gateway that its files decide.

A request takes the configuration in force once, when it starts, and reads settings,
schema, connectors, guards, the answer cache, the Judge's governance and the token
issuers from that one object until it ends: a reload builds a whole new
``Configuration`` beside the old one and swaps the single reference, so no request ever
sees half of one and half of the other. What lives as long as the process (the state
database, the person index, the audit chain) is shared by every configuration through
``ProcessParts``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from graphql import GraphQLSchema
from sqlalchemy.ext.asyncio import AsyncEngine

from connectors.base import Connector, ReportsDegradation
from connectors.registry import create_connector
from gateway.audit.log import AuditLog
from gateway.config.settings import Settings
from gateway.core.times import Clock
from gateway.edge.auth import Authenticator
from gateway.edge.documents import DocumentCache
from gateway.governance.judge import Governance
from gateway.governance.person_index import PersonIndex
from gateway.governance.state_db import StateDatabase
from gateway.pipeline.cache import AnswerCache
from gateway.pipeline.fanout import AgencyRef, Fanout
from gateway.pipeline.resilience import AgencyGuard, CircuitState
from resolvers.schema import build_schema


@dataclass(frozen=True)
class ProcessParts:
    """What every configuration of one process shares, whatever its files say."""

    state: StateDatabase
    index: PersonIndex
    audit: AuditLog
    #: Each agency's last known state by id (ok, unreachable...): one map for the process,
    #: so that a reload does not forget how the agencies it kept have been answering.
    status: dict[str, str]
    post: Callable[[str, Mapping[str, object]], None]
    #: Told the id of every person whose consents changed; empties every live answer cache.
    forget_person: Callable[[str], None]


class Configuration:
    """The configuration in force, or one that was and still serves requests begun under it.

    It is what a request's context calls its gateway (``RunningGateway``): attributes
    are set once and never reassigned; a change is a new ``Configuration``.
    """

    def __init__(
        self,
        settings: Settings,
        schema: GraphQLSchema,
        parts: ProcessParts,
        *,
        connectors: Mapping[str, Connector],
        guards: Mapping[str, AgencyGuard],
        cache: AnswerCache,
        governance: Governance,
        authenticator: Authenticator,
        documents: DocumentCache,
        generation: int = 1,
        digest: str = "",
    ) -> None:
        self.settings = settings
        self.schema = schema
        self.parts = parts
        self.connectors: Mapping[str, Connector] = dict(connectors)
        self.guards: Mapping[str, AgencyGuard] = dict(guards)
        self.cache = cache
        self.governance = governance
        self.authenticator = authenticator
        self.documents = documents
        #: 1 at start-up, one more for each reload that changed something.
        self.generation = generation
        #: sha256 of the configuration files as they were read (``configuration_digest``).
        self.digest = digest
        self.fanout = Fanout(
            settings.agencies, self.connectors, governance, guards=self.guards, cache=cache
        )
        self._refs = {agency.id: AgencyRef(agency.id, agency.name) for agency in settings.agencies}
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    # What a request uses of the process, through the configuration it started under.

    @property
    def index(self) -> PersonIndex:
        """The person index (the process's, whatever the configuration)."""
        return self.parts.index

    @property
    def state_engine(self) -> AsyncEngine:
        """The state database, for reports that read it directly."""
        return self.parts.state.engine

    @property
    def audit(self) -> AuditLog:
        """The disclosure audit chain."""
        return self.parts.audit

    def agency_ref(self, agency_id: str) -> AgencyRef:
        """The agency's reference as shown on records."""
        return self._refs.get(agency_id) or AgencyRef(agency_id, agency_id)

    def agency_status(self, agency_id: str) -> str:
        """ok, degraded, unreachable, misconfigured, circuit_open or unknown: the agency's
        last known state (circuit_open while its circuit refuses calls; degraded while it
        answers from an older copy of its source)."""
        guard = self.guards.get(agency_id)
        if guard is not None and guard.breaker.state is CircuitState.OPEN:
            return "circuit_open"
        status = self.parts.status.get(agency_id, "unknown")
        if status == "ok" and self.agency_detail(agency_id) is not None:
            return "degraded"
        return status

    def agency_detail(self, agency_id: str) -> str | None:
        """Why the agency answers from an older copy of its source (degraded), if it does."""
        connector = self.connectors.get(agency_id)
        if isinstance(connector, ReportsDegradation):
            return connector.degraded
        return None

    def note_outcome(self, agency_id: str, status: str) -> None:
        """Remember how an agency last answered."""
        if status == "ok":
            self.parts.status[agency_id] = "ok"
        elif status != "CIRCUIT_OPEN":  # the circuit's own state says that
            self.parts.status[agency_id] = "unreachable"

    def post_in_background(self, url: str, body: Mapping[str, object]) -> None:
        """POST a JSON notice without holding up the response; failures are logged."""
        self.parts.post(url, body)

    # Requests in flight, so that what a reload replaces is closed only once they are done.

    @contextlib.contextmanager
    def serving(self) -> Iterator[Configuration]:
        """Count a request as running under this configuration until the block ends."""
        self._in_flight += 1
        self._idle.clear()
        try:
            yield self
        finally:
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.set()

    @property
    def in_flight(self) -> int:
        """Requests running under this configuration now."""
        return self._in_flight

    async def drained(self) -> None:
        """Return once no request is running under this configuration."""
        await self._idle.wait()

    def with_settings(self, settings: Settings) -> Configuration:
        """The same parts under other settings: for tools and tests that adjust settings in
        place (a mode, a flag); connectors, guards and caches stay as they are."""
        return Configuration(
            settings,
            self.schema,
            self.parts,
            connectors=self.connectors,
            guards=self.guards,
            cache=self.cache,
            governance=self.governance,
            authenticator=self.authenticator,
            documents=self.documents,
            generation=self.generation,
            digest=self.digest,
        )

    def closeable(self) -> tuple[list[Connector], list[DocumentCache]]:
        """The connectors and document caches this configuration holds."""
        return list(self.connectors.values()), [self.documents]


def served_schema(settings: Settings) -> GraphQLSchema:
    """The schema served under these settings, built from their catalogue (the standard one
    and the deployment's files): a reload that changes the catalogue swaps it with the rest
    of the configuration."""
    served: GraphQLSchema = build_schema(settings.catalogue).graphql_schema
    return served


def configure(
    settings: Settings,
    schema: GraphQLSchema,
    parts: ProcessParts,
    clock: Clock,
    *,
    previous: Configuration | None = None,
    connectors: Mapping[str, Connector] | None = None,
    generation: int = 1,
    digest: str = "",
) -> Configuration:
    """A configuration for ``settings``, keeping from ``previous`` every part whose
    configuration has not changed.

    An unchanged agency keeps its connector (its connection pool) and its guard (its
    circuit and counts); unchanged issuers keep their keys and verified tokens; an
    unchanged protocol keeps the Judge's shared decisions; the answer cache is kept only
    when neither the protocol nor any agency changed, since its entries hold what the
    old ones permitted and returned. ``connectors`` gives ready-made connectors by
    agency id (tests); the rest are created, not opened.
    """
    old = previous.settings if previous is not None else None
    given = dict(connectors or {})
    kept: dict[str, Connector] = {}
    guards: dict[str, AgencyGuard] = {}
    for agency in settings.agencies:
        same = previous is not None and old is not None and _agency(old, agency.id) == agency
        if same and previous is not None:
            kept[agency.id] = previous.connectors[agency.id]
            guards[agency.id] = previous.guards[agency.id]
            continue
        kept[agency.id] = given.get(agency.id) or create_connector(agency)
        guards[agency.id] = AgencyGuard(
            agency.id, agency.name, agency.timeout_seconds, agency.resilience
        )
    same_protocol = old is not None and old.protocol == settings.protocol
    if previous is not None and same_protocol:
        governance = previous.governance
    else:
        governance = Governance(settings.protocol, parts.state, clock)
        governance.consents.listeners.append(parts.forget_person)
    if (
        previous is not None
        and old is not None
        and same_protocol
        and old.agencies == settings.agencies
        and old.limits.cache_max_entries == settings.limits.cache_max_entries
    ):
        cache = previous.cache
    else:
        cache = AnswerCache(
            {agency.id: agency.cache_seconds for agency in settings.agencies},
            settings.limits.cache_max_entries,
        )
    if (
        previous is not None
        and old is not None
        and old.issuers == settings.issuers
        and old.default_purpose == settings.default_purpose
    ):
        authenticator = previous.authenticator
    else:
        authenticator = Authenticator(settings.issuers, settings.default_purpose)
    if (
        previous is not None
        and old is not None
        and previous.schema is schema
        and old.limits == settings.limits
    ):
        documents = previous.documents
    else:
        documents = DocumentCache(schema, settings.limits)
    return Configuration(
        settings,
        schema,
        parts,
        connectors=kept,
        guards=guards,
        cache=cache,
        governance=governance,
        authenticator=authenticator,
        documents=documents,
        generation=generation,
        digest=digest,
    )


def _agency(settings: Settings, agency_id: str) -> object:
    try:
        return settings.agency(agency_id)
    except KeyError:
        return None
