"""FAME pilot 5: child protection across five neighbouring councils.

People move across council boundaries (Shropshire and Telford, a hospital admission in
the next county), and each agency knows them under its own identifier. The person index
links one gateway person to every agency's local id, so the same person is reached
through each agency's own records. In an emergency a GP of another practice, with no
relationship, breaks glass: a stated reason, a short time limit, and the answer says so.
"""

from __future__ import annotations

import datetime as dt
import re

from fame_demo.synthetic import (
    ADULT_SOCIAL_CARE,
    AGENCY_IDS,
    COMMUNITY_HEALTH,
    HOUSING,
    OAKFIELD_GP,
    RIVERSIDE_GP,
)
from tests.scenarios.helpers import (
    FIELDS,
    assert_not_available,
    canonical,
    expected,
    expected_from,
    withheld,
)
from tests.support import ManualClock, World

IRENE = 12  # 94, a Riverside patient known to the council, the trust and housing

#: Each agency's own identifier format.
LOCAL_ID_FORMATS: dict[str, re.Pattern[str]] = {
    ADULT_SOCIAL_CARE: re.compile(r"ASC-\d{6}"),
    COMMUNITY_HEALTH: re.compile(r"CH-\d{5}"),
    HOUSING: re.compile(r"HSG/\d{4}"),
    RIVERSIDE_GP: re.compile(r"RGP\d{5}"),
    OAKFIELD_GP: re.compile(r"OGP\d{5}"),
}
#: A practitioner of each agency with a caseload.
PRACTITIONER_OF = {
    ADULT_SOCIAL_CARE: "sw-patel",
    COMMUNITY_HEALTH: "dn-hughes",
    HOUSING: "ho-evans",
    RIVERSIDE_GP: "dr-okafor",
    OAKFIELD_GP: "dr-lewis",
}
REASON = "Found collapsed at a bus stop in Oakfield; carers unreachable, needs medicines list"

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
                population.local_id(agency, person.nhs_number)
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
