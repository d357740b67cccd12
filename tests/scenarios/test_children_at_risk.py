"""FAME pilot 4: identification, referral and tracking of children at risk.

A practitioner with a concern about a child first needs to know which agencies are
involved, without seeing records they have no relationship to justify: exact
identifiers give the person index entry and nothing more. Those who do work with the
child see the concerns raised, and for a safeguarding enquiry the council's warnings are
shared under a statutory duty, to the roles the protocol names, whatever the consent.

The demo's council service is adult social care and holds no children, so the statutory
share is shown for an adult at risk known to both the council and the community trust.
"""

from __future__ import annotations

from fame_demo.synthetic import (
    ADULT_SOCIAL_CARE,
    COMMUNITY_HEALTH,
    Population,
    SyntheticPerson,
)
from tests.scenarios.helpers import (
    CLAIM_SAFEGUARDING,
    FIELDS,
    REFERRAL_REASON,
    agencies_in,
    canonical,
    claim_safeguarding,
    expected,
    expected_from,
    withheld,
    withheld_agencies,
)
from tests.support import World

ROY_HEIGHWAY = 3  # an older man known to the council, the trust, housing and Oakfield

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
