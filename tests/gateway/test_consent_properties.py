"""Property: whatever the protocol, relationships, consents and grants, the gateway
shares exactly what the rules allow, and never fetches what it will not show.

Hypothesis draws protocols, requesters (roles, team, the purposes their token
allows and the purpose their header asks for), person-index links held by teams
of services with need-to-know rules, consents and objections, break-glass and
safeguarding grants, and queries built from the live schema. Every agency field
holds a unique canary value. The oracle below is a short, separate restatement
of the sharing rules, purpose establishment included; it does not call the
gateway's policy.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import GraphQLObjectType, get_named_type
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from connectors.base import FetchRequest, FetchResult, SourceCheck
from gateway.app import create_app
from gateway.config.protocol import Basis, Clause, Establishment, Purpose, SharingProtocol
from gateway.config.settings import load_settings
from gateway.config.tokens import generate_demo_keys, mint_token
from gateway.core.catalogue import ITEMS, RECORD_SETS_BY_NAME, ValueKind
from gateway.core.registration import AgencyConfig
from gateway.core.services import AGENCY, TEAM, AgencyServices, Service
from gateway.decide.policy import ConsentDecision
from gateway.governance.state import break_glass_grants, consents, person_links, persons
from gateway.service import Gateway
from resolvers.schema import schema
from tests.conftest import fresh_postgres_database
from tests.support import build_config

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
EXAMPLES = int(os.environ.get("FAME_PROPERTY_EXAMPLES", "1000" if os.environ.get("CI") else "300"))
#: Over PostgreSQL each example rewrites a server database: fewer, same strategies.
PG_EXAMPLES = int(
    os.environ.get("FAME_PROPERTY_PG_EXAMPLES", "300" if os.environ.get("CI") else "100")
)

# Three agencies of the property world; each maps all items of some record sets.
AGENCY_SETS = {
    "agency-a": ("demographics", "involvement", "alerts", "medications", "conditions"),
    "agency-b": ("involvement", "alerts", "care_packages", "social_care_cases", "timeline"),
    "agency-c": ("involvement", "tenancies", "timeline", "assessments"),
}
AGENCIES = tuple(AGENCY_SETS)
GUARDIAN = "caldicott_guardian"
ROLES = ("gp", "nurse", "social_worker", "housing_officer", GUARDIAN)
PURPOSES = ("direct_care", "safeguarding", "emergency", "care_planning", "audit")
#: Who may claim each purpose the token can carry (asserted purposes), in protocol order.
ASSERTED = {
    "direct_care": frozenset({"gp", "nurse", "social_worker", "housing_officer"}),
    "care_planning": frozenset({"nurse", "social_worker"}),
    "audit": frozenset({GUARDIAN}),
}
CATEGORIES = ("health", "health.mental", "social_care", "housing", "general")
TEAMS = ("team-1", "team-2")
#: Need-to-know: agency-a per team; agency-b's team-2 is a mental health service open to
#: team-1, its records health.mental; agency-c relates as a whole.
SERVICES = {
    "agency-a": AgencyServices(TEAM),
    "agency-b": AgencyServices(
        TEAM,
        (
            Service("s1", "one", frozenset({"team-1"})),
            Service(
                "s2",
                "two",
                frozenset({"team-2"}),
                category="health.mental",
                open_to=frozenset({"s1"}),
            ),
        ),
    ),
    "agency-c": AgencyServices(AGENCY),
}
PEOPLE = ("P1", "P2", "P3")


def _mapped(agency: str) -> list[str]:
    return [
        item.name
        for rs in AGENCY_SETS[agency]
        for item in RECORD_SETS_BY_NAME[rs].items
        if item.kind is not ValueKind.BOOLEAN  # a boolean cannot be a unique canary
    ]


_SERIAL = {
    (agency, f"{agency}:{person}", item): n
    for n, (agency, person, item) in enumerate(
        (a, p, i) for a in AGENCIES for p in PEOPLE for i in _mapped(a)
    )
}


def canary(agency: str, local_id: str, item: str) -> object:
    """A value that appears nowhere else: unique per agency, person and item."""
    kind = ITEMS[item].kind
    number = _SERIAL[(agency, local_id, item)]
    if kind is ValueKind.DATE:
        return (dt.date(1800, 1, 1) + dt.timedelta(days=number)).isoformat()
    if kind is ValueKind.INT:
        return 100_000_000 + number
    if kind is ValueKind.FLOAT:
        return 200_000_000.25 + number
    return f"CANARY~{agency}~{local_id}~{item}~END"


def canary_text(value: object) -> str:
    return json.dumps(value)[1:-1] if isinstance(value, str) else json.dumps(value)


class RecordingConnector:
    """An agency answering with canaries and recording every item it is asked for."""

    def __init__(self, agency: str) -> None:
        self.agency = agency
        self.asked: list[tuple[str, str]] = []

    @property
    def agency_id(self) -> str:
        return self.agency

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def check(self) -> SourceCheck:
        return SourceCheck(self.agency, ok=True, reachable=True, detail="recording")

    async def fetch(self, request: FetchRequest) -> FetchResult:
        result: FetchResult = {}
        for group in request.groups:
            for local_id in group.local_ids:
                records = result.setdefault(local_id, {})
                rows: dict[str, dict[str, object]] = {}
                for item in sorted(group.items):
                    self.asked.append((local_id, item))
                    rs, _, field_name = item.partition(".")
                    rows.setdefault(rs, {})[field_name] = canary(self.agency, local_id, item)
                for rs, row in rows.items():
                    records.setdefault(rs, []).append(row)
        return result


# ---------------------------------------------------------------- the oracle


@dataclass(frozen=True)
class ClauseSpec:
    agency: str
    items: frozenset[str]
    category: str
    roles: frozenset[str]
    purposes: frozenset[str]
    basis: str
    sealed: bool


@dataclass(frozen=True)
class LinkSpec:
    person: str
    agency: str
    team: str | None
    current: bool


@dataclass(frozen=True)
class ConsentSpec:
    person: str
    scope_kind: str
    scope: str
    recipient_kind: str
    recipient: str
    decision: str
    starts: int
    ends: int | None
    withdrawn: int | None


@dataclass(frozen=True)
class GrantSpec:
    person: str
    mine: bool
    starts: int
    ends: int
    ended: int | None
    purpose: str  # emergency (break-glass) or safeguarding (a recorded reason)


@dataclass(frozen=True)
class World:
    clauses: tuple[ClauseSpec, ...]
    links: tuple[LinkSpec, ...]
    consents: tuple[ConsentSpec, ...]
    grants: tuple[GrantSpec, ...]
    agency: str
    team: str
    roles: frozenset[str]
    #: The token's purpose_of_use claim (None: no claim).
    claim: tuple[str, ...] | None
    #: The Fame-Purpose-Of-Use header (None: not sent).
    header: str | None


def _hours(offset: int | None) -> dt.datetime | None:
    return None if offset is None else NOW + dt.timedelta(hours=offset)


def established(world: World) -> str | None:
    """The purpose the request is made for, or None when it must be refused."""
    wanted = world.header or (world.claim[0] if world.claim else None)
    claimable = [
        p
        for p, roles in ASSERTED.items()
        if roles & world.roles and (world.claim is None or p in world.claim)
    ]
    if wanted is None:
        if "direct_care" in claimable:
            return "direct_care"
        return claimable[0] if len(claimable) == 1 else None
    return wanted if wanted in claimable else None


def _relates(world: World, link: LinkSpec) -> bool:
    if not link.current or link.agency != world.agency:
        return False
    if world.roles <= {GUARDIAN} and link.team != world.team:
        return False  # a governance role alone is no relationship
    if link.agency == "agency-c":
        return True
    if link.agency == "agency-b" and world.team == "team-1":
        return link.team in ("team-1", "team-2")
    return link.team == world.team


def _active(world: World, person: str, purpose: str) -> bool:
    return any(
        g.person == person
        and g.mine
        and g.purpose == purpose
        and g.starts <= 0 < g.ends
        and (g.ended is None or g.ended > 0)
        for g in world.grants
    )


def standing(world: World, person: str) -> tuple[bool, bool]:
    """(related, broke glass): the requester's relationship with the person, and their own
    break-glass grant in force; with neither, the person is not available to them."""
    related = any(link.person == person and _relates(world, link) for link in world.links)
    return related, not related and _active(world, person, "emergency")


def oracle(world: World, person: str, agency: str, item: str) -> bool:
    """The rules, restated: may the requester see this agency's item about this person?"""
    asserted = established(world)
    if asserted is None:
        return False
    clause = next((c for c in world.clauses if c.agency == agency and item in c.items), None)
    if clause is None:
        return False
    if clause.sealed and world.agency != agency:
        return False
    related, broke_glass = standing(world, person)
    if not related and not broke_glass:
        return False
    if world.agency == agency:
        return True
    if broke_glass:
        purpose = "emergency"
    elif _active(world, person, "safeguarding"):
        purpose = "safeguarding"
    else:
        purpose = asserted
    if not clause.roles & world.roles or purpose not in clause.purposes:
        return False
    if clause.basis == "statutory":
        return True
    categories = {clause.category}
    if agency == "agency-b" and any(
        link.person == person and link.agency == agency and link.current and link.team == "team-2"
        for link in world.links
    ):
        categories.add("health.mental")  # held by agency-b's mental health service
    rs = item.split(".")[0]

    def covers(c: ConsentSpec, category: str) -> bool:
        if c.scope_kind == "item":
            return c.scope in (item, rs + ".*")
        return category == c.scope or category.startswith(c.scope + ".")

    in_force = [
        c
        for c in world.consents
        if c.person == person
        and c.starts <= 0
        and (c.ends is None or c.ends > 0)
        and (c.withdrawn is None or c.withdrawn > 0)
        and (
            (c.recipient_kind == "agency" and c.recipient in ("*", world.agency))
            or (c.recipient_kind == "role" and c.recipient in world.roles)
        )
    ]
    if any(c.decision == "deny" and any(covers(c, k) for k in categories) for c in in_force):
        return False
    return clause.basis == "implied" or all(
        any(c.decision == "permit" and covers(c, k) for c in in_force) for k in categories
    )


# ------------------------------------------------------------- the strategies

# Mostly already started, mostly not ended or withdrawn, with the edges drawn too.
starts = st.integers(min_value=-48, max_value=2)
ends = st.none() | st.integers(min_value=-2, max_value=48)
withdrawals = st.sampled_from((None, None)) | st.integers(min_value=-24, max_value=24)
# Biased so that most draws have a relationship and a matching clause, and the
# interesting rules (consent, objection, sealing, teams) decide often.
mostly = st.sampled_from((True, True, True, False))


@st.composite
def clauses(draw: st.DrawFn) -> tuple[ClauseSpec, ...]:
    found: list[ClauseSpec] = []
    for agency in AGENCIES:
        remaining = list(_mapped(agency))
        while remaining and draw(mostly):
            take = draw(st.lists(st.sampled_from(remaining), min_size=1, unique=True))
            remaining = [i for i in remaining if i not in take]
            found.append(
                ClauseSpec(
                    agency=agency,
                    items=frozenset(take),
                    category=draw(st.sampled_from(CATEGORIES)),
                    roles=frozenset(draw(st.sets(st.sampled_from(ROLES), min_size=2))),
                    purposes=frozenset(draw(st.sets(st.sampled_from(PURPOSES), min_size=2))),
                    basis=draw(st.sampled_from(("explicit", "implied", "implied", "statutory"))),
                    sealed=draw(st.sampled_from((False, False, False, True))),
                )
            )
    return tuple(found)


@st.composite
def targeted_consents(
    draw: st.DrawFn,
    clauses_drawn: tuple[ClauseSpec, ...],
    links: tuple[LinkSpec, ...],
    agency: str,
    roles: frozenset[str],
) -> tuple[ConsentSpec, ...]:
    """Consents and objections that decide: in force, about a person the requester's
    agency holds, for the requester (their agency or one of their roles), covering a
    category or item a clause of another agency shares. Drawn at random, such records
    almost never meet the one request that they would change."""
    held = sorted({link.person for link in links if link.agency == agency and link.current})
    shared = [c for c in clauses_drawn if c.agency != agency]
    if not held or not shared:
        return ()
    found = []
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        clause = draw(st.sampled_from(shared))
        if draw(st.booleans()):
            scope_kind, scope = (
                "category",
                draw(
                    st.sampled_from(
                        (clause.category, clause.category.split(".")[0], "health.mental")
                    )
                ),
            )
        else:
            scope_kind, scope = "item", draw(st.sampled_from(sorted(clause.items)))
        if draw(st.booleans()):
            recipient_kind, recipient = "agency", draw(st.sampled_from((agency, "*")))
        else:
            recipient_kind, recipient = "role", draw(st.sampled_from(sorted(roles)))
        found.append(
            ConsentSpec(
                person=draw(st.sampled_from(held)),
                scope_kind=scope_kind,
                scope=scope,
                recipient_kind=recipient_kind,
                recipient=recipient,
                decision=draw(st.sampled_from(("permit", "deny"))),
                starts=draw(st.integers(min_value=-48, max_value=0)),
                ends=None,
                withdrawn=None,
            )
        )
    return tuple(found)


@st.composite
def worlds(draw: st.DrawFn) -> World:
    links = tuple(
        LinkSpec(person, agency, draw(st.sampled_from(TEAMS)), draw(mostly))
        for person in PEOPLE
        for agency in AGENCIES
        if draw(mostly)
    )
    drawn_clauses = draw(clauses())
    agency = draw(st.sampled_from((*AGENCIES, *AGENCIES, "agency-outside")))
    roles = frozenset(
        draw(st.sets(st.sampled_from(ROLES), min_size=1) | st.just(frozenset({GUARDIAN})))
    )
    consent_specs = draw(targeted_consents(drawn_clauses, links, agency, roles)) + tuple(
        draw(
            st.lists(
                st.builds(
                    ConsentSpec,
                    person=st.sampled_from(PEOPLE),
                    scope_kind=st.just("category"),
                    # Weighted to the categories a service narrows to, so that it decides often.
                    scope=st.sampled_from(
                        (*CATEGORIES, "health.mental", "health.mental", "health")
                    ),
                    recipient_kind=st.just("agency"),
                    recipient=st.sampled_from((*AGENCIES, "*", "*")),
                    decision=st.sampled_from(("permit", "deny")),
                    starts=starts,
                    ends=ends,
                    withdrawn=withdrawals,
                )
                | st.builds(
                    ConsentSpec,
                    person=st.sampled_from(PEOPLE),
                    scope_kind=st.just("item"),
                    scope=st.sampled_from(
                        sorted({i for a in AGENCIES for i in _mapped(a)})
                        + [f"{rs}.*" for rs in sorted({r for s in AGENCY_SETS.values() for r in s})]
                    ),
                    recipient_kind=st.just("role"),
                    recipient=st.sampled_from(ROLES),
                    decision=st.sampled_from(("permit", "deny")),
                    starts=starts,
                    ends=ends,
                    withdrawn=withdrawals,
                ),
                max_size=8,
            )
        )
    )
    grants = tuple(
        draw(
            st.lists(
                st.builds(
                    GrantSpec,
                    person=st.sampled_from(PEOPLE),
                    mine=mostly,
                    starts=st.integers(-8, 1),
                    ends=st.integers(-2, 8),
                    ended=st.none() | st.none() | st.integers(-4, 4),
                    purpose=st.sampled_from(("emergency", "safeguarding")),
                ),
                max_size=3,
            )
        )
    )
    return World(
        clauses=drawn_clauses,
        links=links,
        consents=consent_specs,
        grants=grants,
        agency=agency,
        team=draw(st.sampled_from(TEAMS)),
        roles=roles,
        # Mostly no claim or a plain one; sometimes a claim listing purposes that only a
        # grant can establish, or one the roles may not claim.
        claim=draw(
            st.none()
            | st.just(("direct_care",))
            | st.lists(st.sampled_from(PURPOSES), max_size=3, unique=True).map(tuple)
        ),
        # Mostly no header; otherwise any purpose, including those no header can establish.
        header=draw(st.none() | st.none() | st.sampled_from(PURPOSES)),
    )


def _person_selection_strategy() -> st.SearchStrategy[str]:
    """Selections built from the live schema's Person type."""
    person = schema.graphql_schema.get_type("Person")
    assert isinstance(person, GraphQLObjectType)

    def object_fields(gtype: GraphQLObjectType, depth: int) -> st.SearchStrategy[str]:
        options = []
        for name, gfield in sorted(gtype.fields.items()):
            if gfield.args and name != "timeline":
                continue
            named = get_named_type(gfield.type)
            if isinstance(named, GraphQLObjectType):
                if depth >= 2 or name == "knownTo":
                    continue
                options.append(
                    object_fields(named, depth + 1).map(lambda s, n=name: f"{n} {{ {s} }}")
                )
            else:
                options.append(st.just(name))
        return st.lists(st.one_of(options), min_size=1, max_size=6, unique=True).map(" ".join)

    return object_fields(person, 0)


selections = _person_selection_strategy()


# --------------------------------------------------------------- the gateway


@dataclass
class Harness:
    loop: asyncio.AbstractEventLoop
    gateway: Gateway
    client: httpx.AsyncClient
    connectors: dict[str, RecordingConnector]
    base_settings: Any
    tokens: dict[tuple[str, str, frozenset[str]], str] = field(default_factory=dict)


@contextlib.contextmanager
def _harness(root: Path, backend: str) -> Iterator[Harness]:
    """A gateway over recording connectors, its state on ``backend`` (sqlite|postgresql)."""
    config_file = build_config(root, trust_url="http://127.0.0.1:9", store_dir=root)
    demo = load_settings(config_file)
    agencies = tuple(
        AgencyConfig(
            id=agency,
            name=agency.upper(),
            kind="sql",
            file=root / f"{agency}.toml",
            timeout_seconds=2.0,
            demographics_rank=1 if "demographics" in AGENCY_SETS[agency] else None,
            services=SERVICES[agency],
            items=frozenset(_mapped(agency)),
            source=None,
        )
        for agency in AGENCIES
    )
    loop = asyncio.new_event_loop()
    database: contextlib.AbstractAsyncContextManager[str] | None = None
    state_dir: Path | None = None
    if backend == "postgresql":
        database = fresh_postgres_database()
        state_database = loop.run_until_complete(database.__aenter__())
    else:
        # The state database is rewritten for every example: keep it in memory-backed
        # storage where the machine has it, so the examples measure the gateway, not fsync.
        shm = Path("/dev/shm")
        state_dir = Path(tempfile.mkdtemp(dir=shm)) if shm.is_dir() else root
        state_database = f"sqlite+aiosqlite:///{state_dir / 'state.sqlite'}"
    base = replace(
        demo,
        state_database=state_database,
        agencies=agencies,
        issuers=tuple(
            replace(i, agency=a)
            for i, a in zip(demo.issuers, (*AGENCIES, "agency-outside", "x"), strict=False)
        ),
    )
    connectors = {agency: RecordingConnector(agency) for agency in AGENCIES}
    gateway = Gateway(base, connectors=connectors, clock=lambda: NOW)
    generate_demo_keys(base)
    loop.run_until_complete(gateway.start())
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(gateway)), base_url="http://gateway.test"
    )
    try:
        yield Harness(loop, gateway, client, connectors, base)
    finally:
        loop.run_until_complete(client.aclose())
        loop.run_until_complete(gateway.stop())
        if database is not None:
            loop.run_until_complete(database.__aexit__(None, None, None))
        loop.close()
        if state_dir is not None and state_dir != root:
            shutil.rmtree(state_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    """The property world's gateway with its state in SQLite."""
    with _harness(tmp_path_factory.mktemp("property"), "sqlite") as built:
        yield built


@pytest.fixture(scope="module")
def pg_harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    """The property world's gateway with its state in PostgreSQL (the Core statements, not
    the SQLite fast path)."""
    with _harness(tmp_path_factory.mktemp("property-pg"), "postgresql") as built:
        yield built


def _protocol(world: World, base: Any) -> SharingProtocol:
    built = tuple(
        Clause(
            id=f"C{n}",
            title=f"clause {n}",
            agencies=frozenset({c.agency}),
            items=c.items,
            category=c.category,
            roles=c.roles,
            purposes=c.purposes,
            basis=Basis(c.basis),
            sealed=c.sealed,
        )
        for n, c in enumerate(world.clauses)
    )
    index = {
        (agency, item): clause
        for clause in built
        for agency in clause.agencies
        for item in clause.items
    }
    return replace(
        base.protocol,
        clauses=built,
        categories={c: c for c in CATEGORIES},
        roles={r: r for r in ROLES},
        purposes={
            **{
                name: Purpose(name, name, Establishment.ASSERTED, roles)
                for name, roles in ASSERTED.items()
            },
            "safeguarding": Purpose(
                "safeguarding",
                "safeguarding",
                Establishment.REASONED,
                frozenset(ROLES) - {GUARDIAN},
                hours=72,
                reference_pattern="^S42-[0-9]+$",
                reference_hint="S42-<number>",
            ),
            "emergency": Purpose(
                "emergency", "emergency", Establishment.BREAK_GLASS, frozenset(ROLES) - {GUARDIAN}
            ),
        },
        governance_roles=frozenset({GUARDIAN}),
        services=SERVICES,
        _index=index,
    )


async def _load_world(h: Harness, world: World) -> None:
    gateway = h.gateway
    protocol = _protocol(world, h.base_settings)
    gateway.settings = replace(h.base_settings, protocol=protocol)
    gateway.governance.protocol = protocol
    async with gateway.state_engine.begin() as conn:
        for table in (consents, break_glass_grants, person_links, persons):
            await conn.execute(delete(table))
    for person in PEOPLE:
        await gateway.index.register([], person_id=person)
    async with gateway.state_engine.begin() as conn:
        for link in world.links:
            await conn.execute(
                person_links.insert().values(
                    person_id=link.person,
                    agency_id=link.agency,
                    local_id=f"{link.agency}:{link.person}",
                    team=link.team,
                    current=link.current,
                )
            )
        for n, c in enumerate(world.consents):
            await conn.execute(
                consents.insert().values(
                    id=f"consent-{n}",
                    person_id=c.person,
                    scope_kind=c.scope_kind,
                    scope=c.scope,
                    recipient_kind=c.recipient_kind,
                    recipient=c.recipient,
                    decision=ConsentDecision(c.decision).value,
                    valid_from=_hours(c.starts),
                    valid_until=_hours(c.ends),
                    withdrawn_at=_hours(c.withdrawn),
                    recorded_by="property",
                    recorded_at=NOW,
                    reference="drawn",
                )
            )
        for n, g in enumerate(world.grants):
            await conn.execute(
                break_glass_grants.insert().values(
                    id=f"grant-{n}",
                    person_id=g.person,
                    practitioner="requester" if g.mine else "someone-else",
                    agency=world.agency if g.mine else "agency-outside",
                    reason="drawn emergency for the property test",
                    granted_at=_hours(g.starts),
                    expires_at=_hours(g.ends),
                    ended_at=_hours(g.ended),
                    purpose=g.purpose,
                )
            )
    for connector in h.connectors.values():
        connector.asked.clear()


def _token(h: Harness, world: World) -> str:
    key = (world.agency, world.team, world.roles, world.claim)
    if key not in h.tokens:  # signing is slow; the claims repeat across examples
        h.tokens[key] = mint_token(
            h.gateway.settings,
            subject="requester",
            agency=world.agency,
            team=world.team,
            roles=tuple(sorted(world.roles)),
            purposes=world.claim,
        )
    return h.tokens[key]


def _selected_items(selection: str) -> set[str]:
    """The catalogue items a generated selection asks for (by walking it again)."""
    from graphql import parse

    document = parse('{ person(id: "x") { %s } }' % selection)
    person = schema.graphql_schema.get_type("Person")
    found: set[str] = set()

    def walk(gtype: Any, selection_set: Any) -> None:
        for node in selection_set.selections:
            gfield = gtype.fields[node.name.value]
            named = get_named_type(gfield.type)
            if node.selection_set is not None:
                walk(named, node.selection_set)
                continue
            for rs in RECORD_SETS_BY_NAME.values():
                if rs.type_name == gtype.name:
                    for item in rs.items:
                        if item.graphql_name == node.name.value:
                            found.add(item.name)

    walk(person, document.definitions[0].selection_set.selections[0].selection_set)  # type: ignore[attr-defined]
    return found


@seed(20031105)
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)
@given(world=worlds(), selection=selections)
def test_exactly_what_the_rules_allow_is_fetched_and_shown(
    harness: Harness, world: World, selection: str
) -> None:
    body = harness.loop.run_until_complete(_run(harness, world, selection))
    _check(harness, world, selection, body)


@seed(20031105)
@settings(
    max_examples=PG_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)
@given(world=worlds(), selection=selections)
def test_exactly_what_the_rules_allow_over_postgresql_state(
    pg_harness: Harness, world: World, selection: str
) -> None:
    body = pg_harness.loop.run_until_complete(_run(pg_harness, world, selection))
    _check(pg_harness, world, selection, body)


async def _run(h: Harness, world: World, selection: str) -> bytes:
    await _load_world(h, world)
    query = "{ %s }" % " ".join(
        f'p{n}: person(id: "{person}") {{ {selection} }}' for n, person in enumerate(PEOPLE)
    )
    headers = {
        "Authorization": f"Bearer {_token(h, world)}",
        "Content-Type": "application/json",
    }
    if world.header is not None:
        headers["Fame-Purpose-Of-Use"] = world.header
    response = await h.client.post(
        "/graphql", content=json.dumps({"query": query}), headers=headers
    )
    if established(world) is None:
        # A purpose that cannot be established refuses the whole request, before any fetch.
        assert response.status_code in (400, 403), response.text
        assert response.json()["errors"][0]["extensions"]["code"].startswith("PURPOSE_")
    else:
        assert response.status_code == 200, response.text
    return response.content


def _check(h: Harness, world: World, selection: str, body: bytes) -> None:
    text = body.decode()
    response = json.loads(body)
    if established(world) is None:
        for agency, connector in h.connectors.items():
            assert connector.asked == [], ("fetched for a refused purpose", agency)
        assert "CANARY~" not in text
        return
    # A person the requester may not see is answered as an unknown id: null, NOT_FOUND.
    unavailable = {f"p{n}" for n, person in enumerate(PEOPLE) if not any(standing(world, person))}
    errors = response.get("errors", [])
    assert sorted(e["path"][0] for e in errors) == sorted(unavailable), errors
    assert all(e["extensions"] == {"code": "NOT_FOUND"} for e in errors), errors
    assert all(response["data"][alias] is None for alias in unavailable)
    selected = _selected_items(selection)
    withheld = {
        (entry["path"][0], entry["agency"], entry["item"])
        for entry in response.get("extensions", {}).get("withheld", [])
    }
    linked = {(link.person, link.agency) for link in world.links}
    for n, person in enumerate(PEOPLE):
        for agency in AGENCIES:
            if (person, agency) not in linked:
                continue
            for item in _mapped(agency):
                value = canary_text(canary(agency, f"{agency}:{person}", item))
                allowed = oracle(world, person, agency, item)
                if not allowed:
                    # Nothing withheld leaks anywhere: data, errors or extensions.
                    assert value not in text, (person, agency, item)
                if item not in selected or f"p{n}" in unavailable:
                    continue
                if item.startswith("demographics.") and agency != "agency-a":
                    continue
                if allowed:
                    assert value in text, ("permitted but not returned", person, agency, item)
                else:
                    assert (f"p{n}", agency, item) in withheld, (
                        "withheld but not listed",
                        person,
                        agency,
                        item,
                    )
    for agency, connector in h.connectors.items():
        for local_id, item in connector.asked:
            person = local_id.split(":")[1]
            assert oracle(world, person, agency, item), ("fetched a withheld item", agency, item)
