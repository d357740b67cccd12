"""FAME pilot 5: child protection across neighbouring councils.

Charlie lives in Shire and is the subject of a Shire child protection plan (neglect). He
is brought to the emergency department of Severn Valley Hospital, in Wrekin's area,
with a head injury. The ED clinician (ed-singh) treating him has a relationship through
the attendance, but for direct care Shire's plan is not his to see (ISP-3.5 serves
safeguarding and emergencies). Once he records the safeguarding referral he is making,
the plan shows as an alert, under the statute, whatever the consent; and Shire's
children's services, the council that owns the plan, is told at once on its own
endpoint and can review the disclosure. Wrekin's own children's social worker, who is
not involved, sees nothing.

Behind it: the person index links one gateway person to every agency's own identifier
in both councils. And in an emergency a GP of another practice, with no relationship,
breaks glass: a stated reason, a short time limit, and the answer says so.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fame_demo.synthetic import (
    ADULT_SOCIAL_CARE,
    AGENCY_IDS,
    COMMUNITY_HEALTH,
    EMERGENCY_DEPARTMENT,
    HOUSING,
    OAKFIELD_GP,
    RIVERSIDE_GP,
    SCHOOL,
    SHIRE_CHILDRENS,
    WREKIN_ADULT_SOCIAL_CARE,
    WREKIN_CHILDRENS,
    Population,
)
from fame_demo.world import CHILD_PROTECTION_PLAN
from tests.scenarios.helpers import (
    CLAIM_SAFEGUARDING,
    FIELDS,
    NoticeReceiver,
    agencies_in,
    assert_not_available,
    canonical,
    cast_member,
    claim_safeguarding,
    clause_for,
    expected,
    expected_from,
    withheld,
    withheld_agencies,
)
from tests.support import DEMO_CONFIG, ManualClock, World

IRENE = 12  # 94, a Riverside patient known to the council, the trust and housing

#: Each agency's own identifier format, as the person index links it.
LOCAL_ID_FORMATS: dict[str, re.Pattern[str]] = {
    ADULT_SOCIAL_CARE: re.compile(r"ASC-\d{6}"),
    COMMUNITY_HEALTH: re.compile(r"CH-\d{5}"),
    HOUSING: re.compile(r"HSG/\d{4}"),
    RIVERSIDE_GP: re.compile(r"RGP\d{5}"),
    OAKFIELD_GP: re.compile(r"OGP\d{5}"),
    SHIRE_CHILDRENS: re.compile(r"SCS-\d{6}"),
    WREKIN_ADULT_SOCIAL_CARE: re.compile(r"WAS\d{7}"),
    WREKIN_CHILDRENS: re.compile(r"WCS/\d{5}"),
    # A FHIR agency finds people by NHS number, its local id in the index.
    EMERGENCY_DEPARTMENT: re.compile(r"\d{10}"),
    SCHOOL: re.compile(r"P\d{6}"),
}


def indexed_local_id(population: Population, agency: str, nhs_number: str) -> str | None:
    """The local id the index links a person under at an agency: the NHS number for the
    emergency department (FHIR), the agency's own record id elsewhere."""
    if agency == EMERGENCY_DEPARTMENT:
        return nhs_number if population.local_id(agency, nhs_number) is not None else None
    return population.local_id(agency, nhs_number)


#: A practitioner of each agency with a caseload.
PRACTITIONER_OF = {
    ADULT_SOCIAL_CARE: "sw-patel",
    COMMUNITY_HEALTH: "dn-hughes",
    HOUSING: "ho-evans",
    RIVERSIDE_GP: "dr-okafor",
    OAKFIELD_GP: "dr-lewis",
}
REASON = "Found collapsed at a bus stop in Oakfield; carers unreachable, needs medicines list"

#: What the ED clinician asks about the child in front of him.
AT_THE_ED = """{ person(id: "%s") {
  involvements { %s } alerts { %s }
  health { emergencyAttendances { %s } }
  childrensServices { childProtectionPlans { %s } }
} }""" % (
    "%s",
    FIELDS["involvement"],
    FIELDS["alerts"],
    FIELDS["ed_attendances"],
    FIELDS["child_protection_plans"],
)
REFERRAL = "S47-2026-0789"
ED_REASON = "Head injury at 5 with an account that does not fit; referring to children's services"


@pytest.fixture
async def notified(
    tmp_path: Path, population: Population, store_dir: Path
) -> AsyncIterator[tuple[World, NoticeReceiver]]:
    """The demo world with Shire children's services' notice endpoint running."""
    receiver = NoticeReceiver()
    url = await receiver.start()
    agency_file = (DEMO_CONFIG / "agencies" / f"{SHIRE_CHILDRENS}.toml").read_text()
    commented = '# break_glass_webhook = "https://safeguarding.shire.example/fame-notices"'
    assert commented in agency_file
    running = World(tmp_path, population, store_dir)
    await running.start(
        agencies={SHIRE_CHILDRENS: agency_file.replace(commented, f'break_glass_webhook = "{url}"')}
    )
    try:
        yield running, receiver
    finally:
        await running.stop()
        await receiver.stop()


async def test_for_direct_care_the_ed_clinician_sees_the_attendance_but_not_the_plan(
    world: World,
) -> None:
    population = world.population
    charlie, charlie_id = cast_member(population, CHILD_PROTECTION_PLAN)
    agencies = population.agencies_of(charlie.nhs_number)
    assert {SHIRE_CHILDRENS, EMERGENCY_DEPARTMENT} <= set(agencies)
    assert expected(population, charlie, SHIRE_CHILDRENS, "child_protection_plans")

    result = await world.query(AT_THE_ED % charlie_id, as_="ed-singh")
    person = result["data"]["person"]
    # He is in front of the clinician: the attendance is the department's own record...
    assert canonical(person["health"]["emergencyAttendances"]) == canonical(
        expected(population, charlie, EMERGENCY_DEPARTMENT, "ed_attendances")
    )
    # ...and who else is involved, across both councils' agencies.
    assert canonical(person["involvements"]) == canonical(
        expected_from(population, charlie, agencies, "involvement")
    )
    # The plan and Shire's warnings serve safeguarding and emergencies only (ISP-3.5).
    clause = await clause_for(world, SHIRE_CHILDRENS, "child_protection_plans.category")
    assert clause["id"] == "ISP-3.5" and clause["basis"] == "STATUTORY"
    assert set(clause["purposes"]) == {"safeguarding", "emergency"}
    assert "hospital_clinician" in clause["roles"]
    assert person["childrensServices"]["childProtectionPlans"] is None
    assert SHIRE_CHILDRENS not in agencies_in(person["alerts"])
    assert withheld_agencies(result, "alerts") == {SHIRE_CHILDRENS: {"PURPOSE_NOT_PERMITTED"}}
    assert withheld_agencies(result, "child_protection_plans") == {
        SHIRE_CHILDRENS: {"PURPOSE_NOT_PERMITTED"}
    }


async def test_under_safeguarding_the_plan_shows_as_an_alert_and_shire_is_notified(
    notified: tuple[World, NoticeReceiver],
) -> None:
    world, receiver = notified
    population = world.population
    charlie, charlie_id = cast_member(population, CHILD_PROTECTION_PLAN)

    grant = await claim_safeguarding(world, "ed-singh", charlie_id, REFERRAL, ED_REASON)
    result = await world.query(AT_THE_ED % charlie_id, as_="ed-singh")
    assert "errors" not in result, result
    person = result["data"]["person"]

    # The other council's plan, as an alert among the alerts, naming Shire...
    shire_alerts = [a for a in person["alerts"] if a["agency"]["id"] == SHIRE_CHILDRENS]
    assert canonical(shire_alerts) == canonical(
        expected(population, charlie, SHIRE_CHILDRENS, "alerts")
    )
    assert {a["category"] for a in shire_alerts} == {"child protection"}
    # ...with the plan itself under Shire's children's services heading.
    assert canonical(person["childrensServices"]["childProtectionPlans"]) == canonical(
        expected(population, charlie, SHIRE_CHILDRENS, "child_protection_plans")
    )
    assert SHIRE_CHILDRENS not in withheld_agencies(result, "alerts")

    # Shire's own endpoint hears of it: who, from where, under which grant and purpose.
    notice = await receiver.first()
    assert notice == {
        "event": "safeguarding_disclosure",
        "purpose": "safeguarding",
        "grant": grant,
        "agency": SHIRE_CHILDRENS,
        "personId": charlie_id,
        "practitioner": "ed-singh",
        "requesterAgency": EMERGENCY_DEPARTMENT,
        "reason": ED_REASON,
        "expiresAt": notice["expiresAt"],
    }
    assert [n["agency"] for n in receiver.received] == [SHIRE_CHILDRENS]

    # Shire's Caldicott guardian finds the grant to review, and the disclosure in the audit.
    reviews = await world.query(
        "{ breakGlassReviews { grant { id purpose } practitioner agency agenciesNotified } }",
        as_="cg-hale",
    )
    (review,) = [r for r in reviews["data"]["breakGlassReviews"] if r["grant"]["id"] == grant]
    assert review["grant"]["purpose"] == "safeguarding"
    assert review["agency"] == EMERGENCY_DEPARTMENT
    # Every agency whose records the grant opened is told; Shire, the plan's owner, among them.
    assert SHIRE_CHILDRENS in review["agenciesNotified"]
    assert set(review["agenciesNotified"]) <= set(population.agencies_of(charlie.nhs_number))
    audit = await world.query(
        '{ disclosures(personId: "%s") { kind practitioner purpose statutory '
        "agencies { agency disclosed } } }" % charlie_id,
        as_="cg-hale",
    )
    (seen,) = [
        d
        for d in audit["data"]["disclosures"]
        if d["kind"] == "disclosure" and d["purpose"] == "safeguarding"
    ]
    assert seen["statutory"] is True
    (shire,) = [a for a in seen["agencies"] if a["agency"] == SHIRE_CHILDRENS]
    assert "child_protection_plans.category" in shire["disclosed"]
    assert "alerts.summary" in shire["disclosed"]


async def test_the_other_councils_uninvolved_social_worker_sees_nothing(world: World) -> None:
    population = world.population
    charlie, charlie_id = cast_member(population, CHILD_PROTECTION_PLAN)
    assert WREKIN_CHILDRENS not in population.agencies_of(charlie.nhs_number)
    result = await world.query(AT_THE_ED % charlie_id, as_="csw-okoro")
    assert_not_available(result)
    refused = await world.post(
        CLAIM_SAFEGUARDING % (charlie_id, REFERRAL, ED_REASON), as_="csw-okoro"
    )
    assert refused.json()["errors"][0]["extensions"]["code"] in ("NOT_FOUND", "FORBIDDEN")
    for plan in expected(population, charlie, SHIRE_CHILDRENS, "alerts"):
        assert plan["summary"] not in refused.text


EMERGENCY = """{ person(id: "%s") {
  involvements { %s } alerts { %s }
  health { medications { %s } allergies { agency { id } substance reaction }
           conditions { agency { id } name code } }
} }""" % ("%s", FIELDS["involvement"], FIELDS["alerts"], FIELDS["medications"])


async def test_the_index_links_every_agencys_own_identifier(world: World) -> None:
    population = world.population
    assert world.gateway is not None
    ids = [world.person_id(i) for i in range(len(population.people))]
    links = await world.gateway.index.links(ids)
    assert set(links) == set(ids)
    for index, person in enumerate(population.people):
        person_links = links[ids[index]]
        assert set(person_links) == set(population.agencies_of(person.nhs_number))
        for agency, agency_links in person_links.items():
            # One link per team holding the person, all to the agency's one local id.
            assert {link.local_id for link in agency_links} == {
                indexed_local_id(population, agency, person.nhs_number)
            }
            for link in agency_links:
                assert LOCAL_ID_FORMATS[agency].fullmatch(link.local_id), (agency, link.local_id)
                assert link.current
            # A GP practice is one team, named by the practice id; elsewhere the teams
            # holding the person decide which practitioners have a relationship.
            teams = tuple(link.team for link in agency_links)
            assert sorted(teams) == sorted(population.holding_teams(agency, person.nhs_number))
            if agency in (RIVERSIDE_GP, OAKFIELD_GP):
                assert teams == (agency,)
    # No two people share an agency's local id.
    for agency in AGENCY_IDS:
        held = [
            {link.local_id for link in person_links.get(agency, ())}
            for person_links in links.values()
        ]
        local_ids = [local_id for ids in held for local_id in ids]
        assert len(local_ids) == len(set(local_ids)) == len(population.people_of(agency))


async def test_the_same_person_is_reached_through_each_agencys_records(world: World) -> None:
    population = world.population
    irene = population.people[IRENE]
    irene_id = world.person_id(IRENE)
    agencies = population.agencies_of(irene.nhs_number)
    assert len(agencies) == 4

    # Four agencies, four identifier schemes, one person.
    assert world.gateway is not None
    links = (await world.gateway.index.links([irene_id]))[irene_id]
    local_ids = {agency: links[agency][0].local_id for agency in agencies}
    assert len(set(local_ids.values())) == 4

    for agency in agencies:
        practitioner = PRACTITIONER_OF[agency]
        # On each agency's caseload, under the one gateway id...
        caseload = await world.query(
            "{ caseload(first: 100) { id involvements { %s } } }" % FIELDS["involvement"],
            as_=practitioner,
        )
        (entry,) = [p for p in caseload["data"]["caseload"] if p["id"] == irene_id]
        # ...with every agency's record found through that agency's own local id.
        assert canonical(entry["involvements"]) == canonical(
            expected_from(population, irene, agencies, "involvement")
        ), practitioner
        own = [i for i in entry["involvements"] if i["agency"]["id"] == agency]
        (row,) = population.rows(agency, local_ids[agency], "involvement")
        assert own == [{"agency": {"id": agency}, **{k: str(v) for k, v in row.items()}}]

    # Exact identifiers from any of them lead to the same person.
    found = await world.query(
        '{ findPeople(surname: "%s", dateOfBirth: "%s", postcode: "%s") { personId agencies } }'
        % (irene.family_name, irene.date_of_birth, irene.postcode),
        as_="ho-evans",
    )
    assert found["data"]["findPeople"] == [{"personId": irene_id, "agencies": sorted(agencies)}]


async def test_break_glass_by_another_practices_gp_is_time_limited_and_reported(
    clocked: tuple[World, ManualClock],
) -> None:
    world, clock = clocked
    population = world.population
    irene = population.people[IRENE]
    irene_id = world.person_id(IRENE)
    assert population.gp_of(irene.nhs_number) == RIVERSIDE_GP  # dr-lewis is at Oakfield
    agencies = population.agencies_of(irene.nhs_number)

    before = await world.query(EMERGENCY % irene_id, as_="dr-lewis")
    assert_not_available(before)
    assert "breakGlass" not in before["extensions"]

    terms = await world.query("{ sharingProtocol { breakGlass { roles hours } } }")
    hours = terms["data"]["sharingProtocol"]["breakGlass"]["hours"]
    assert "gp" in terms["data"]["sharingProtocol"]["breakGlass"]["roles"]
    granted = await world.query(
        'mutation { breakGlass(personId: "%s", reasonCategory: "cannot_consent", '
        'reason: "%s") '
        "{ id personId reason grantedAt expiresAt endedAt } }" % (irene_id, REASON),
        as_="dr-lewis",
    )
    grant = granted["data"]["breakGlass"]
    assert grant["personId"] == irene_id and grant["reason"] == REASON
    assert grant["endedAt"] is None
    lasts = dt.datetime.fromisoformat(grant["expiresAt"]) - dt.datetime.fromisoformat(
        grant["grantedAt"]
    )
    assert lasts == dt.timedelta(hours=hours) <= dt.timedelta(hours=4)

    during = await world.query(EMERGENCY % irene_id, as_="dr-lewis")
    person = during["data"]["person"]
    assert canonical(person["health"]["medications"]) == canonical(
        expected(population, irene, RIVERSIDE_GP, "medications")
    )
    assert canonical(person["health"]["allergies"]) == canonical(
        expected(population, irene, RIVERSIDE_GP, "allergies")
    )
    assert canonical(person["involvements"]) == canonical(
        expected_from(population, irene, agencies, "involvement")
    )
    # Every agency's alerts, the council's statutory warnings included (emergency purpose).
    assert canonical(person["alerts"]) == canonical(
        expected_from(population, irene, agencies, "alerts")
    )
    (reported,) = during["extensions"]["breakGlass"]
    assert reported == {
        "grant": grant["id"],
        "personId": irene_id,
        "reasonCategory": "cannot_consent",
        "reason": REASON,
        "expiresAt": reported["expiresAt"],
    }
    assert dt.datetime.fromisoformat(reported["expiresAt"]) == dt.datetime.fromisoformat(
        grant["expiresAt"]
    )
    # Break-glass is not a master key: diagnoses are not shared for emergencies under
    # the protocol (ISP-4.2), and the coded record is sealed.
    reasons = withheld(during)
    assert reasons[(RIVERSIDE_GP, "conditions.name")] == "PURPOSE_NOT_PERMITTED"
    assert reasons[(RIVERSIDE_GP, "conditions.code")] == "SEALED"

    # Still open a minute before expiry; closed once the time limit has passed.
    clock.now += dt.timedelta(hours=hours) - dt.timedelta(minutes=1)
    late = await world.query(EMERGENCY % irene_id, as_="dr-lewis")
    assert late["data"]["person"]["health"]["medications"]
    clock.now += dt.timedelta(minutes=2)
    after = await world.query(EMERGENCY % irene_id, as_="dr-lewis")
    assert_not_available(after)
    assert "breakGlass" not in after["extensions"]
