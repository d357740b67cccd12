"""A third council's children's services registers itself with a running gateway, using
only the ``fame-gateway`` command and the files an IT team would edit.

The gateway (``fame-gateway serve`` with a pid file, over a copy of the demo's
configuration) is already in use: a GP has looked a child up and recorded the family's
consent. The council's system is a PostgreSQL database of its own design (``children``,
``cin_cases``, ``cp_plans``). Its IT team then runs, in order: ``agency new``, edits the
file, ``agency check`` (which fails, naming the items the protocol does not list and the
clause to propose), pastes the clause with the values the agencies agreed, ``agency
check`` again (passes), adds its identity provider to ``gateway.toml`` with
``demo-keys``, ``index import`` and ``index review``, ``reload``, and ``token``. Then its
own social worker and the child's GP ask about the children over HTTP. The gateway was
never restarted, and the links, consent and audit made before are all still there.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from fame_demo.community_api import CommunityHealthApi
from fame_demo.runner import demo_person_id
from fame_demo.synthetic import REFERENCE_DATE, UNSHARED_MARKER, Population, SyntheticPerson
from tests.conftest import fresh_postgres_database
from tests.gateway.reload_files import edit
from tests.scenarios.operator import Operator, Served, ask, readme_walkthrough, run, serve, state_of
from tests.support import prepare_shared_state

AGENCY = "clunbury-childrens-services"
GP = "riverside-gp"
#: The council's own social worker, as its identity provider would name her.
SOCIAL_WORKER = ("ccs-okoro", "Sam Okoro", "Child Protection Team")
#: Where the agency file says the database URL is kept (relative to gateway.toml).
SECRET = "secrets/clunbury-childrens-services.dsn"

#: The council's system, in its own names; strategy notes are never mapped.
SCHEMA = """
create table children (child_ref varchar(12) primary key, forename varchar(40),
    surname varchar(40), dob date, nhs_no varchar(12), ehcp boolean);
create table cin_cases (child_ref varchar(12), allocated_team varchar(60),
    allocated_worker varchar(60), opened date, case_status varchar(10));
create table cp_plans (child_ref varchar(12), plan_category varchar(30),
    risk_level varchar(10), start_date date, plan_summary text, strategy_notes text)
"""

#: What the IT team writes over the starting file's examples.
TABLES_AND_ITEMS = """[tables.children]
key = "child_ref"
[tables.cin_cases]
key = "child_ref"
[tables.cp_plans]
key = "child_ref"
order_by = "start_date"

[items]
"demographics.given_name" = "children.forename"
"demographics.family_name" = "children.surname"
"demographics.date_of_birth" = "children.dob"
"demographics.nhs_number" = "children.nhs_no"
"involvement.team" = "cin_cases.allocated_team"
"involvement.worker" = "cin_cases.allocated_worker"
"involvement.since" = "cin_cases.opened"
"involvement.status" = "cin_cases.case_status"
"alerts.category" = "cp_plans.plan_category"
"alerts.severity" = "cp_plans.risk_level"
"alerts.raised_on" = "cp_plans.start_date"
"alerts.summary" = "cp_plans.plan_summary"
"special_needs.ehcp" = "children.ehcp"
"""

#: What the agencies decided for the EHCP: not the school's terms (implied) that the
#: proposal copies, but the council's case records' category, with the family's explicit
#: consent; the same values fill in anything the proposal leaves TO-AGREE.
AGREED = {
    "category": '"childrens_social_care"',
    "roles": '["gp", "nurse", "social_worker"]',
    "purposes": '["direct_care", "care_planning"]',
    "basis": '"explicit"',
}

ISSUER = f"""
[[issuers]]
agency = "{AGENCY}"
issuer = "https://login.clunbury-council.demo.invalid"
audience = "fame-gateway"
algorithms = ["RS256"]
jwks_file = "../keys/{AGENCY}.jwks.json"
"""

PICTURE = """query($id: ID!) { person(id: $id) {
  knownTo { id }
  involvements { agency { id } team worker status }
  alerts { agency { id } category severity raisedOn summary }
  education { specialNeeds { agency { id } ehcp } } } }"""
CONSENT = (
    """mutation($id: ID!) { recordConsent(input: {personId: $id, category: "childrens_social_care",
  recipientAgency: "%s", decision: PERMIT, reference: "SF-2291"}) { id decision } }"""
    % GP
)


@dataclass(frozen=True)
class Children:
    """The council's children: two the GP holds (one with an NHS number, one without),
    one another practice holds, recorded at an address the index never had (reviewed),
    and one the index has never seen."""

    alfie: SyntheticPerson
    isla: SyntheticPerson
    amelia: SyntheticPerson


def _children(population: Population) -> Children:
    def child(person: SyntheticPerson) -> bool:
        return (REFERENCE_DATE - person.date_of_birth).days < 18 * 365

    at_gp = [p for p in population.people_of(GP) if child(p)]
    elsewhere = [p for p in population.people if child(p) and p not in population.people_of(GP)]
    assert len(at_gp) >= 2 and elsewhere, "the demo population has children at the GP"
    return Children(at_gp[0], at_gp[1], elsewhere[0])


@pytest.fixture
async def trust(population: Population) -> AsyncIterator[str]:
    api = CommunityHealthApi(population)
    url = await api.start()
    try:
        yield url
    finally:
        await api.stop()


@pytest.fixture
async def agency_database() -> AsyncIterator[str]:
    """A throwaway PostgreSQL database holding the council's children's services system."""
    async with fresh_postgres_database() as url:
        yield url


async def fill(url: str, children: Children) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            for statement in SCHEMA.split(";"):
                await conn.execute(text(statement))
            rows: list[tuple[str, SyntheticPerson, str | None, bool]] = [
                ("WCS-100", children.alfie, children.alfie.nhs_number, True),
                ("WCS-101", children.isla, None, False),
                ("WCS-102", children.amelia, None, False),
            ]
            for ref, person, nhs, ehcp in rows:
                await conn.execute(
                    text("insert into children values (:r, :g, :f, :d, :n, :e)"),
                    {
                        "r": ref,
                        "g": person.given_name,
                        "f": person.family_name,
                        "d": person.date_of_birth,
                        "n": nhs,
                        "e": ehcp,
                    },
                )
            await conn.execute(
                text("insert into children values (:r, 'Noah', 'Fenwick', :d, null, false)"),
                {"r": "WCS-103", "d": dt.date(2019, 5, 4)},
            )
            for ref, team, worker in (
                ("WCS-100", "Child Protection Team", "Sam Okoro"),
                ("WCS-101", "Children in Need Team", "Jo Hart"),
                ("WCS-102", "Children in Need Team", "Jo Hart"),
                ("WCS-103", "Children in Need Team", "Jo Hart"),
            ):
                await conn.execute(
                    text("insert into cin_cases values (:r, :t, :w, :o, 'open')"),
                    {"r": ref, "t": team, "w": worker, "o": dt.date(2026, 2, 1)},
                )
            await conn.execute(
                text(
                    "insert into cp_plans values ('WCS-100', 'neglect', 'high', :d, "
                    "'Child protection plan: neglect; core group meets fortnightly.', :notes)"
                ),
                {"d": dt.date(2026, 2, 14), "notes": f"{UNSHARED_MARKER} strategy discussion"},
            )
    finally:
        await engine.dispose()


def people_file(path: Path, children: Children) -> Path:
    """The council's people, in the person index's CSV format."""
    rows = [
        (
            "WCS-100",
            children.alfie,
            f"{children.alfie.nhs_number[:3]} {children.alfie.nhs_number[3:6]} "
            f"{children.alfie.nhs_number[6:]}",
            children.alfie.postcode,
            "Child Protection Team",
        ),
        ("WCS-101", children.isla, "", children.isla.postcode, "Children in Need Team"),
        # Moved since the index last heard of her: a likely match, for a person to decide.
        ("WCS-102", children.amelia, "", "TF9 9ZZ", "Children in Need Team"),
    ]
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(
            [
                "agency_id",
                "local_id",
                "nhs_number",
                "given_name",
                "family_name",
                "date_of_birth",
                "postcodes",
                "team",
            ]
        )
        for ref, person, nhs, postcode, team in rows:
            writer.writerow(
                [
                    AGENCY,
                    ref,
                    nhs,
                    person.given_name,
                    person.family_name,
                    person.date_of_birth.isoformat(),
                    postcode,
                    team,
                ]
            )
        writer.writerow(
            [
                AGENCY,
                "WCS-103",
                "",
                "Noah",
                "Fenwick",
                "2019-05-04",
                "TF1 1AA",
                "Children in Need Team",
            ]
        )
    return path


def agreed(proposal: str) -> str:
    """The proposed clauses as the agencies signed them: numbered, every value left
    TO-AGREE decided, and the EHCP's clause on the terms they chose for it."""
    blocks = []
    for block in proposal.split("\n\n"):
        decided = 'items = ["special_needs.ehcp"]' in block
        lines = []
        for line in block.splitlines():
            key = line.split(" = ", 1)[0]
            if '"TO-AGREE"' in line or (decided and key in AGREED):
                line = f"{key} = {AGREED[key]}"
            lines.append(re.sub(r'"TO-AGREE-(\d+)"', r'"ISP-20.\1"', line))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def of_agency(records: list[dict[str, Any]] | None, agency: str) -> list[dict[str, Any]]:
    return [r for r in records or [] if r["agency"]["id"] == agency]


def withheld(answer: dict[str, Any], agency: str) -> dict[str, str]:
    return {
        w["item"]: w["reason"]
        for w in answer.get("extensions", {}).get("withheld", [])
        if w["agency"] == agency
    }


async def test_a_childrens_services_department_registers_itself_with_a_running_gateway(
    tmp_path: Path, population: Population, store_dir: Path, trust: str, agency_database: str
) -> None:
    children = _children(population)
    state_db = tmp_path / "state.sqlite"
    settings = await prepare_shared_state(
        tmp_path, population, store_dir, trust, f"sqlite+aiosqlite:///{state_db.as_posix()}"
    )
    config = settings.config_dir / "gateway.toml"
    served = await serve(config, tmp_path / "run" / "gateway.pid", tmp_path / "serve.log")
    try:
        await _register(config, served, children, agency_database, state_db)
    finally:
        await served.stop()


async def _register(
    config: Path,
    served: Served,
    children: Children,
    agency_database: str,
    state_db: Path,
) -> None:
    pid = json.loads(served.pid_file.read_text())["pid"]
    assert pid == served.process.pid
    alfie, isla = (
        demo_person_id(children.alfie.nhs_number),
        demo_person_id(children.isla.nhs_number),
    )

    # --- Before: the gateway is in use. The GP looks Alfie up and records the family's
    # consent to share children's social care information with the practice.
    gp = await run(config, "token", "dr-okafor")
    assert gp.code == 0, gp.err
    gp_token = gp.out.strip()
    before = await ask(served, gp_token, PICTURE, alfie)
    assert AGENCY not in {a["id"] for a in before["data"]["person"]["knownTo"]}
    consent = await ask(served, gp_token, CONSENT, alfie)
    assert consent["data"]["recordConsent"]["decision"] == "PERMIT", consent
    made_before = state_of(state_db)
    assert made_before.links and made_before.consents and made_before.chain

    # --- The council's system, and where the gateway is to find its URL.
    await fill(agency_database, children)
    secret = config.parent / SECRET
    secret.parent.mkdir()
    secret.write_text(agency_database + "\n")
    secret.chmod(0o600)

    # --- From here on, only what the README's walkthrough says, in its order.
    operator = Operator(config)

    # --- agency new, then the edits: the names, the teams, the source, tables and items.
    new = await operator.run("agency", "new", "--kind", "sql", AGENCY)
    assert new.code == 0, new.err
    file = config.parent / "agencies" / f"{AGENCY}.toml"
    assert f"wrote {file}" in new.out and "agency check" in new.out
    text_of = file.read_text()
    assert "fame-gateway reload" in text_of and "url_file" in text_of
    # The agency's name, and its service's: the starting file puts the id's words in both.
    text_of = text_of.replace(
        '"Clunbury Childrens Services"', '"Clunbury Council Children\'s Services"'
    )
    file.write_text(text_of)
    edit(
        file,
        'teams = ["Example Team"]',
        'teams = ["Child Protection Team", "Children in Need Team"]',
    )
    edit(file, 'url_env = "FAME_CLUNBURY_CHILDRENS_SERVICES_DSN"\n', "")
    edit(file, f'# url_file = "{SECRET}"', f'url_file = "{SECRET}"')
    file.write_text(file.read_text().split("[tables.people]", 1)[0] + TABLES_AND_ITEMS)

    # --- agency check: the source passes, the protocol does not list the items yet.
    first = await operator.run("agency", "check", str(file))
    assert first.code == 1, first.out + first.err
    assert "ok    connected to postgresql+asyncpg://" in first.out
    assert "ok    alerts.raised_on -> cp_plans.start_date (Date: 1 values read fit)" in first.out
    fails = [line.strip() for line in first.out.splitlines() if line.strip().startswith("FAIL  ")]
    assert fails == [
        "FAIL  the sharing protocol does not list 13 of the 13 mapped items "
        "(never shared until it does)"
    ], first.out
    assert (
        "not in the sharing protocol: alerts.category, alerts.raised_on, alerts.severity, "
        "alerts.summary, demographics.date_of_birth" in first.out
    )
    proposal = "\n".join(
        line[4:]
        for line in first.out.split("then run `fame-gateway protocol render`:\n", 1)[1]
        .rstrip()
        .splitlines()
    )
    # Where another agency's clause covers the same items it is the model (what the
    # pilots' agencies share, all of these); the clause numbers are the agencies' to give.
    assert "# as clause ISP-2.1 (Who else is involved)" in proposal
    assert "# as clause ISP-9.1 (School record of a pupil)" in proposal
    assert 'items = ["special_needs.ehcp"]' in proposal
    assert f'agencies = ["{AGENCY}"]' in proposal and 'id = "TO-AGREE-1"' in proposal

    # --- The clauses as the agencies signed them, pasted into the protocol; check again.
    protocol = config.parent / "sharing-protocol.toml"
    protocol.write_text(
        protocol.read_text() + "\n# Clunbury children's services\n\n" + agreed(proposal)
    )
    second = await operator.run("agency", "check", str(file))
    assert second.code == 0, second.out + second.err
    assert "ok    the sharing protocol lists every mapped item" in second.out
    assert "Next: an [[issuers]] entry in gateway.toml" in second.out
    assert f"`fame-gateway index import FILE --agency {AGENCY}`" in second.out

    # --- The council's identity provider, and (demo mode) its keys.
    config.write_text(config.read_text() + ISSUER)
    keys = await operator.run("demo-keys")
    assert keys.code == 0, keys.err
    assert f"{AGENCY}.jwks.json" in keys.out and "riverside-gp" not in keys.out

    # --- The person index: one on an NHS number, one on a score, one to review, one new.
    imported = await operator.run(
        "index",
        "import",
        str(people_file(config.parent / "people.csv", children)),
        "--agency",
        AGENCY,
        "--actor",
        "clunbury-it",
    )
    assert imported.code == 0, imported.err
    for line in (
        "linked on a valid NHS number           1",
        "linked on a score >= 28.0              1",
        "queued for review                      1",
        "new people                             1",
    ):
        assert line in imported.out, imported.out
    queue = await operator.run("index", "review", "list")
    assert queue.code == 0, queue.err
    (review_id,) = re.findall(r"^(\S+)  pending", queue.out, re.MULTILINE)
    assert f"{AGENCY} WCS-102: {children.amelia.given_name}" in queue.out
    accepted = await operator.run(
        "index",
        "review",
        "accept",
        review_id,
        "--actor",
        "clunbury-it",
        "--note",
        "same child: moved; confirmed with the school nurse",
    )
    assert accepted.code == 0, accepted.err
    amelia = demo_person_id(children.amelia.nhs_number)
    assert f"linked to {amelia}" in accepted.out

    # --- reload: the running gateway takes the agency and its issuer.
    reloaded = await operator.run("reload", "--pid-file", str(served.pid_file))
    assert reloaded.code == 0, reloaded.out + reloaded.err
    assert f"agencies added {AGENCY}" in reloaded.out

    # --- A token for the council's own social worker, and what she sees.
    subject, name, team = SOCIAL_WORKER
    minted = await operator.run(
        "token",
        "--agency",
        AGENCY,
        "--subject",
        subject,
        "--name",
        name,
        "--role",
        "social_worker",
        "--team",
        team,
    )
    assert minted.code == 0, minted.err
    own = await ask(served, minted.out.strip(), PICTURE, alfie)
    person = own["data"]["person"]
    assert AGENCY in {a["id"] for a in person["knownTo"]}
    assert of_agency(person["involvements"], AGENCY) == [
        {"agency": {"id": AGENCY}, "team": team, "worker": name, "status": "open"}
    ]
    assert of_agency(person["alerts"], AGENCY) == [
        {
            "agency": {"id": AGENCY},
            "category": "neglect",
            "severity": "high",
            "raisedOn": "2026-02-14",
            "summary": "Child protection plan: neglect; core group meets fortnightly.",
        }
    ]
    assert of_agency(person["education"]["specialNeeds"], AGENCY) == [
        {"agency": {"id": AGENCY}, "ehcp": True}
    ]
    assert own["extensions"]["sources"][AGENCY]["status"] == "ok"
    # The child the review linked is hers too, under the person the index already had.
    reviewed = await ask(served, minted.out.strip(), PICTURE, amelia)
    assert AGENCY in {a["id"] for a in reviewed["data"]["person"]["knownTo"]}

    # --- The GP, of another agency, sees what the new clauses allow: the involvement and
    # the plan (modelled on the GP's own clauses), and the EHCP (explicit) only where
    # the family consented: for Alfie, by the consent recorded before the registration.
    after = await ask(served, gp_token, PICTURE, alfie)
    shared = after["data"]["person"]
    assert AGENCY in {a["id"] for a in shared["knownTo"]}
    assert of_agency(shared["involvements"], AGENCY) == of_agency(person["involvements"], AGENCY)
    assert of_agency(shared["alerts"], AGENCY) == of_agency(person["alerts"], AGENCY)
    assert of_agency(shared["education"]["specialNeeds"], AGENCY) == [
        {"agency": {"id": AGENCY}, "ehcp": True}
    ]
    assert withheld(after, AGENCY) == {}
    no_consent = await ask(served, gp_token, PICTURE, isla)
    assert no_consent["data"]["person"]["education"]["specialNeeds"] is None
    assert withheld(no_consent, AGENCY) == {"special_needs.ehcp": "NO_CONSENT"}
    assert of_agency(no_consent["data"]["person"]["involvements"], AGENCY) == [
        {
            "agency": {"id": AGENCY},
            "team": "Children in Need Team",
            "worker": "Jo Hart",
            "status": "open",
        }
    ]

    assert operator.commands == readme_walkthrough()

    # --- Never restarted; nothing made before is lost, the audit chain only grew.
    assert served.process.returncode is None
    assert json.loads(served.pid_file.read_text())["pid"] == pid
    made_after = state_of(state_db)
    assert made_before.links <= made_after.links
    new_links = made_after.links - made_before.links
    (noah,) = [link[0] for link in new_links if link[2] == "WCS-103"]
    assert noah not in {link[0] for link in made_before.links}, "a new person"
    assert new_links == {
        (alfie, AGENCY, "WCS-100", "Child Protection Team"),
        (isla, AGENCY, "WCS-101", "Children in Need Team"),
        (amelia, AGENCY, "WCS-102", "Children in Need Team"),
        (noah, AGENCY, "WCS-103", "Children in Need Team"),
    }
    assert made_after.consents == made_before.consents
    assert made_after.chain[: len(made_before.chain)] == made_before.chain
    assert len(made_after.chain) > len(made_before.chain)
    verified = await run(config, "audit", "verify")
    assert verified.code == 0 and "the audit chain holds" in verified.out, verified.err


def test_the_readme_walks_through_the_commands_this_test_runs() -> None:
    assert readme_walkthrough() == [
        "agency new",
        "agency check",
        "agency check",
        "demo-keys",
        "index import",
        "index review list",
        "index review accept",
        "reload",
        "token",
    ]
