"""A whole demo world for tests: real SQLite agency stores, the trust's real HTTP API,
real signed tokens, and the gateway's ASGI app in front of them."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import pytest
from sqlalchemy import Column, Index, MetaData, Table, UniqueConstraint, event
from sqlalchemy.engine import Engine

from bench.config import declared_purposes, protocol_preamble
from fame_demo.community_api import CommunityHealthApi
from fame_demo.emergency import department_server, register_gateway
from fame_demo.practitioners import practitioner
from fame_demo.runner import demo_person_id, seed_person_index
from fame_demo.school import write_school_csv
from fame_demo.stores import write_sql_stores
from fame_demo.synthetic import EMERGENCY_DEPARTMENT, SCHOOL, Population
from gateway.app import create_app
from gateway.config.catalogue import catalogue_of_settings
from gateway.config.settings import Settings, load_settings
from gateway.config.tokens import mint_token
from gateway.core.times import Clock, utc_now
from gateway.edge.responses import GRAPHQL_RESPONSE
from gateway.governance.migrate import upgrade_schema
from gateway.governance.person_index import PersonIndex
from gateway.governance.state import create_state_engine, disclosures, metadata, person_links
from gateway.service import Gateway
from tests.demo_keys import provide_demo_keys

REPO = Path(__file__).resolve().parent.parent
#: Set to 1 and the browser tests refresh the README's screenshots in docs/; otherwise
#: they save them in the test's own directory and leave the checkout as it was.
REFRESH_SCREENSHOTS = "FAME_REFRESH_SCREENSHOTS"
DEMO_CONFIG = REPO / "config"
DEMO_TRUST_URL = "http://127.0.0.1:8701"
#: The emergency department's FHIR server in the demo's agency file.
DEMO_FHIR_URL = "http://127.0.0.1:8702"


def build_config(
    root: Path,
    *,
    trust_url: str,
    store_dir: Path,
    fhir_url: str | None = None,
    extra_settings: str = "",
    agencies: Mapping[str, str] | None = None,
    protocol: str | None = None,
    state_database: str | None = None,
    settings_edits: Mapping[str, str] | None = None,
) -> Path:
    """Copy the demo config under ``root``, pointed at this world's stores, trust API and
    (``fhir_url``) emergency department's FHIR server; its keys go under ``root/keys``.

    ``agencies`` replaces or adds agency files (id -> TOML text); ``protocol``
    replaces the sharing protocol; ``settings_edits`` replaces text in gateway.toml.
    """
    config = root / "config"
    (config / "agencies").mkdir(parents=True, exist_ok=True)
    files = {file.stem: file.read_text() for file in (DEMO_CONFIG / "agencies").glob("*.toml")}
    files.update(agencies or {})
    for agency_id, text in sorted(files.items()):
        text = text.replace(DEMO_TRUST_URL, trust_url)
        if fhir_url is not None:
            text = text.replace(DEMO_FHIR_URL, fhir_url)
        text = text.replace("../.demo/keys/", f"{(root / 'keys').as_posix()}/")
        # csv paths are relative to the agency file, the rest to the config folder.
        text = text.replace("../../.demo/", f"{store_dir.as_posix()}/")
        text = text.replace("../.demo/", f"{store_dir.as_posix()}/")
        (config / "agencies" / f"{agency_id}.toml").write_text(text)
    (config / "sharing-protocol.toml").write_text(
        protocol if protocol is not None else (DEMO_CONFIG / "sharing-protocol.toml").read_text()
    )
    settings = (DEMO_CONFIG / "gateway.toml").read_text()
    settings = settings.replace(
        "sqlite+aiosqlite:///../.demo/gateway-state.sqlite",
        state_database or f"sqlite+aiosqlite:///{(root / 'state.sqlite').as_posix()}",
    )
    settings = settings.replace("../.demo/keys/", f"{(root / 'keys').as_posix()}/")
    for before, after in (settings_edits or {}).items():
        assert before in settings, f"{before!r} is not in the demo gateway.toml"
        settings = settings.replace(before, after)
    (config / "gateway.toml").write_text(extra_settings + "\n" + settings)
    return config / "gateway.toml"


def permissive_protocol() -> str:
    """A protocol sharing every mapped item of every demo agency, implied, with every role
    for every purpose: for tests of fan-out mechanics, where the policy is not the point."""
    import tomllib

    demo = tomllib.loads((DEMO_CONFIG / "sharing-protocol.toml").read_text())
    roles = sorted(demo["roles"])
    # The demo trust's mental health service holds health.mental records: declare it.
    lines = protocol_preamble(
        "Permissive test protocol",
        roles,
        ["caldicott_guardian", "ig_lead"],
        ("everything", "health.mental"),
    )
    # Every purpose the preamble declares (the demo's own may include more).
    purposes = sorted(declared_purposes(lines))
    for file in sorted((DEMO_CONFIG / "agencies").glob("*.toml")):
        items = sorted(tomllib.loads(file.read_text())["items"])
        lines += [
            "[[clause]]",
            f'id = "ALL-{file.stem}"',
            f'title = "Everything {file.stem} maps"',
            f'agencies = ["{file.stem}"]',
            "items = [" + ", ".join(f'"{item}"' for item in items) + "]",
            'category = "everything"',
            f"roles = {roles!r}".replace("'", '"'),
            f"purposes = {purposes!r}".replace("'", '"'),
            'basis = "implied"',
        ]
    return "\n".join(lines) + "\n"


@dataclass
class SourceCall:
    """One statement an agency's database ran: what, and when it started and finished."""

    agency: str
    sql: str
    started: float
    finished: float


@dataclass
class SqlTrace:
    """Statements the agencies' SQLite databases executed, as SQLite itself reports them.

    SQLite's trace callback fires inside the database library as each
    statement starts, and its progress handler while the statement runs, so
    this records what reached the source and when, not what the gateway meant
    to send. ``latency`` makes each SELECT take that long inside the database,
    like a slow agency system.
    """

    latency: float = 0.0
    calls: list[SourceCall] = field(default_factory=list)

    def selects(self, agency_id: str) -> list[SourceCall]:
        """The SELECTs one agency's database ran."""
        return [
            c
            for c in self.calls
            if c.agency == agency_id and c.sql.lstrip().upper().startswith("SELECT")
        ]

    def clear(self) -> None:
        """Forget what was recorded so far."""
        self.calls.clear()


def attach_sqlite_trace(store_dir: Path, latency: float = 0.0) -> tuple[SqlTrace, Any]:
    """Record every statement SQLite runs on the stores in ``store_dir``; returns a detach hook."""
    trace = SqlTrace(latency=latency)

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        raw = getattr(dbapi_connection, "driver_connection", dbapi_connection)
        inner = getattr(raw, "_conn", None)  # aiosqlite wraps a sqlite3.Connection
        target = inner if inner is not None else raw
        databases = target.execute("PRAGMA database_list").fetchall()
        path = Path(databases[0][2]) if databases and databases[0][2] else None
        if path is None or path.parent != store_dir:
            return
        agency_id = path.stem
        current: list[SourceCall] = []

        def on_statement(statement: str) -> None:
            call = SourceCall(agency_id, statement, time.monotonic(), time.monotonic())
            current[:] = [call]
            trace.calls.append(call)
            if trace.latency and statement.lstrip().upper().startswith("SELECT"):
                time.sleep(trace.latency)  # in the database's own thread, like a slow server

        def on_progress() -> int:
            if current:
                current[0].finished = time.monotonic()
            return 0

        target.set_trace_callback(on_statement)
        target.set_progress_handler(on_progress, 1)

    event.listen(Engine, "connect", on_connect)
    return trace, lambda: event.remove(Engine, "connect", on_connect)


class ManualClock:
    """A clock the test moves forward (for expiry: break-glass grants, consent windows)."""

    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


class World:
    """A running gateway over the demo agencies, driven through its ASGI app; the
    emergency department's FHIR server (``department``) records every search it answers."""

    def __init__(
        self,
        root: Path,
        population: Population,
        store_dir: Path,
        *,
        trust_latency: float = 0.0,
        clock: Clock = utc_now,
    ) -> None:
        self.root = root
        self.population = population
        self.store_dir = store_dir
        self.trust = CommunityHealthApi(population, latency_seconds=trust_latency)
        self.department = department_server(population)
        self.gateway: Gateway | None = None
        self.client: httpx.AsyncClient | None = None
        self.settings: Settings | None = None
        self.config_file: Path | None = None
        self.clock = clock
        self._tokens: dict[str, str] = {}

    async def start(self, **config: Any) -> World:
        """Start the trust API and the department's FHIR server, write the config, start the
        gateway and seed the index."""
        trust_url = self.trust.base_url or await self.trust.start()
        fhir_url = self.department.base_url or await self.department.start()
        config_file = build_config(
            self.root, trust_url=trust_url, fhir_url=fhir_url, store_dir=self.store_dir, **config
        )
        self.config_file = config_file
        self.settings = load_settings(config_file)
        provide_demo_keys(self.settings, self.root)
        for agency in self.settings.agencies:
            if agency.id == EMERGENCY_DEPARTMENT and agency.kind == "fhir":
                register_gateway(self.department, agency)
        self.gateway = Gateway(self.settings, clock=self.clock, config_file=config_file)
        await self.gateway.start()
        await seed_person_index(self.gateway.index, self.population, self.settings.agencies)
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(self.gateway)),
            base_url="http://gateway.test",
            # A current client: request errors are 4xx, as the status codes say.
            headers={"Accept": GRAPHQL_RESPONSE},
        )
        return self

    async def stop(self) -> None:
        """Stop everything started."""
        if self.client is not None:
            await self.client.aclose()
        if self.gateway is not None:
            await self.gateway.stop()
        await self.department.stop()
        await self.trust.stop()

    def token(self, practitioner_id: str) -> str:
        """A real signed token for a sample practitioner (minted once: loading the private
        key costs far more than a request)."""
        assert self.settings is not None
        if practitioner_id not in self._tokens:
            self._tokens[practitioner_id] = self._mint(practitioner_id)
        return self._tokens[practitioner_id]

    def _mint(self, practitioner_id: str) -> str:
        assert self.settings is not None
        return practitioner_token(self.settings, practitioner_id)

    def person_id(self, index: int) -> str:
        """The gateway id of the population's ``index``-th person."""
        return demo_person_id(self.population.people[index].nhs_number)

    async def post(
        self,
        query: str,
        *,
        as_: str = "sw-patel",
        token: str | None = None,
        purpose: str | None = None,
        **extra: Any,
    ) -> httpx.Response:
        """POST a query with a sample practitioner's token (or the token given)."""
        assert self.client is not None
        headers = {"Authorization": f"Bearer {token if token is not None else self.token(as_)}"}
        if purpose is not None:
            headers["Fame-Purpose-Of-Use"] = purpose
        body = {"query": query, **extra}
        return await self.client.post(
            "/graphql",
            content=orjson.dumps(body),
            headers={**headers, "Content-Type": "application/json"},
        )

    async def query(self, query: str, **kwargs: Any) -> dict[str, Any]:
        """POST a query and return the decoded JSON answer, expecting HTTP 200."""
        response = await self.post(query, **kwargs)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result


@contextlib.asynccontextmanager
async def traced_world(
    root: Path, population: Population, store_dir: Path, **start: Any
) -> AsyncIterator[tuple[World, SqlTrace]]:
    """A started world whose SQL agencies record every statement, with the slate wiped
    clean after start-up so that only the test's own calls are seen."""
    trace, detach = attach_sqlite_trace(store_dir)
    running = World(root, population, store_dir)
    try:
        await running.start(**start)
        trace.clear()
        running.trust.calls.clear()
        running.department.forget_calls()
        yield running, trace
    finally:
        await running.stop()
        detach()


def make_store_dir(root: Path, population: Population) -> Path:
    """Write the SQL agencies' SQLite files into ``root/stores``, and the school's CSV
    exports into ``root/stores/<school>``, where the demo's agency files put them."""
    store_dir = root / "stores"
    if store_dir.exists():
        shutil.rmtree(store_dir)
    write_sql_stores(population, store_dir)
    catalogue = catalogue_of_settings(DEMO_CONFIG / "gateway.toml")
    write_school_csv(population, store_dir / SCHOOL, catalogue)
    return store_dir


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Process:
    """A gateway started as its own OS process with `fame-gateway serve`."""

    def __init__(self, config: Path, log: Path, *, workers: int = 1) -> None:
        self.port = free_port()
        self.log = log
        self._log_file = log.open("w")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gateway.cli",
                "--config",
                str(config),
                "serve",
                "--port",
                str(self.port),
                "--workers",
                str(workers),
            ],
            cwd=REPO,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        self.url = f"http://127.0.0.1:{self.port}"

    async def ready(self) -> None:
        async with httpx.AsyncClient() as client:
            for _ in range(150):
                if self.proc.poll() is not None:
                    raise AssertionError(f"gateway exited: {self.log.read_text()}")
                try:
                    if (await client.get(f"{self.url}/healthz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError(f"gateway did not come up: {self.log.read_text()}")

    async def query(self, token: str, query: str) -> dict[str, Any]:
        """POST ``query`` to the process's /graphql as the token's practitioner; 200 asserted."""
        async with httpx.AsyncClient(timeout=20) as client:
            response = await client.post(
                f"{self.url}/graphql",
                json={"query": query},
                headers={"Authorization": f"Bearer {token}"},
            )
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log_file.close()


async def prepare_shared_state(
    root: Path, population: Population, store_dir: Path, trust_url: str, state_database: str
) -> Settings:
    """Config, keys, state schema and person index for gateway processes sharing a state
    database (started with `Process`)."""
    config = build_config(
        root, trust_url=trust_url, store_dir=store_dir, state_database=state_database
    )
    settings = load_settings(config)
    provide_demo_keys(settings, root)
    engine = create_state_engine(settings.state_database)
    try:
        await upgrade_schema(engine)
        await seed_person_index(PersonIndex(engine), population, settings.agencies)
    finally:
        await engine.dispose()
    return settings


async def two_processes(
    root: Path,
    population: Population,
    store_dir: Path,
    trust_url: str,
    state_database: str,
    started: list[Process],
) -> tuple[Settings, Process, Process]:
    """Two gateway processes over one state database, both ready (and in ``started``, to
    be stopped after the test)."""
    settings = await prepare_shared_state(root, population, store_dir, trust_url, state_database)
    config = settings.config_dir / "gateway.toml"
    first = Process(config, root / "first.log")
    started.append(first)
    second = Process(config, root / "second.log")
    started.append(second)
    await asyncio.gather(first.ready(), second.ready())
    return settings, first, second


#: Records that a person allows their physical health to be shared with adult social care
#: (the person's id goes in with ``%``).
RECORD_PHYSICAL_HEALTH_CONSENT = """mutation { recordConsent(input: {personId: "%s",
category: "health.physical", recipientAgency: "shire-adult-social-care", decision: PERMIT,
reference: "Signed form SF-3001"}) { id } }"""

#: A person's health conditions by name (the person's id goes in with ``%``).
CONDITIONS = '{ person(id: "%s") { health { conditions { name } } } }'


async def withdrawal_is_honoured_by_the_reader(
    settings: Settings, population: Population, writer: Process, reader: Process
) -> tuple[str, str]:
    """A consent recorded through ``writer`` is read twice through ``reader`` (which then
    holds it), withdrawn through ``writer``, and ``reader``'s very next query withholds
    what rested on it. Returns the social worker's token and the person's id."""
    token = social_worker_token(settings)
    roy = demo_person_id(population.people[0].nhs_number)
    recorded = await writer.query(token, RECORD_PHYSICAL_HEALTH_CONSENT % roy)
    consent_id = recorded["data"]["recordConsent"]["id"]
    for _ in range(2):
        shown = await reader.query(token, CONDITIONS % roy)
        assert shown["data"]["person"]["health"]["conditions"], shown
    await writer.query(token, 'mutation { withdrawConsent(id: "%s") { id } }' % consent_id)
    after = await reader.query(token, CONDITIONS % roy)
    assert after["data"]["person"]["health"]["conditions"] is None
    reasons = {(e["agency"], e["item"]): e["reason"] for e in after["extensions"]["withheld"]}
    assert reasons[("riverside-gp", "conditions.name")] == "NO_CONSENT"
    return token, roy


#: What revision 0003 added: the person index's linkage tables and link provenance.
LINKAGE_TABLES = frozenset({"person_link_events", "person_postcodes", "person_index_reviews"})
LINKAGE_COLUMNS = frozenset({"method", "score", "linked_by", "linked_at"})
#: What revision 0004 added: the change marker of the state a request is decided on.
MARKER_TABLES = frozenset({"state_version"})


def metadata_before_migrations() -> MetaData:
    """The tables as the releases before the migrations made them (``create_all``): no
    ``disclosures.practitioner_name`` and nothing of revisions 0003 and 0004."""
    old = MetaData()
    for table in metadata.sorted_tables:
        if table.name not in {"disclosures", "person_links", *LINKAGE_TABLES, *MARKER_TABLES}:
            table.to_metadata(old)
    Table(
        "disclosures",
        old,
        *(
            Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable, index=c.index)
            for c in disclosures.c
            if c.name != "practitioner_name"
        ),
    )
    Table(
        "person_links",
        old,
        *(
            Column(c.name, c.type, nullable=c.nullable)
            for c in person_links.c
            if c.name not in LINKAGE_COLUMNS
        ),
        UniqueConstraint("agency_id", "local_id", "team", name="uq_person_links_agency_local_team"),
        Index("ix_person_links_person", "person_id"),
    )
    return old


CHROMIUM = "/usr/bin/chromium"
#: Headless, and quiet: no update checks, sync or other traffic of the browser's own.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


def fail_or_skip(message: str) -> None:
    """Skip a browser test saying what is missing; a failure under
    FAME_TEST_REQUIRE_BROWSER=1 (as CI sets it)."""
    if os.environ.get("FAME_TEST_REQUIRE_BROWSER") == "1":
        pytest.fail(message + "; FAME_TEST_REQUIRE_BROWSER=1 makes this a failure")
    pytest.skip(message)


def browser_missing() -> tuple[Any, list[str]]:
    """Playwright's ``async_playwright`` (None when absent) and what to install for the
    browser tests, each naming how to get it."""
    problems = []
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        async_playwright = None
        problems.append("the playwright package (pip install -e '.[dev]')")
    if not Path(CHROMIUM).exists():
        problems.append(f"Chromium at {CHROMIUM} (apt-get install -y chromium)")
    return async_playwright, problems


@contextlib.asynccontextmanager
async def offline_page(
    playwright: Any, timeout_ms: int, *, init_script: Path | None = None, **context: Any
) -> AsyncIterator[Any]:
    """A page in headless Chromium that may reach only this machine.

    Every request to anything but the loopback address is aborted and recorded; page
    errors and Content Security Policy reports are collected. When the block ends without
    an exception, the browser is closed and the test fails if there was either.
    ``init_script`` is injected by the browser at document start, past the page's CSP.
    """
    attempted: list[str] = []
    problems: list[str] = []

    async def loopback_only(route: Any) -> None:
        if urlsplit(route.request.url).hostname in LOOPBACK:
            await route.continue_()
        else:
            attempted.append(route.request.url)
            await route.abort("blockedbyclient")

    browser = await playwright.chromium.launch(
        executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
    )
    try:
        browser_context = await browser.new_context(**context)
        await browser_context.route("**/*", loopback_only)
        if init_script is not None:
            await browser_context.add_init_script(path=str(init_script))
        page = await browser_context.new_page()
        page.set_default_timeout(timeout_ms)
        page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
        page.on(
            "console",
            lambda message: (
                problems.append(message.text) if "Content Security Policy" in message.text else None
            ),
        )
        yield page
    finally:
        await browser.close()
    assert attempted == [], f"the page tried to reach beyond this machine: {attempted}"
    assert problems == [], problems


def screenshot_path(name: str, tmp_path: Path) -> Path:
    """Where a browser test saves the screenshot ``name``: docs/ when
    ``FAME_REFRESH_SCREENSHOTS=1``, else the test's own directory."""
    if os.environ.get(REFRESH_SCREENSHOTS) == "1":
        return REPO / "docs" / name
    return tmp_path / name


def assert_png(path: Path) -> None:
    """The screenshot was saved, and is a PNG image with something in it."""
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000, (path, len(data))


def practitioner_token(settings: Settings, practitioner_id: str) -> str:
    """A real signed token for one of the demo's practitioners, as they are listed (agency,
    team, roles, name), from the issuer ``settings`` name for their agency."""
    who = practitioner(practitioner_id)
    return mint_token(
        settings,
        subject=who.id,
        agency=who.agency,
        team=who.team,
        roles=who.roles,
        name=who.name,
    )


def social_worker_token(settings: Settings) -> str:
    """A real signed token for sw-patel, the demo's social worker in Shire's Older People's
    Team (North)."""
    return practitioner_token(settings, "sw-patel")
