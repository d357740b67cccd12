"""``make demo``: synthetic agencies on this machine, the gateway in front of them."""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import unquote, urlsplit

from sqlalchemy.engine import make_url

from connectors.csv_config import CsvSource
from fame_demo.community_api import CommunityHealthApi
from fame_demo.emergency import department_server, register_gateway
from fame_demo.practitioners import PRACTITIONERS
from fame_demo.school import write_school_csv
from fame_demo.stores import write_sql_stores
from fame_demo.synthetic import AGENCY_NAMES, EMERGENCY_DEPARTMENT, SCHOOL, Population
from fame_demo.world import (
    CHILD_AT_RISK,
    CHILD_PROTECTION_PLAN,
    DISABLED_CHILD,
    HOUSING_BENEFIT_CLAIMANT,
    MOVED_BETWEEN_COUNCILS,
    generate_world,
)
from gateway.config.settings import Settings, load_settings
from gateway.config.tokens import generate_demo_keys, mint_token
from gateway.core.registration import AgencyConfig
from gateway.governance.person_index import PersonIndex, Registration, demo_person_id

#: The query the README shows and the demo prints: one person from four agencies.
README_QUERY = (
    "query($id: ID!) { person(id: $id) { "
    "demographics { givenName familyName agency { name } } "
    "involvements { agency { name } team worker role } "
    "alerts { agency { name } category severity } "
    "health { medications { name agency { name } } communityEpisodes { service agency { name } } } "
    "socialCare { carePackages { service hoursPerWeek agency { name } } } "
    "housing { tenancies { address tenure agency { name } } } } }"
)


async def seed_person_index(
    index: PersonIndex, population: Population, agencies: Iterable[AgencyConfig]
) -> None:
    """Link each synthetic person's local ids at the registered agencies, by NHS number.

    Each link carries a team holding the person, as practitioners' tokens name teams:
    the team decides which of the agency's own practitioners have a relationship. A FHIR
    agency finds people by NHS number, so its links carry the NHS number as the local id
    (the agency's own record number stays in its system).
    """
    kinds = {agency.id: agency.kind for agency in agencies}
    await index.register_all(
        [
            Registration(
                links=tuple(
                    (
                        agency_id,
                        person.nhs_number
                        if kinds[agency_id] == "fhir"
                        else local_ids[person.nhs_number],
                        team,
                    )
                    for agency_id, local_ids in sorted(population.local_ids.items())
                    if agency_id in kinds and person.nhs_number in local_ids
                    for team in population.holding_teams(agency_id, person.nhs_number)
                ),
                nhs_number=person.nhs_number,
                person_id=demo_person_id(person.nhs_number),
                given_name=person.given_name,
                family_name=person.family_name,
                date_of_birth=person.date_of_birth,
                postcode=person.postcode,
            )
            for person in population.people
        ]
    )


def sqlite_store_dir(settings: Settings) -> Path:
    """Where the demo's SQL agencies keep their files, as their agency files say."""
    dirs = {
        Path(unquote((make_url(agency.source.url).database or "").removeprefix("file:"))).parent
        for agency in settings.agencies
        if agency.kind == "sql" and agency.source.url.startswith("sqlite")
    }
    if len(dirs) != 1:
        raise SystemExit("the demo expects every SQL agency's SQLite file in one directory")
    return dirs.pop()


def school_export_dir(settings: Settings) -> Path:
    """Where the school's CSV exports go, as its agency file says (one folder for all)."""
    school = next(a for a in settings.agencies if a.id == SCHOOL)
    source = school.source
    if not isinstance(source, CsvSource):
        raise SystemExit(f"the demo expects {SCHOOL} to be a csv agency")
    dirs = {file.path.parent for file in source.files.values()}
    if len(dirs) != 1:
        raise SystemExit(f"the demo expects every export of {SCHOOL} in one directory")
    return dirs.pop()


def write_demo_stores(population: Population, settings: Settings) -> None:
    """Write the agencies' stores where their files say: the SQL agencies' SQLite files and
    the school's CSV exports (the department's FHIR resources live in its server)."""
    write_sql_stores(population, sqlite_store_dir(settings))
    write_school_csv(population, school_export_dir(settings), settings.catalogue)


def prepare_demo(settings: Settings, *, fresh: bool = True) -> Population:
    """Write the agencies' stores afresh and make any missing keys; with ``fresh``, empty
    the state database too.

    The stores are the same on every start (the world is deterministic), so rewriting
    them loses nothing. The state database holds what practitioners did: links,
    consents, grants and the audit chain, which a restart keeps unless ``fresh``.
    """
    population = generate_world()
    write_demo_stores(population, settings)
    generate_demo_keys(settings)
    state = make_url(settings.state_database)
    if fresh and state.get_backend_name() == "sqlite" and state.database:
        for suffix in ("", "-wal", "-shm"):
            Path(state.database + suffix).unlink(missing_ok=True)
    return population


async def run_demo(config: Path, *, port: int | None = None, fresh: bool = False) -> int:
    """Create the synthetic agencies, start the trust's API and the emergency department's
    FHIR server, and serve the gateway.

    The state database (links, consents, grants, audit) is kept from the last run
    unless ``fresh``.
    """
    import uvicorn

    from gateway.app import create_app
    from gateway.reload_signals import reload_on_hangup
    from gateway.run_files import RunFiles, default_pid_file
    from gateway.service import Gateway

    settings = load_settings(config)
    if not settings.demo:
        print("fame-gateway demo: the settings are not in demo mode", file=sys.stderr)
        return 2
    population = prepare_demo(settings, fresh=fresh)

    http_agency = next(a for a in settings.agencies if a.kind == "http")
    trust = CommunityHealthApi(population)
    api_port = urlsplit(http_agency.source.base_url).port or 80
    await trust.start("127.0.0.1", api_port)
    ed_agency = next(a for a in settings.agencies if a.id == EMERGENCY_DEPARTMENT)
    department = department_server(population)
    register_gateway(department, ed_agency)
    await department.start("127.0.0.1", urlsplit(ed_agency.source.base_url).port or 80)

    # Knowing its files, the demo reloads like `serve` does: `fame-gateway reload` (or
    # SIGHUP) registers a new agency without a restart.
    gateway = Gateway(settings, config_file=config)
    try:
        await gateway.start()
        await seed_person_index(gateway.index, population, settings.agencies)
        listen_port = port or settings.port
        _print_welcome(settings, population, listen_port, fresh=fresh)
        server = uvicorn.Server(
            uvicorn.Config(
                # Stopped by the app's shutdown, as `serve` does: after a SIGTERM uvicorn
                # raises the signal again, ending the process before `finally` runs.
                create_app(gateway, PRACTITIONERS, stop_on_shutdown=True),
                host=settings.host,
                port=listen_port,
                lifespan="on",
                log_level="warning",
            )
        )
        with reload_on_hangup(gateway, RunFiles(default_pid_file(config)), config, publish=True):
            await server.serve()
    finally:
        if gateway.started:
            await gateway.stop()
        await department.stop()
        await trust.stop()
    return 0


#: How each kind of agency answers, for the welcome.
_SPEAKS = {"sql": "SQL", "http": "REST", "fhir": "FHIR R4", "csv": "CSV", "jsonl": "plug-in"}

#: The pilots' stories and who plays them, for the welcome.
_STORIES = (
    (MOVED_BETWEEN_COUNCILS, "moved from Shire to Wrekin and was admitted", "sw-dale"),
    (CHILD_PROTECTION_PLAN, "on a Shire child protection plan, in Wrekin's ED", "ed-singh"),
    (DISABLED_CHILD, "a disabled child with a virtual team", "ot-rees"),
    (CHILD_AT_RISK, "a child at risk in Wrekin", "csw-okoro"),
    (HOUSING_BENEFIT_CLAIMANT, "a housing benefit claimant", "ho-evans"),
)


def _print_welcome(
    settings: Settings, population: Population, port: int, *, fresh: bool = False
) -> None:
    person = population.people[0]
    person_id = demo_person_id(person.nhs_number)
    print(f"FAME Gateway demo on http://{settings.host}:{port}/graphql")
    print(f"{len(population.people)} synthetic people across {len(settings.agencies)} agencies:")
    for agency in settings.agencies:
        name = AGENCY_NAMES.get(agency.id, agency.name)
        print(f"  {agency.id:<26} {_SPEAKS.get(agency.kind, agency.kind):<9} {name}")
    kept = "started afresh" if fresh else "kept from the last run (--fresh starts over)"
    print(f"Links, consents, grants and the audit: {kept}.\n")
    print("The pilots' people (person id, who to ask as):")
    for part, story, asker in _STORIES:
        for member in population.cast_as(part):
            print(f"  {demo_person_id(member.nhs_number)}  {member.full_name}, {story} ({asker})")
    print()
    print("Tokens for sample practitioners (valid 8 hours):")
    for who in PRACTITIONERS:
        token = mint_token(
            settings,
            subject=who.id,
            agency=who.agency,
            team=who.team,
            roles=who.roles,
            name=who.name,
        )
        print(f"  {who.id:<10} {who.name} ({who.agency}, {', '.join(who.roles)})")
        print(f"    {token}")
    print("\n  .venv/bin/fame-gateway token sw-patel    # mints a fresh one\n")
    body = json.dumps({"query": README_QUERY, "variables": {"id": person_id}})
    print(f"{person.given_name} {person.family_name}, known to four Shire agencies:\n")
    print("  TOKEN=$(.venv/bin/fame-gateway token sw-patel)")
    print(f"  curl -s http://{settings.host}:{port}/graphql \\")
    print('    -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \\')
    print(f"    -d {shlex.quote(body)}\n")
    print("Press Ctrl+C to stop.", flush=True)
