"""FAME pilot 6: housing benefit inter-working.

Gareth rents from Shire Council and his housing benefit is suspended; his arrears grow.
His mental health social worker (sw-carver) is helping him sort it out, but where his
claim stands is financial information (ISP-7.5, explicit): she sees it only once his
consent is recorded, and from the next query after he withdraws it, no longer. The
housing officer sees the claims as her own service's record throughout, a GP never (the
clause is not for GPs), and the council's guardian finds each step in the audit.

And for Doreen, a tenant with care at home: the housing officer supporting her through a
benefit change needs to know what care is going into the home, next to the tenancy,
and nothing the protocol keeps from housing officers, such as her medicines. Rent
arrears are financial information: the housing service's own officer sees its own
account, but the council's social worker (sw-patel) helping with the benefit claim sees
them only once the tenant's consent is recorded, and no longer once it is withdrawn.
"""

from __future__ import annotations

from fame_demo.synthetic import ADULT_SOCIAL_CARE, HOUSING, RIVERSIDE_GP
from fame_demo.world import HOUSING_BENEFIT_CLAIMANT
from tests.scenarios.helpers import (
    FIELDS,
    canonical,
    cast_member,
    clause_for,
    expected,
    record_consent,
    withdraw_consent,
    withheld,
)
from tests.support import World

DOREEN = 1  # a council tenant in arrears, with home care and telecare arranged

PICTURE = """{ person(id: "%s") {
  socialCare { cases { agency { id } status primaryNeed } carePackages { %s } }
  housing { tenancies { %s } }
  health { medications { name dose } allergies { substance } }
} }""" % ("%s", FIELDS["care_packages"], FIELDS["tenancies"])


CLAIMS = '{ person(id: "%s") { housing { benefitClaims { %s } } } }' % (
    "%s",
    FIELDS["benefit_claims"],
)
CLAIM_ITEMS = {
    (HOUSING, f"benefit_claims.{field}")
    for field in ("benefit", "status", "weekly_amount", "submitted_on", "decided_on")
}


async def test_claim_status_reaches_the_social_worker_with_consent_and_not_after_withdrawal(
    world: World,
) -> None:
    population = world.population
    gareth, gareth_id = cast_member(population, HOUSING_BENEFIT_CLAIMANT)
    claims = expected(population, gareth, HOUSING, "benefit_claims")
    assert any(c["status"] == "suspended" for c in claims)
    assert ADULT_SOCIAL_CARE in population.agencies_of(gareth.nhs_number)
    clause = await clause_for(world, HOUSING, "benefit_claims.status")
    assert (clause["id"], clause["basis"]) == ("ISP-7.5", "EXPLICIT")

    # The housing service's own record, for its officer.
    own = await world.query(CLAIMS % gareth_id, as_="ho-evans")
    assert canonical(own["data"]["person"]["housing"]["benefitClaims"]) == canonical(claims)

    # Without his consent the social worker is told it exists and why she cannot see it.
    before = await world.query(CLAIMS % gareth_id, as_="sw-carver")
    assert before["data"]["person"]["housing"]["benefitClaims"] is None
    assert withheld(before) == dict.fromkeys(CLAIM_ITEMS, "NO_CONSENT")

    consent = await record_consent(
        world,
        "ho-evans",
        gareth_id,
        category="benefits",
        agency=ADULT_SOCIAL_CARE,
        reference="Signed consent HB-2207, scanned to the claim file",
    )
    during = await world.query(CLAIMS % gareth_id, as_="sw-carver")
    assert canonical(during["data"]["person"]["housing"]["benefitClaims"]) == canonical(claims)
    assert not withheld(during)

    # Consent to the council's social workers is not consent for his GP, whose role the
    # clause leaves out whatever he agrees to.
    gp = await world.query(CLAIMS % gareth_id, as_="dr-okafor")
    assert gp["data"]["person"]["housing"]["benefitClaims"] is None
    assert set(withheld(gp).values()) == {"ROLE_NOT_PERMITTED"}

    await withdraw_consent(world, "ho-evans", str(consent["id"]))
    after = await world.query(CLAIMS % gareth_id, as_="sw-carver")
    assert after["data"]["person"]["housing"]["benefitClaims"] is None
    assert withheld(after) == dict.fromkeys(CLAIM_ITEMS, "NO_CONSENT")

    # The council's guardian sees the three requests: withheld, disclosed, withheld.
    audit = await world.query(
        '{ disclosures(personId: "%s") { kind practitioner '
        "agencies { agency disclosed withheld { item reason } } } }" % gareth_id,
        as_="cg-morgan",
    )
    steps = []
    for record in audit["data"]["disclosures"]:
        if record["kind"] != "disclosure" or record["practitioner"] != "sw-carver":
            continue
        (housing,) = [a for a in record["agencies"] if a["agency"] == HOUSING]
        steps.append(
            (
                "benefit_claims.status" in housing["disclosed"],
                {w["reason"] for w in housing["withheld"] if w["item"].startswith("benefit_")},
            )
        )
    assert steps == [(False, {"NO_CONSENT"}), (True, set()), (False, {"NO_CONSENT"})]


async def test_the_housing_officer_sees_the_care_in_the_home_with_the_tenancy(
    world: World,
) -> None:
    population = world.population
    doreen = population.people[DOREEN]
    assert {ADULT_SOCIAL_CARE, HOUSING} <= set(population.agencies_of(doreen.nhs_number))
    (tenancy,) = expected(population, doreen, HOUSING, "tenancies")
    assert tenancy["rentArrearsWeeks"] > 0

    result = await world.query(PICTURE % world.person_id(DOREEN), as_="ho-evans")
    assert "errors" not in result
    person = result["data"]["person"]

    # The tenancy is her own service's record, arrears and all.
    assert person["housing"]["tenancies"] == [tenancy]

    # What care goes into the home, and who provides it (ISP-6.1)...
    packages = person["socialCare"]["carePackages"]
    assert packages
    assert canonical(packages) == canonical(
        {**record, "hoursPerWeek": None, "startedOn": None}
        for record in expected(
            population, doreen, ADULT_SOCIAL_CARE, "care_packages", ("service", "provider")
        )
    )
    (case_row,) = expected(population, doreen, ADULT_SOCIAL_CARE, "social_care_cases")
    assert person["socialCare"]["cases"] == [
        {"agency": {"id": ADULT_SOCIAL_CARE}, "status": case_row["status"], "primaryNeed": None}
    ]
    # ...but not the needs and package detail (ISP-6.2 is not for housing officers).
    reasons = withheld(result)
    assert reasons[(ADULT_SOCIAL_CARE, "care_packages.hours_per_week")] == "ROLE_NOT_PERMITTED"
    assert reasons[(ADULT_SOCIAL_CARE, "care_packages.started_on")] == "ROLE_NOT_PERMITTED"
    assert reasons[(ADULT_SOCIAL_CARE, "social_care_cases.primary_need")] == "ROLE_NOT_PERMITTED"

    # Her medicines and allergies are not for housing officers at all.
    assert expected(population, doreen, RIVERSIDE_GP, "medications")
    assert person["health"] == {"medications": None, "allergies": None}
    for item in ("medications.name", "medications.dose", "allergies.substance"):
        assert reasons[(RIVERSIDE_GP, item)] == "ROLE_NOT_PERMITTED", item
    assert not {reason for (agency, _), reason in reasons.items() if agency == HOUSING}, (
        "nothing of her own service's is withheld from her"
    )


async def test_consent_cannot_give_housing_officers_what_the_protocol_does_not(
    world: World,
) -> None:
    doreen_id = world.person_id(DOREEN)
    recorded = await world.query(
        """mutation { recordConsent(input: {personId: "%s", category: "health",
        recipientRole: "housing_officer", decision: PERMIT,
        reference: "Tenant's note 2026-05-10, housing file"}) { id decision } }"""
        % doreen_id,
        as_="ho-evans",
    )
    assert recorded["data"]["recordConsent"]["decision"] == "PERMIT"
    result = await world.query(PICTURE % doreen_id, as_="ho-evans")
    assert result["data"]["person"]["health"]["medications"] is None
    assert withheld(result)[(RIVERSIDE_GP, "medications.name")] == "ROLE_NOT_PERMITTED"


async def test_rent_arrears_reach_the_social_worker_only_with_the_tenants_consent(
    world: World,
) -> None:
    population = world.population
    doreen = population.people[DOREEN]
    doreen_id = world.person_id(DOREEN)
    (tenancy,) = expected(population, doreen, HOUSING, "tenancies")
    arrears_item = (HOUSING, "tenancies.rent_arrears_weeks")

    before = await world.query(PICTURE % doreen_id, as_="sw-patel")
    (shown,) = before["data"]["person"]["housing"]["tenancies"]
    assert shown == {**tenancy, "rentArrearsWeeks": None}  # the tenancy, but not the arrears
    assert withheld(before)[arrears_item] == "NO_CONSENT"
    # Care detail is the social worker's own council's record.
    assert canonical(before["data"]["person"]["socialCare"]["carePackages"]) == canonical(
        expected(population, doreen, ADULT_SOCIAL_CARE, "care_packages")
    )

    # The tenant agrees at a home visit; the housing officer, who works with her, records it.
    recorded = await world.query(
        """mutation { recordConsent(input: {personId: "%s", item: "tenancies.rent_arrears_weeks",
        recipientAgency: "%s", decision: PERMIT,
        reference: "Signed consent HB-12, scanned to the tenancy file"})
        { id personId scopeKind scope recipientKind recipient decision recordedBy } }"""
        % (doreen_id, ADULT_SOCIAL_CARE),
        as_="ho-evans",
    )
    consent = recorded["data"]["recordConsent"]
    assert consent["personId"] == doreen_id
    assert (consent["scopeKind"], consent["scope"]) == ("item", "tenancies.rent_arrears_weeks")
    assert (consent["recipientKind"], consent["recipient"]) == ("agency", ADULT_SOCIAL_CARE)
    assert consent["decision"] == "PERMIT" and "ho-evans" in consent["recordedBy"]

    after = await world.query(PICTURE % doreen_id, as_="sw-patel")
    assert after["data"]["person"]["housing"]["tenancies"] == [tenancy]
    assert arrears_item not in withheld(after)

    # The social worker can see the consent on record too.
    listed = await world.query(
        '{ consents(personId: "%s") { id scope recipient decision withdrawnAt } }' % doreen_id,
        as_="sw-patel",
    )
    assert {
        "id": consent["id"],
        "scope": "tenancies.rent_arrears_weeks",
        "recipient": ADULT_SOCIAL_CARE,
        "decision": "PERMIT",
        "withdrawnAt": None,
    } in listed["data"]["consents"]

    # Consent for the council's social workers is not consent for the trust's nurses.
    nurse = await world.query(PICTURE % doreen_id, as_="dn-hughes")
    assert nurse["data"]["person"]["housing"]["tenancies"] is None
    assert withheld(nurse)[arrears_item] == "ROLE_NOT_PERMITTED"

    # She changes her mind: the very next query no longer shows the arrears.
    withdrawn = await world.query(
        'mutation { withdrawConsent(id: "%s") { withdrawnAt } }' % consent["id"], as_="ho-evans"
    )
    assert withdrawn["data"]["withdrawConsent"]["withdrawnAt"]
    again = await world.query(PICTURE % doreen_id, as_="sw-patel")
    (shown_again,) = again["data"]["person"]["housing"]["tenancies"]
    assert shown_again["rentArrearsWeeks"] is None
    assert withheld(again)[arrears_item] == "NO_CONSENT"
