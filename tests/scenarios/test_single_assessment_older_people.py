"""FAME pilot 1: single assessment for vulnerable older people.

Roy Bromley's single assessment has domains, each assessed by the agency that knows it
best: his district nurse (the community trust) his physical health and mobility, his
social worker (adult social care) personal care and social contact, his housing officer
his home and finances. Each contributes their own; each of them, asking once, sees the
overview assembled from all three (ISP-6.5), every domain naming its agency and
assessor; the council's guardian finds each of their requests in the audit.

Around it, a district nurse (dn-hughes, Shire Community Health) prepares an overview assessment
summary for Roy Bromley, an older man known to health, social care and housing. Before
joined-up records she relied on him to say who else was involved; now one query shows
every agency's involvement, the alerts and assessments each agency holds, the care
package and the home adaptations, and lists what the sharing protocol withholds from a
nurse, with the reason, instead of leaving it silently out.
"""

from __future__ import annotations

from typing import Any, cast

from fame_demo.synthetic import (
    ADULT_SOCIAL_CARE,
    AGENCY_NAMES,
    COMMUNITY_HEALTH,
    HOUSING,
    RIVERSIDE_GP,
)
from tests.scenarios.helpers import (
    FIELDS,
    REASONS,
    agencies_in,
    canonical,
    clause_for,
    expected,
    expected_from,
    withheld,
    withheld_agencies,
)
from tests.support import World

ROY = 0  # person 0: always an older adult, the single assessment pilot's service user

OVERVIEW = """{ person(id: "%s") {
  knownTo { id name }
  demographics { givenName familyName dateOfBirth agency { id } }
  involvements { %s }
  alerts { %s }
  assessments { %s }
  socialCare { carePackages { %s } }
  housing { tenancies { %s } adaptations { %s } }
  health { communityEpisodes { %s } medications { %s } conditions { agency { id } name code } }
} }""" % (
    "%s",
    FIELDS["involvement"],
    FIELDS["alerts"],
    FIELDS["assessments"],
    FIELDS["care_packages"],
    FIELDS["tenancies"],
    FIELDS["adaptations"],
    FIELDS["community_episodes"],
    FIELDS["medications"],
)

#: Where each record set asked for sits in the answer, below ``person``.
ASKED: dict[str, tuple[str, ...]] = {
    "involvement": ("involvements",),
    "alerts": ("alerts",),
    "assessments": ("assessments",),
    "care_packages": ("socialCare", "carePackages"),
    "tenancies": ("housing", "tenancies"),
    "adaptations": ("housing", "adaptations"),
    "community_episodes": ("health", "communityEpisodes"),
    "medications": ("health", "medications"),
    "conditions": ("health", "conditions"),
}


def _at(person: dict[str, Any], path: tuple[str, ...]) -> list[dict[str, Any]] | None:
    value: Any = person
    for key in path:
        value = value[key]
    return cast("list[dict[str, Any]] | None", value)


DOMAIN_AGENCIES = (COMMUNITY_HEALTH, ADULT_SOCIAL_CARE, HOUSING)
#: Each contributing agency's practitioner with a relationship to Roy.
CONTRIBUTORS = {COMMUNITY_HEALTH: "dn-hughes", ADULT_SOCIAL_CARE: "sw-patel", HOUSING: "ho-evans"}
DOMAINS = '{ person(id: "%s") { assessmentDomains { %s } } }' % (
    "%s",
    FIELDS["assessment_domains"],
)


async def test_each_agency_contributes_its_domains_and_each_sees_the_overview_assembled(
    world: World,
) -> None:
    population = world.population
    roy = population.people[ROY]
    assert roy.nhs_number in population.cast["single_assessment"]
    overview = expected_from(population, roy, DOMAIN_AGENCIES, "assessment_domains")
    for agency in DOMAIN_AGENCIES:
        own = expected(population, roy, agency, "assessment_domains")
        assert own, f"{agency} contributes domains"
        (involvement,) = expected(population, roy, agency, "involvement")
        assert {d["assessor"] for d in own} == {involvement["worker"]}
    assert len({d["domain"] for d in overview}) == len(overview), "no domain assessed twice"
    clause = await clause_for(world, HOUSING, "assessment_domains.summary")
    assert (clause["id"], clause["basis"]) == ("ISP-6.5", "IMPLIED")

    for practitioner in CONTRIBUTORS.values():
        result = await world.query(DOMAINS % world.person_id(ROY), as_=practitioner)
        assert "errors" not in result and not withheld(result), (practitioner, result)
        domains = result["data"]["person"]["assessmentDomains"]
        assert canonical(domains) == canonical(overview), practitioner
        assert agencies_in(domains) == set(DOMAIN_AGENCIES)
        # Each agency asked once, for everything the overview needs.
        assert set(result["extensions"]["sources"]) == set(DOMAIN_AGENCIES)

    # The council's guardian sees each contributor's request, disclosing every agency's part.
    audit = await world.query(
        '{ disclosures(personId: "%s") { kind practitioner agencies { agency disclosed } } }'
        % world.person_id(ROY),
        as_="cg-morgan",
    )
    readers = {
        record["practitioner"]
        for record in audit["data"]["disclosures"]
        if record["kind"] == "disclosure"
        and all(
            "assessment_domains.summary" in entry["disclosed"]
            for entry in record["agencies"]
            if entry["agency"] in DOMAIN_AGENCIES
        )
    }
    assert set(CONTRIBUTORS.values()) <= readers


async def test_the_nurse_sees_who_else_is_involved_and_what_each_agency_holds(
    world: World,
) -> None:
    population = world.population
    roy = population.people[ROY]
    agencies = population.agencies_of(roy.nhs_number)
    assert set(agencies) == {ADULT_SOCIAL_CARE, COMMUNITY_HEALTH, HOUSING, RIVERSIDE_GP}

    result = await world.query(OVERVIEW % world.person_id(ROY), as_="dn-hughes")
    assert "errors" not in result
    person = result["data"]["person"]

    # Every agency holding him, named, each answering once.
    assert sorted(person["knownTo"], key=lambda a: a["id"]) == [
        {"id": agency, "name": AGENCY_NAMES[agency]} for agency in sorted(agencies)
    ]
    sources = result["extensions"]["sources"]
    assert set(sources) == set(agencies)
    assert all(s["status"] == "ok" and s["calls"] == 1 for s in sources.values())

    # Who he is, from his GP practice, the demographics authority.
    assert person["demographics"] == {
        "givenName": roy.given_name,
        "familyName": roy.family_name,
        "dateOfBirth": roy.date_of_birth.isoformat(),
        "agency": {"id": RIVERSIDE_GP},
    }

    # "Who else is involved": a team and a named worker from every agency.
    involvements = person["involvements"]
    assert agencies_in(involvements) == set(agencies)
    assert canonical(involvements) == canonical(
        expected_from(population, roy, agencies, "involvement")
    )
    assert all(i["team"] and i["worker"] and i["since"] for i in involvements)

    # Alerts, each naming its agency: the GP's, the trust's and housing's in full.
    alerts = person["alerts"]
    shared_alerts = (RIVERSIDE_GP, COMMUNITY_HEALTH, HOUSING)
    assert agencies_in(alerts) == set(shared_alerts)
    assert canonical(alerts) == canonical(expected_from(population, roy, shared_alerts, "alerts"))

    # Assessments, each naming its agency: the trust's falls and leg ulcer assessments.
    assessments = person["assessments"]
    assert agencies_in(assessments) == {COMMUNITY_HEALTH}
    assert canonical(assessments) == canonical(
        expected(population, roy, COMMUNITY_HEALTH, "assessments")
    )

    # The council's care package in place, and the housing service's adaptations.
    packages = person["socialCare"]["carePackages"]
    assert packages, "Roy has home care and telecare"
    assert canonical(packages) == canonical(
        expected(population, roy, ADULT_SOCIAL_CARE, "care_packages")
    )
    adaptations = person["housing"]["adaptations"]
    assert adaptations, "Roy has grab rails and an approved level-access shower"
    assert canonical(adaptations) == canonical(expected(population, roy, HOUSING, "adaptations"))

    # The nurse's own trust's episodes, and the GP's medicines (implied, for safe care).
    assert canonical(person["health"]["communityEpisodes"]) == canonical(
        expected(population, roy, COMMUNITY_HEALTH, "community_episodes")
    )
    assert canonical(person["health"]["medications"]) == canonical(
        expected(population, roy, RIVERSIDE_GP, "medications")
    )


async def test_what_the_protocol_withholds_is_listed_with_a_reason(world: World) -> None:
    population = world.population
    roy = population.people[ROY]
    result = await world.query(OVERVIEW % world.person_id(ROY), as_="dn-hughes")
    person = result["data"]["person"]
    reasons = withheld(result)

    # The council's safeguarding warnings and Care Act assessments are statutory shares
    # for safeguarding or emergencies, not for direct care (ISP-3.2, ISP-6.3).
    assert expected(population, roy, ADULT_SOCIAL_CARE, "alerts")
    assert expected(population, roy, ADULT_SOCIAL_CARE, "assessments")
    assert withheld_agencies(result, "alerts") == {ADULT_SOCIAL_CARE: {"PURPOSE_NOT_PERMITTED"}}
    assert withheld_agencies(result, "assessments") == {
        ADULT_SOCIAL_CARE: {"PURPOSE_NOT_PERMITTED"}
    }
    assert ADULT_SOCIAL_CARE not in agencies_in(person["alerts"])
    assert ADULT_SOCIAL_CARE not in agencies_in(person["assessments"])

    # Tenancies are for social workers, therapists and housing officers (ISP-7.1, 7.2).
    assert person["housing"]["tenancies"] is None
    assert withheld_agencies(result, "tenancies") == {HOUSING: {"ROLE_NOT_PERMITTED"}}

    # Diagnoses need his explicit consent (ISP-4.2); coded entries never leave the practice.
    assert person["health"]["conditions"] is None
    assert reasons[(RIVERSIDE_GP, "conditions.name")] == "NO_CONSENT"
    assert reasons[(RIVERSIDE_GP, "conditions.code")] == "SEALED"

    # Each entry says where in the answer, from which agency, which item, and why.
    entries = result["extensions"]["withheld"]
    for entry in entries:
        assert set(entry) == {"path", "agency", "item", "reason"}
        assert entry["reason"] in REASONS
        assert entry["path"][0] == "person"
    tenancy_paths = {tuple(e["path"]) for e in entries if e["item"].startswith("tenancies.")}
    assert ("person", "housing", "tenancies", "rentArrearsWeeks") in tenancy_paths
    assert ("person", "housing", "tenancies", "address") in tenancy_paths

    # Nothing is silently missing: every agency holding rows of a record set asked for
    # either contributed them or is listed as withheld for that record set.
    for record_set, path in ASKED.items():
        records = _at(person, path)
        explained = withheld_agencies(result, record_set)
        for agency in population.agencies_of(roy.nhs_number):
            if not expected(population, roy, agency, record_set):
                continue
            assert agency in agencies_in(records) or agency in explained, (record_set, agency)
            assert not (agency in agencies_in(records) and agency in explained), (
                record_set,
                agency,
            )
    # Nor is anything shown that is listed as withheld.
    assert RIVERSIDE_GP not in agencies_in(person["health"]["conditions"])


async def test_his_consent_completes_the_overview_and_the_purpose_is_respected(
    world: World,
) -> None:
    population = world.population
    roy = population.people[ROY]
    roy_id = world.person_id(ROY)
    conditions = (
        '{ person(id: "%s") { health { conditions { agency { id } name onset status code } } } }'
    )

    recorded = await world.query(
        """mutation { recordConsent(input: {personId: "%s", category: "health.physical",
        recipientAgency: "%s", decision: PERMIT,
        reference: "Single assessment form SA-1, signed at the home visit"}) { id decision } }"""
        % (roy_id, COMMUNITY_HEALTH),
        as_="dn-hughes",
    )
    assert recorded["data"]["recordConsent"]["decision"] == "PERMIT"

    shown = await world.query(conditions % roy_id, as_="dn-hughes")
    rows = shown["data"]["person"]["health"]["conditions"]
    assert canonical(rows) == canonical(
        {**record, "code": None}
        for record in expected(
            population, roy, RIVERSIDE_GP, "conditions", ("name", "onset", "status")
        )
    )
    # Consent opens the diagnoses; the sealed codes stay sealed, and say so.
    assert withheld(shown) == {(RIVERSIDE_GP, "conditions.code"): "SEALED"}

    # Planning care together is a different purpose: the GP's medicines are shared for
    # direct care and emergencies only, and the answer says so rather than going quiet.
    planning = await world.query(
        '{ person(id: "%s") { health { medications { name } communityEpisodes { service } } } }'
        % roy_id,
        as_="dn-hughes",
        purpose="care_planning",
    )
    health = planning["data"]["person"]["health"]
    assert health["medications"] is None
    assert withheld_agencies(planning, "medications") == {RIVERSIDE_GP: {"PURPOSE_NOT_PERMITTED"}}
    assert sorted(e["service"] for e in health["communityEpisodes"]) == sorted(
        str(r["service"]) for r in expected(population, roy, COMMUNITY_HEALTH, "community_episodes")
    )
