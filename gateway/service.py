"""The running gateway: its settings, connectors, state database and request machinery."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
from collections.abc import Mapping
from pathlib import Path

import aiohttp
from graphql import GraphQLSchema
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

from connectors.base import Connector, SourceCheck
from gateway.audit.log import AuditLog
from gateway.config.settings import Settings
from gateway.configuration import Configuration, ProcessParts, configure, served_schema
from gateway.core import tracing
from gateway.core.errors import ConfigError, ConfigErrors
from gateway.core.times import Clock, utc_now
from gateway.edge.auth import Authenticator
from gateway.edge.documents import DocumentCache
from gateway.edge.loop_lag import LoopLagProbe
from gateway.edge.metrics import GatewayMetrics
from gateway.governance.judge import Governance
from gateway.governance.migrate import require_current_schema, upgrade_schema
from gateway.governance.person_index import PersonIndex
from gateway.governance.state_db import StateDatabase
from gateway.pipeline.cache import AnswerCache
from gateway.pipeline.fanout import AgencyRef, Fanout
from gateway.pipeline.resilience import AgencyGuard
from gateway.reload import Reloader, ReloadOutcome, configuration_digest

log = logging.getLogger(__name__)


#: The cyclic collector's thresholds in a server process. A caseload answer allocates
#: some hundred thousand containers that live until it is sent: at Python's default of a
#: young collection every 700 allocations, each was traversed again and again and most
#: were promoted, and collecting took about a tenth of a caseload's CPU (measured). The
#: request path makes few reference cycles; what it makes is still collected, later.
GC_THRESHOLDS = (50_000, 20, 20)


def tune_server_process() -> None:
    """Settings for a process that serves the gateway, made once it has started.

    Everything alive after start-up (schema, settings, connectors, libraries: hundreds
    of thousands of objects that live as long as the process) is exempted from the
    cyclic garbage collector; otherwise each full collection walks them all and holds
    the event loop for 50-100 ms (measured). And the interpreter switches threads every
    millisecond instead of every five: new documents are parsed on a worker thread, and
    each time the event loop's thread gives up the lock for I/O it would otherwise wait
    up to five milliseconds to get it back. Server processes only: frozen objects are
    never collected.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    sys.setswitchinterval(0.001)


def _ping(conn: Connection) -> None:
    conn.execute(text("SELECT 1"))


class Gateway:
    """Everything a request needs, created once per process and shared by all requests.

    What the configuration files decide (settings, schema, connectors, guards, caches,
    governance, issuers) is the configuration in force, ``current``: a request takes it
    once, with ``serving()``, and ``reload()`` replaces it whole. The attributes of the
    same names read the configuration in force at the moment they are read.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        connectors: Mapping[str, Connector] | None = None,
        clock: Clock = utc_now,
        config_file: Path | None = None,
    ) -> None:
        self.clock = clock
        self.state = StateDatabase(settings.state_database)
        self.state_engine: AsyncEngine = self.state.engine
        self.index = PersonIndex(self.state)
        self.audit = AuditLog(self.state, settings.audit_signing_key_file)
        self.http: aiohttp.ClientSession | None = None
        self._background: set[asyncio.Task[None]] = set()
        #: Configurations replaced by a reload whose requests may still be running.
        self._retiring: list[Configuration] = []
        self.parts = ProcessParts(
            state=self.state,
            index=self.index,
            audit=self.audit,
            status={agency.id: "unknown" for agency in settings.agencies},
            post=self.post_in_background,
            forget_person=self._forget_person,
        )
        self._current = configure(
            settings,
            served_schema(settings),
            self.parts,
            clock,
            connectors=connectors,
            digest=configuration_digest(config_file) if config_file is not None else "",
        )
        self.metrics = GatewayMetrics(
            guards=lambda: {agency: guard.state() for agency, guard in self.guards.items()}
        )
        self.reloader = Reloader(config_file, self.metrics.registry)
        self.reloader.started(self._current)
        self.loop_lag = LoopLagProbe(self.metrics.registry)
        self.started = False

    @property
    def current(self) -> Configuration:
        """The configuration in force."""
        return self._current

    def serving(self) -> contextlib.AbstractContextManager[Configuration]:
        """The configuration in force, for one request: what it replaces is not closed
        before the block ends."""
        return self._current.serving()

    @property
    def settings(self) -> Settings:
        """The settings in force."""
        return self._current.settings

    @settings.setter
    def settings(self, settings: Settings) -> None:
        # Tools and tests adjust a flag in place; a change of files goes through reload().
        self._current = self._current.with_settings(settings)

    @property
    def schema(self) -> GraphQLSchema:
        """The schema served."""
        return self._current.schema

    @property
    def connectors(self) -> Mapping[str, Connector]:
        """Each agency's connector, by agency id."""
        return self._current.connectors

    @property
    def guards(self) -> Mapping[str, AgencyGuard]:
        """Each agency's guard, by agency id."""
        return self._current.guards

    @property
    def cache(self) -> AnswerCache:
        """The answer cache."""
        return self._current.cache

    @property
    def governance(self) -> Governance:
        """Consents, grants, reviews and the Judge, under the protocol in force."""
        return self._current.governance

    @property
    def fanout(self) -> Fanout:
        """Assembles people from the agencies' answers."""
        return self._current.fanout

    @property
    def authenticator(self) -> Authenticator:
        """Validates bearer tokens against the issuers in force."""
        return self._current.authenticator

    @property
    def documents(self) -> DocumentCache:
        """Validated documents, against the schema and limits in force."""
        return self._current.documents

    async def reload(self) -> ReloadOutcome:
        """Read the settings file again; put it in force only if all of it is valid."""
        return await self.reloader.reload(self)

    def reload_in_background(self) -> None:
        """Start a reload (on SIGHUP); its outcome is logged and kept."""
        task = asyncio.get_running_loop().create_task(self._reload_quietly())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _reload_quietly(self) -> None:
        await self.reload()

    def install(self, configuration: Configuration) -> None:
        """Put ``configuration`` in force; what it replaces closes once drained."""
        old = self._current
        self._current = configuration
        self._retiring.append(old)
        task = asyncio.get_running_loop().create_task(self._retire(old))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _retire(self, old: Configuration) -> None:
        # A connector kept from an earlier configuration may still serve that one's
        # requests: wait for every configuration up to this one, then close only what
        # neither the one in force nor a later one still holds.
        for earlier in [c for c in self._retiring if c.generation <= old.generation]:
            await earlier.drained()
        self._retiring.remove(old)
        await _close(old, [self._current, *self._retiring])

    def _forget_person(self, person_id: str) -> None:
        caches = {id(c.cache): c.cache for c in (self._current, *self._retiring)}
        for cache in caches.values():
            cache.forget_person(person_id)

    async def start(self, *, check_sources: bool = True) -> list[SourceCheck]:
        """Open the state database and every connector; refuse to start on a mapping error.

        An agency that cannot be reached does not stop the gateway: its part of
        each answer fails until it is back. A mapping that names a column the
        agency does not have does: that is a broken registration.
        """
        if self.started:
            return []
        self.audit.open()
        await self._schema()
        tracing_settings = self.settings.tracing
        tracing.start(
            tracing_settings.exporter,
            endpoint=tracing_settings.endpoint,
            service_name=tracing_settings.service_name,
            sample_ratio=tracing_settings.sample_ratio,
        )
        if not self.settings.demo:
            await self._refuse_demo_ids()
        self.http = aiohttp.ClientSession()
        await self.authenticator.load_keys(self.http)
        for connector in self.connectors.values():
            await connector.open()
        checks: list[SourceCheck] = []
        if check_sources:
            checks = list(await asyncio.gather(*(c.check() for c in self.connectors.values())))
            problems: list[ConfigError] = []
            for check in checks:
                self.parts.status[check.agency] = (
                    "ok"
                    if check.ok
                    else ("unreachable" if not check.reachable else "misconfigured")
                )
                problems.extend(check.problems)
                if not check.reachable:
                    log.warning("agency %s is not reachable yet: %s", check.agency, check.detail)
            if problems:
                await self.stop()
                raise ConfigErrors(problems)
        self.loop_lag.start()
        self.started = True
        return checks

    async def _schema(self) -> None:
        # The demo makes and upgrades its own state database; a production gateway only
        # checks, so that a live database is upgraded once, by the operator, not by
        # whichever process happens to start first.
        try:
            if self.settings.demo:
                await upgrade_schema(self.state_engine)
            else:
                await require_current_schema(self.state_engine)
        except BaseException:
            await self.audit.close()
            await self.state.dispose()
            raise

    async def _refuse_demo_ids(self) -> None:
        # Ids derived from NHS numbers would let anyone holding a number compute the id,
        # and ask whether the person exists: production indexes hold random ids only.
        derived = await self.index.demo_ids()
        if derived:
            await self.audit.close()
            await self.state.dispose()
            raise ConfigError(
                self.settings.config_dir,
                "state_database",
                f"mode is production, but the person index holds ids the demo derives from "
                f"NHS numbers (e.g. {derived[0]})",
                "Point state_database at the production state database, not the demo's; or, "
                'to run the demo, write mode = "demo"',
            )

    async def stop(self) -> None:
        """Close connectors, the HTTP session and the state database."""
        await self.loop_lag.stop()
        if self._background:
            await asyncio.wait(self._background, timeout=5)
        pending = list(self._background)
        for task in pending:
            task.cancel()  # a retirement still waiting for a request that never ended
        await asyncio.gather(*pending, return_exceptions=True)
        closed: list[Configuration] = []
        for configuration in (self._current, *self._retiring):
            await _close(configuration, closed)
            closed.append(configuration)
        self._retiring.clear()
        if self.http is not None:
            await self.http.close()
            self.http = None
        await self.audit.close()
        await self.state.dispose()
        if self.settings.tracing.enabled:
            tracing.stop()  # exports the spans still held
        self.started = False

    def post_in_background(self, url: str, body: Mapping[str, object]) -> None:
        """POST a JSON notice without holding up the response; failures are logged."""

        async def send() -> None:
            if self.http is None:
                return
            try:
                async with self.http.post(
                    url, json=body, timeout=aiohttp.ClientTimeout(total=5)
                ) as response:
                    if response.status >= 300:
                        log.warning("webhook %s answered HTTP %s", url, response.status)
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.warning("webhook %s failed: %s", url, type(exc).__name__)

        task = asyncio.get_running_loop().create_task(send())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def readiness(self) -> tuple[bool, dict[str, object]]:
        """Whether the gateway can answer now, with each part's state.

        Ready means started with a state database that answers: without it
        nothing can be audited, so nothing may be disclosed. An agency that is
        down does not make the gateway unready: its part of each answer fails
        and the rest still arrives, which a load balancer should not prevent.
        """
        database: dict[str, object] = {"ok": True}
        try:
            async with asyncio.timeout(2.0):
                await self.state.read(_ping)
        except Exception as exc:  # any failure means not ready; say which kind
            database = {
                "ok": False,
                "detail": f"{type(exc).__name__}: the state database did not answer",
            }
        agencies: dict[str, object] = {}
        for agency in self.settings.agencies:
            state = self.guards[agency.id].state()
            entry: dict[str, object] = {
                "status": self.agency_status(agency.id),
                "circuit": state.circuit.value,
                "inFlight": state.in_flight,
            }
            detail = self.agency_detail(agency.id)
            if detail is not None:
                entry["detail"] = detail
            agencies[agency.id] = entry
        ready = self.started and bool(database["ok"])
        return ready, {
            "status": "ready" if ready else "not_ready",
            "started": self.started,
            "stateDatabase": database,
            "agencies": agencies,
            "configuration": self.reloader.describe(self._current),
        }

    def agency_ref(self, agency_id: str) -> AgencyRef:
        """The agency's reference as shown on records."""
        return self._current.agency_ref(agency_id)

    def agency_status(self, agency_id: str) -> str:
        """ok, degraded, unreachable, misconfigured, circuit_open or unknown: the agency's
        last known state (circuit_open while its circuit refuses calls; degraded while it
        answers from an older copy of its source)."""
        return self._current.agency_status(agency_id)

    def agency_detail(self, agency_id: str) -> str | None:
        """Why the agency answers from an older copy of its source (degraded), if it does."""
        return self._current.agency_detail(agency_id)

    def note_outcome(self, agency_id: str, status: str) -> None:
        """Remember how an agency last answered."""
        self._current.note_outcome(agency_id, status)


async def _close(configuration: Configuration, keep: list[Configuration]) -> None:
    """Close the connectors and document cache of ``configuration`` that none of ``keep``
    holds."""
    held = {id(c) for other in keep for c in other.connectors.values()}
    for connector in configuration.connectors.values():
        if id(connector) not in held:
            await connector.close()
    if all(other.documents is not configuration.documents for other in keep):
        configuration.documents.close()
