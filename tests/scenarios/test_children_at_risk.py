"""FAME pilot 4: identification, referral and tracking of children at risk.

Lily lives in Wrekin. Her school's designated safeguarding lead, the police and her GP
have each raised a concern; no single concern looked serious alone. Everyone working
with her (Wrekin's children's social worker, the school, her GP practice, the school
nurse) sees who else is involved and every concern raised, each naming who raised it and
what was done, under a statutory clause (ISP-8.2) that her mother's objection cannot
close. Practitioners not working with her (Shire's children's social worker, another
practice's GP, an adult district nurse) find, by exact identifiers, only her index entry:
which agencies are involved, never what they hold.

The same statute for adults: the council's safeguarding warnings reach health partners
for an enquiry they have recorded, whatever the person's objection.
"""

from __future__ import annotations

from fame_demo.synthetic import (
    ADULT_SOCIAL_CARE,
    COMMUNITY_HEALTH,
    OAKFIELD_GP,
    SCHOOL,
    WREKIN_CHILDRENS,
    Population,
    SyntheticPerson,
)
from fame_demo.world import CHILD_AT_RISK
from tests.scenarios.helpers import (
    CLAIM_SAFEGUARDING,
    FIELDS,
    REFERRAL_REASON,
    agencies_in,
    assert_not_available,
    canonical,
    cast_member,
    claim_safeguarding,
    clause_for,
    expected,
    expected_from,
    parent_of,
    record_consent,
    withheld,
    withheld_agencies,
)
from tests.support import World

ROY_HEIGHWAY = 3  # an older man known to the council, the trust, housing and Oakfield

#: Those working with Lily: each agency's practitioner with a relationship.
INVOLVED = ("csw-okoro", "senco-barnes", "dr-lewis", "sn-pemberton")
#: Those who are not: another council's children's social worker, another practice's GP,
#: and a nurse of the same trust whose service does not hold her.
UNINVOLVED = ("csw-ahmed", "dr-okafor", "dn-hughes")
CONCERNS = """{ person(id: "%s") { involvements { %s } concerns { %s } } }""" % (
    "%s",
    FIELDS["involvement"],
    FIELDS["concerns"],
)


async def test_those_working_with_lily_see_who_is_involved_and_every_concern_raised(
    world: World,
) -> None:
    population = world.population
    lily, lily_id = cast_member(population, CHILD_AT_RISK)
    agencies = population.agencies_of(lily.nhs_number)
    assert {WREKIN_CHILDRENS, SCHOOL, OAKFIELD_GP, COMMUNITY_HEALTH} <= set(agencies)
    concerns = expected_from(population, lily, agencies, "concerns")
    raised_by = {c["raisedBy"] for c in concerns}
    assert len(concerns) >= 4 and len(raised_by) >= 4, "several agencies, several concerns"

    clause = await clause_for(world, WREKIN_CHILDRENS, "concerns.summary")
    assert clause["id"] == "ISP-8.2" and clause["basis"] == "STATUTORY"
    assert "direct_care" in clause["purposes"]
    for practitioner in INVOLVED:
        result = await world.query(CONCERNS % lily_id, as_=practitioner)
        assert "errors" not in result, (practitioner, result)
        person = result["data"]["person"]
        # Who else is involved, from every agency, each naming team and worker...
        assert canonical(person["involvements"]) == canonical(
            expected_from(population, lily, agencies, "involvement")
        ), practitioner
        # ...and every concern, from the council's referrals and the school's own log.
        assert canonical(person["concerns"]) == canonical(concerns), practitioner
        assert agencies_in(person["concerns"]) == {WREKIN_CHILDRENS, SCHOOL}
        assert not withheld(result), practitioner


async def test_her_mothers_objection_does_not_close_the_concerns(world: World) -> None:
    population = world.population
    lily, lily_id = cast_member(population, CHILD_AT_RISK)
    mother = parent_of(population, lily)
    objection = await record_consent(
        world,
        "senco-barnes",
        lily_id,
        category="safeguarding",
        agency="*",
        decision="DENY",
        reference=f"Letter of 2026-05-12 from {mother.full_name}, her mother",
    )
    assert objection["decision"] == "DENY"
    result = await world.query(CONCERNS % lily_id, as_="dr-lewis")
    # Shared under a statutory duty (ISP-8.2): the objection is recorded, and overridden.
    assert canonical(result["data"]["person"]["concerns"]) == canonical(
        expected_from(population, lily, population.agencies_of(lily.nhs_number), "concerns")
    )
    assert not withheld_agencies(result, "concerns")


async def test_those_not_working_with_her_find_only_the_index_entry(world: World) -> None:
    population = world.population
    lily, lily_id = cast_member(population, CHILD_AT_RISK)
    agencies = population.agencies_of(lily.nhs_number)
    for practitioner in UNINVOLVED:
        found = await world.query(INDEX_ENTRY % f'nhsNumber: "{lily.nhs_number}"', as_=practitioner)
        # Which agencies are involved, so the practitioner knows whom to call; no more.
        assert found["data"]["findPeople"] == [
            {
                "personId": lily_id,
                "givenName": lily.given_name,
                "familyName": lily.family_name,
                "dateOfBirth": lily.date_of_birth.isoformat(),
                "agencies": sorted(agencies),
            }
        ], practitioner
        response = await world.post(CONCERNS % lily_id, as_=practitioner)
        assert_not_available(response.json())
        for concern in expected_from(population, lily, agencies, "concerns"):
            assert concern["summary"] not in response.text, practitioner


INDEX_ENTRY = "{ findPeople(%s) { personId givenName familyName dateOfBirth agencies } }"
DETAIL = """{ person(id: "%s") {
  involvements { %s } alerts { %s } assessments { %s } timeline { %s }
} }""" % ("%s", FIELDS["involvement"], FIELDS["alerts"], FIELDS["assessments"], FIELDS["timeline"])
ALERTS = '{ person(id: "%s") { alerts { %s } assessments { %s } } }' % (
    "%s",
    FIELDS["alerts"],
    FIELDS["assessments"],
)


def _children(population: Population) -> list[tuple[int, SyntheticPerson]]:
    def age(person: SyntheticPerson) -> int:
        on, born = population.as_of, person.date_of_birth
        return on.year - born.year - ((on.month, on.day) < (born.month, born.day))

    return [(i, p) for i, p in enumerate(population.people) if age(p) < 18]


async def test_without_a_relationship_exact_identifiers_give_only_the_index_entry(
    world: World,
) -> None:
    population = world.population
    children = _children(population)
    assert children
    for index, child in children:
        # The social worker's council holds no record of the child.
        assert population.local_id(ADULT_SOCIAL_CARE, child.nhs_number) is None
        found = await world.query(INDEX_ENTRY % f'nhsNumber: "{child.nhs_number}"', as_="sw-patel")
        assert found["data"]["findPeople"] == [
            {
                "personId": world.person_id(index),
                "givenName": child.given_name,
                "familyName": child.family_name,
                "dateOfBirth": child.date_of_birth.isoformat(),
                "agencies": sorted(population.agencies_of(child.nhs_number)),
            }
        ]
        # A near miss or partial details find no one.
        near = child.nhs_number[:-1] + str((int(child.nhs_number[-1]) + 1) % 10)
        missed = await world.query(INDEX_ENTRY % f'nhsNumber: "{near}"', as_="sw-patel")
        assert missed["data"]["findPeople"] == []
        partial = await world.query(INDEX_ENTRY % f'surname: "{child.family_name}"', as_="sw-patel")
        assert partial["data"] is None and partial["errors"]

        # Asking for the record gives nothing; safeguarding cannot even be established
        # without a relationship.
        refused = await world.post(
            CLAIM_SAFEGUARDING % (world.person_id(index), "SGR-2026-0456", REFERRAL_REASON),
            as_="sw-patel",
        )
        assert refused.json()["errors"][0]["extensions"]["code"] in ("NOT_FOUND", "FORBIDDEN")
        for purpose in ("direct_care",):
            response = await world.post(
                DETAIL % world.person_id(index), as_="sw-patel", purpose=purpose
            )
            result = response.json()
            # Answered as an unknown id is: the record's existence is not confirmed either.
            assert result["data"] == {"person": None}
            (error,) = result["errors"]
            assert error["extensions"] == {"code": "NOT_FOUND"}
            assert withheld(result) == {}
            assert result["extensions"]["sources"] == {}  # no agency was even asked
            agencies = population.agencies_of(child.nhs_number)
            for record_set in ("involvement", "alerts", "timeline"):
                for record in expected_from(population, child, agencies, record_set):
                    for value in record.values():
                        if isinstance(value, str) and len(value) > 12:
                            assert value not in response.text, (child.full_name, value)


async def test_those_working_with_the_child_see_the_concerns_raised(world: World) -> None:
    population = world.population
    index, child = next(
        (i, c)
        for i, c in _children(population)
        if expected(population, c, COMMUNITY_HEALTH, "alerts")
        and expected(population, c, population.gp_of(c.nhs_number), "alerts")
    )
    practice = population.gp_of(child.nhs_number)
    # For care, the school nurse sees every agency's concerns about the child.
    care = await world.query(ALERTS % world.person_id(index), as_="sn-pemberton")
    assert canonical(care["data"]["person"]["alerts"]) == canonical(
        expected_from(population, child, (COMMUNITY_HEALTH, practice), "alerts")
    )
    assert not withheld(care)
    # Claiming safeguarding by header alone is refused: it is established by recording
    # the referral it serves.
    claimed = await world.post(
        ALERTS % world.person_id(index), as_="sn-pemberton", purpose="safeguarding"
    )
    assert claimed.status_code == 403
    assert claimed.json()["errors"][0]["extensions"]["code"] == "PURPOSE_NOT_ESTABLISHED"
    await claim_safeguarding(world, "sn-pemberton", world.person_id(index))
    # For the safeguarding enquiry, her own trust's flags still; the practice shares its
    # alerts for care and emergencies only (ISP-3.1), and the answer says so.
    enquiry = await world.query(ALERTS % world.person_id(index), as_="sn-pemberton")
    alerts = enquiry["data"]["person"]["alerts"]
    assert canonical(alerts) == canonical(expected(population, child, COMMUNITY_HEALTH, "alerts"))
    assert withheld_agencies(enquiry, "alerts") == {practice: {"PURPOSE_NOT_PERMITTED"}}
    assert practice not in agencies_in(alerts)


async def test_for_safeguarding_the_councils_warnings_are_shared_under_statute(
    world: World,
) -> None:
    population = world.population
    person = population.people[ROY_HEIGHWAY]
    person_id = world.person_id(ROY_HEIGHWAY)
    agencies = population.agencies_of(person.nhs_number)
    assert ADULT_SOCIAL_CARE in agencies and COMMUNITY_HEALTH in agencies
    council_alerts = expected(population, person, ADULT_SOCIAL_CARE, "alerts")
    council_assessments = expected(population, person, ADULT_SOCIAL_CARE, "assessments")
    assert council_alerts and council_assessments

    protocol = await world.query(
        "{ sharingProtocol { clauses { id agencies items basis purposes roles } } }"
    )
    (clause,) = [
        c
        for c in protocol["data"]["sharingProtocol"]["clauses"]
        if ADULT_SOCIAL_CARE in c["agencies"] and "alerts.summary" in c["items"]
    ]
    assert clause["basis"] == "STATUTORY" and "safeguarding" in clause["purposes"]
    assert "nurse" in clause["roles"] and "housing_officer" not in clause["roles"]

    # He has objected to sharing safeguarding information: a statutory share overrides it.
    objection = await world.query(
        """mutation { recordConsent(input: {personId: "%s", category: "safeguarding",
        recipientAgency: "*", decision: DENY, reference: "Letter of 2026-04-30"})
        { id decision } }"""
        % person_id,
        as_="sw-patel",
    )
    assert objection["data"]["recordConsent"]["decision"] == "DENY"

    # For direct care, the council's warnings are not shared with the nurse...
    care = await world.query(ALERTS % person_id, as_="dn-hughes")
    assert ADULT_SOCIAL_CARE not in agencies_in(care["data"]["person"]["alerts"])
    assert withheld_agencies(care, "alerts") == {ADULT_SOCIAL_CARE: {"PURPOSE_NOT_PERMITTED"}}
    assert withheld_agencies(care, "assessments") == {ADULT_SOCIAL_CARE: {"PURPOSE_NOT_PERMITTED"}}

    # ...for a safeguarding enquiry, once the nurse has recorded it, they are, with the
    # council's Care Act assessments.
    await claim_safeguarding(world, "dn-hughes", person_id)
    enquiry = await world.query(ALERTS % person_id, as_="dn-hughes")
    shown = enquiry["data"]["person"]
    council = [a for a in shown["alerts"] if a["agency"]["id"] == ADULT_SOCIAL_CARE]
    assert canonical(council) == canonical(council_alerts)
    assert canonical(
        a for a in shown["assessments"] if a["agency"]["id"] == ADULT_SOCIAL_CARE
    ) == canonical(council_assessments)
    assert ADULT_SOCIAL_CARE not in withheld_agencies(enquiry, "alerts")
    assert ADULT_SOCIAL_CARE not in withheld_agencies(enquiry, "assessments")

    # The statute names roles: a housing officer may not even establish safeguarding,
    # and for care sees none of the council's warnings.
    refused = await world.post(
        CLAIM_SAFEGUARDING % (person_id, "S42-2026-00123", REFERRAL_REASON), as_="ho-evans"
    )
    assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    housing = await world.query(ALERTS % person_id, as_="ho-evans")
    assert ADULT_SOCIAL_CARE not in agencies_in(housing["data"]["person"]["alerts"])
    assert withheld_agencies(housing, "alerts")[ADULT_SOCIAL_CARE] == {"ROLE_NOT_PERMITTED"}
