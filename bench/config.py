"""The gateway's configuration for the benchmark: agency files, a protocol, keys, the index.

The gateway is configured exactly as a deployment would be, from files: one agency file
per source (SQL URLs by environment variable, as secrets must be), a sharing protocol
that shares every mapped item for every purpose (the policy still runs for every item:
what the benchmark measures is the machinery, not a particular protocol), real signing
keys and real signed tokens, and a person index in its own state database.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path

from bench.world import (
    AGENCIES,
    PEER_REQUESTER,
    PEER_REQUESTER_AGENCY,
    PEER_REQUESTER_ROLES,
    REQUESTER_AGENCY,
    REQUESTER_ROLES,
    REQUESTERS,
    Agency,
    World,
)
from gateway.config.agencies import parse_agency
from gateway.config.protocol import PURPOSES
from gateway.config.settings import Settings, load_settings
from gateway.config.tokens import generate_demo_keys, mint_token
from gateway.core.errors import Problems
from gateway.governance.migrate import upgrade_schema
from gateway.governance.person_index import PersonIndex, Registration
from gateway.governance.state import create_state_engine

_ROLES = ("social_worker", "gp", "nurse", "housing_officer")
#: Each requesting agency's own token issuer.
_ISSUERS = {
    agency: f"https://login.{agency}.invalid"
    for agency in (REQUESTER_AGENCY, PEER_REQUESTER_AGENCY)
}
#: The environment variable a gateway reads its state database's URL from, when it is a
#: server database (the URL may carry a password, which a settings file must not).
STATE_DSN_VARIABLE = "FAME_BENCH_STATE_DSN"


def dsn_variable(agency: Agency) -> str:
    """The environment variable that carries an SQL agency's URL to the gateway."""
    return "FAME_BENCH_" + agency.id.removeprefix("bench-").upper().replace("-", "_") + "_DSN"


def agency_file(agency: Agency, world: World, cache_seconds: int | None) -> str:
    """The agency's registration file, as its integrator would write it."""
    lines = [
        f'name = "{agency.name}"',
        f'kind = "{agency.kind}"',
        # Generous: the benchmark reports latency; a timeout would only hide it.
        "timeout_seconds = 10.0",
        # As many calls in flight to each agency as the peers make: the lower bound and Hive
        # Gateway do not limit them. The default of 10 guards an agency's own system; these
        # sources are built to take the load, and at 32 clients the default would hold the
        # gateway to 10 calls per 20 ms, the throughput the bench would then measure.
        "max_concurrent_calls = 64",
        # The bench's practitioners carry no team: any of an agency's staff relate.
        'relationships = "agency"',
    ]
    if agency.demographics_rank is not None:
        lines.append(f"demographics_rank = {agency.demographics_rank}")
    if cache_seconds is not None:
        lines.append(f"cache_seconds = {cache_seconds}")
    if agency.kind == "sql":
        lines += ["", "[source]", f'url_env = "{dsn_variable(agency)}"']
        for table in agency.tables:
            lines += ["", f"[tables.{table.name}]", f'key = "{table.key}"']
            if table.order_by:
                lines.append(f'order_by = "{table.order_by}"')
    else:
        lines += [
            "",
            "[source]",
            f'base_url = "{world.urls[agency.id]}"',
            f'path = "{agency.path}"',
            'ids_param = "ids"',
            'fields_param = "fields"',
            f'results_key = "{agency.results_key}"',
            f'id_field = "{agency.id_field}"',
        ]
    lines += ["", "[items]"]
    lines += [f'"{item}" = "{target}"' for item, target in sorted(agency.items.items())]
    return "\n".join(lines) + "\n"


def protocol_preamble(
    title: str,
    roles: Sequence[str],
    governance_roles: Sequence[str],
    categories: Sequence[str] = ("everything",),
) -> list[str]:
    """A protocol's lines up to its clauses: every role may claim the asserted purposes,
    safeguarding is reasoned, emergency is break-glass, audit is for ``governance_roles``."""

    def listed(names: Sequence[str]) -> str:
        return "[" + ", ".join(f'"{name}"' for name in names) + "]"

    care = [role for role in roles if role not in governance_roles]
    return [
        f'title = "{title}"',
        'version = "synthetic"',
        "[categories]",
        *(f'"{category}" = "{category}"' for category in categories),
        "[roles]",
        *(f'{role} = "{role}"' for role in roles),
        "[purposes.direct_care]",
        'description = "Care of the person."',
        'established = "asserted"',
        f"roles = {listed(care)}",
        "[purposes.care_planning]",
        'description = "Planning care together."',
        'established = "asserted"',
        f"roles = {listed(care)}",
        "[purposes.safeguarding]",
        'description = "Protecting a person at risk."',
        'established = "reasoned"',
        f"roles = {listed(care)}",
        "hours = 72",
        "reference_pattern = '^S42-[0-9]{4}-[0-9]{3,6}$'",
        'reference_hint = "a s.42 enquiry number such as S42-2026-00123"',
        "[purposes.emergency]",
        'description = "Break-glass."',
        'established = "break_glass"',
        "[purposes.audit]",
        'description = "Information governance."',
        'established = "asserted"',
        f"roles = {listed(governance_roles)}",
        "[break_glass]",
        f"roles = {listed(care)}",
        "hours = 4",
        "[break_glass.reasons]",
        'risk_to_life = "An immediate risk to life."',
        "[governance]",
        f"roles = {listed(governance_roles)}",
        "[consent_forms.signed_form]",
        'description = "A signed form."',
        "pattern = '\\b[A-Z]{2,4}-[0-9]{1,8}\\b'",
        "own_words = true",
    ]


def declared_purposes(lines: Sequence[str]) -> list[str]:
    """The purposes a protocol's lines (``protocol_preamble``'s) declare, in the order of
    the gateway's purposes: what its clauses may share under, and nothing more."""
    declared = tomllib.loads("\n".join(lines))["purposes"]
    return [purpose for purpose in PURPOSES if purpose in declared]


def protocol_file() -> str:
    """A protocol sharing every item the bench agencies map, implied, with every role."""
    roles = "[" + ", ".join(f'"{r}"' for r in _ROLES) + "]"
    lines = protocol_preamble("Benchmark protocol (synthetic)", (*_ROLES, "ig_lead"), ("ig_lead",))
    purposes = "[" + ", ".join(f'"{p}"' for p in declared_purposes(lines)) + "]"
    for agency in AGENCIES:
        items = ", ".join(f'"{item}"' for item in sorted(agency.items))
        lines += [
            "[[clause]]",
            f'id = "ALL-{agency.id}"',
            f'title = "Everything {agency.name} maps"',
            f'agencies = ["{agency.id}"]',
            f"items = [{items}]",
            'category = "everything"',
            f"roles = {roles}",
            f"purposes = {purposes}",
            'basis = "implied"',
        ]
    return "\n".join(lines) + "\n"


def settings_file(root: Path, *, server_state: bool = False) -> str:
    """gateway.toml: demo mode (so the run can mint tokens), SQLite state in ``root``, or
    with ``server_state`` the state database ``STATE_DSN_VARIABLE`` names."""
    state = (
        f'state_database_env = "{STATE_DSN_VARIABLE}"'
        if server_state
        else f'state_database = "sqlite+aiosqlite:///{(root / "state.sqlite").as_posix()}"'
    )
    text = f"""mode = "demo"
agencies_dir = "agencies"
{state}
audit_signing_key_file = "{(root / "keys" / "gateway-audit.pem").as_posix()}"
default_purpose = "direct_care"
graphiql = false
listen = {{ host = "127.0.0.1", port = 8000 }}

[limits]
max_batch = 500
"""
    for agency, issuer in _ISSUERS.items():
        text += f"""
[[issuers]]
agency = "{agency}"
issuer = "{issuer}"
audience = "fame-gateway"
algorithms = ["RS256"]
jwks_file = "{(root / "keys" / f"{agency}.jwks.json").as_posix()}"
"""
    return text


def cache_supported() -> bool:
    """Whether this gateway's agency files accept ``cache_seconds`` (the per-agency cache)."""
    agency = AGENCIES[-1]
    doc = tomllib.loads(
        agency_file(agency, World({}, {a.id: "http://127.0.0.1:1" for a in AGENCIES}, []), 30)
    )
    problems = Problems(Path(f"{agency.id}.toml"))
    parse_agency(Path(f"{agency.id}.toml"), doc, Path("."), problems)
    return not any(error.key == "cache_seconds" for error in problems.errors)


def write_config(
    root: Path, world: World, *, cache_seconds: int | None = None, server_state: bool = False
) -> Path:
    """Write gateway.toml, the agency files and the protocol under ``root``; returns the
    settings file."""
    (root / "agencies").mkdir(parents=True, exist_ok=True)
    (root / "keys").mkdir(exist_ok=True)
    for agency in AGENCIES:
        (root / "agencies" / f"{agency.id}.toml").write_text(
            agency_file(agency, world, cache_seconds)
        )
    (root / "sharing-protocol.toml").write_text(protocol_file())
    settings = root / "gateway.toml"
    settings.write_text(settings_file(root, server_state=server_state))
    return settings


def gateway_environment(world: World) -> dict[str, str]:
    """The environment variables the gateway reads the SQL agencies' URLs from."""
    return {dsn_variable(a): world.dsns[a.id] for a in AGENCIES if a.kind == "sql"}


async def prepare_gateway(settings_path: Path, world: World) -> Settings:
    """Keys, the state schema and the person index for a gateway configured at
    ``settings_path`` (the SQL URLs must be in the environment)."""
    settings = load_settings(settings_path)
    generate_demo_keys(settings)
    engine = create_state_engine(settings.state_database)
    try:
        await upgrade_schema(engine)
        await PersonIndex(engine).register_all(
            [
                Registration(
                    links=tuple(
                        (agency_id, local_id, None)
                        for agency_id, local_id in person.local_ids.items()
                    ),
                    nhs_number=person.nhs_number,
                    person_id=person.id,
                    given_name=person.given_name,
                    family_name=person.family_name,
                    date_of_birth=person.date_of_birth,
                    postcode=person.postcode,
                )
                for person in world.people
            ]
        )
    finally:
        await engine.dispose()
    return settings


def tokens(settings: Settings) -> Mapping[str, str]:
    """Practitioner id -> a real signed token from the requesting agency's issuer."""
    return {
        practitioner: mint_token(
            settings,
            subject=practitioner,
            agency=REQUESTER_AGENCY,
            team=None,
            roles=REQUESTER_ROLES,
            name=name,
        )
        for practitioner, name in REQUESTERS
    }


def peer_token(settings: Settings) -> str:
    """A real signed token for the practitioner who asks about the peer people."""
    practitioner, name = PEER_REQUESTER
    return mint_token(
        settings,
        subject=practitioner,
        agency=PEER_REQUESTER_AGENCY,
        team=None,
        roles=PEER_REQUESTER_ROLES,
        name=name,
    )
