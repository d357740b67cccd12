"""FAME pilot 3: children with disabilities and the "virtual team".

Charlie has cerebral palsy. His occupational therapist and physiotherapist (the
community trust), his school's SENCo and Shire's children with disabilities team each
keep their own records; his parents told their story to each in turn. The gateway shows
the team one picture with each agency's part under its own heading: therapy under
health, the school under education, the council's plan under children's services.

His parents' consent decides what travels (ISP-5.4 therapy, ISP-8.1 the council's plan,
both explicit): before they sign, the therapist sees the school's record (ISP-9.1) but
not the council's plan, and the SENCo sees neither therapy nor the plan. They consent
for the therapist and for the school's therapy programme; later for the school to see
the plan too, and then withdraw that: the SENCo's very next query follows each change.
The team is shown to those who work with the child, and to no one else.
"""

from __future__ import annotations

import datetime as dt

from fame_demo.synthetic import (
    COMMUNITY_HEALTH,
    GP_PRACTICES,
    SCHOOL,
    SHIRE_CHILDRENS,
    Population,
    SyntheticPerson,
)
from fame_demo.world import DISABLED_CHILD
from tests.scenarios.helpers import (
    FIELDS,
    agencies_in,
    assert_not_available,
    canonical,
    cast_member,
    clause_for,
    expected,
    expected_from,
    parent_of,
    record_consent,
    withdraw_consent,
    withheld,
)
from tests.support import World

TEAM = """{ person(id: "%s") {
  knownTo { id name }
  involvements { %s }
  education { enrolments { agency { id } school yearGroup } specialNeeds { agency { id } ehcp } }
} }""" % ("%s", FIELDS["involvement"])

PRACTICE_GP = {"riverside-gp": "dr-okafor", "oakfield-gp": "dr-lewis"}

#: The virtual team's picture: each agency's part under its own heading.
SIDE_BY_SIDE = """{ person(id: "%s") {
  health { therapyPlans { %s } }
  education { enrolments { %s } specialNeeds { %s } }
  childrensServices { cases { %s } }
} }""" % (
    "%s",
    FIELDS["therapy_plans"],
    FIELDS["enrolments"],
    FIELDS["special_needs"],
    FIELDS["childrens_cases"],
)


def _headings(population: Population, child: SyntheticPerson) -> dict[str, object]:
    """What each heading holds about the child, from the population."""
    return {
        "therapy": canonical(expected(population, child, COMMUNITY_HEALTH, "therapy_plans")),
        "enrolments": canonical(expected(population, child, SCHOOL, "enrolments")),
        "specialNeeds": canonical(expected(population, child, SCHOOL, "special_needs")),
        "cases": canonical(expected(population, child, SHIRE_CHILDRENS, "childrens_cases")),
    }


def _shown(person: dict[str, object]) -> dict[str, object]:
    health, education, childrens = (
        person["health"],
        person["education"],
        person["childrensServices"],
    )
    assert isinstance(health, dict) and isinstance(education, dict)
    assert isinstance(childrens, dict)
    return {
        "therapy": None if health["therapyPlans"] is None else canonical(health["therapyPlans"]),
        "enrolments": canonical(education["enrolments"]),
        "specialNeeds": canonical(education["specialNeeds"]),
        "cases": None if childrens["cases"] is None else canonical(childrens["cases"]),
    }


async def _parents_consent(
    world: World, child: SyntheticPerson, child_id: str, *, item: str, agency: str
) -> str:
    parent = parent_of(world.population, child)
    consent = await record_consent(
        world,
        "csw-ahmed",
        child_id,
        item=item,
        agency=agency,
        reference=f"Parental consent form PC-4471 signed by {parent.full_name}",
    )
    return str(consent["id"])


async def test_the_therapist_sees_therapy_school_and_the_councils_plan_side_by_side(
    world: World,
) -> None:
    population = world.population
    charlie, charlie_id = cast_member(population, DISABLED_CHILD)
    held = _headings(population, charlie)
    assert held["therapy"] and held["enrolments"] and held["specialNeeds"] and held["cases"]

    before = await world.query(SIDE_BY_SIDE % charlie_id, as_="ot-rees")
    # Her own trust's therapy and the school's record (ISP-9.1, implied) are there...
    assert _shown(before["data"]["person"]) == {**held, "cases": None}
    # ...the council's plan waits for the parents' consent (ISP-8.1, explicit).
    assert withheld(before) == {
        (SHIRE_CHILDRENS, f"childrens_cases.{field}"): "NO_CONSENT"
        for field in ("status", "plan", "reason", "opened_on")
    }
    assert (await clause_for(world, SHIRE_CHILDRENS, "childrens_cases.plan"))["id"] == "ISP-8.1"

    await _parents_consent(
        world, charlie, charlie_id, item="childrens_cases.*", agency=COMMUNITY_HEALTH
    )
    after = await world.query(SIDE_BY_SIDE % charlie_id, as_="ot-rees")
    assert _shown(after["data"]["person"]) == held
    assert not withheld(after)


async def test_the_parents_consent_governs_what_education_sees(world: World) -> None:
    population = world.population
    charlie, charlie_id = cast_member(population, DISABLED_CHILD)
    held = _headings(population, charlie)
    therapy_clause = await clause_for(world, COMMUNITY_HEALTH, "therapy_plans.goals")
    assert therapy_clause["id"] == "ISP-5.4" and therapy_clause["basis"] == "EXPLICIT"
    assert "education_officer" in therapy_clause["roles"]

    # Before the parents sign: the school's own record, and nothing of the others'.
    first = await world.query(SIDE_BY_SIDE % charlie_id, as_="senco-barnes")
    assert _shown(first["data"]["person"]) == {**held, "therapy": None, "cases": None}
    assert set(withheld(first).values()) == {"NO_CONSENT"}
    assert {agency for agency, _ in withheld(first)} == {COMMUNITY_HEALTH, SHIRE_CHILDRENS}

    # They consent to the school seeing his therapy programme, not the council's plan.
    await _parents_consent(world, charlie, charlie_id, item="therapy_plans.*", agency=SCHOOL)
    second = await world.query(SIDE_BY_SIDE % charlie_id, as_="senco-barnes")
    assert _shown(second["data"]["person"]) == {**held, "cases": None}
    assert {agency for agency, _ in withheld(second)} == {SHIRE_CHILDRENS}

    # Later they agree the school may see the plan too; then they change their minds.
    plan = await _parents_consent(
        world, charlie, charlie_id, item="childrens_cases.*", agency=SCHOOL
    )
    third = await world.query(SIDE_BY_SIDE % charlie_id, as_="senco-barnes")
    assert _shown(third["data"]["person"]) == held
    assert not withheld(third)
    await withdraw_consent(world, "csw-ahmed", plan)
    fourth = await world.query(SIDE_BY_SIDE % charlie_id, as_="senco-barnes")
    assert _shown(fourth["data"]["person"]) == {**held, "cases": None}
    assert set(withheld(fourth).values()) == {"NO_CONSENT"}

    # Consent for the school is not consent for everyone: the GP's part of the team sees
    # the school's record, but the therapy programme still waits for its own consent.
    gp = await world.query(SIDE_BY_SIDE % charlie_id, as_="dr-lewis")
    assert gp["data"]["person"]["health"]["therapyPlans"] is None
    assert withheld(gp)[(COMMUNITY_HEALTH, "therapy_plans.goals")] == "NO_CONSENT"


def _age(person: SyntheticPerson, on: dt.date) -> int:
    born = person.date_of_birth
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _children(population: Population) -> list[tuple[int, SyntheticPerson]]:
    return [
        (index, person)
        for index, person in enumerate(population.people)
        if 5 <= _age(person, population.as_of) <= 16
    ]


async def test_the_virtual_team_around_each_child(world: World) -> None:
    population = world.population
    children = _children(population)
    assert len(children) >= 2, "the demo has a few children aged 5 to 16"
    for index, child in children:
        agencies = population.agencies_of(child.nhs_number)
        assert COMMUNITY_HEALTH in agencies and population.gp_of(child.nhs_number) in agencies
        team = expected_from(population, child, agencies, "involvement")
        # The children's nurse and the child's own practice see the same team.
        for practitioner in ("sn-pemberton", PRACTICE_GP[population.gp_of(child.nhs_number)]):
            result = await world.query(TEAM % world.person_id(index), as_=practitioner)
            assert "errors" not in result, (child.full_name, practitioner)
            involvements = result["data"]["person"]["involvements"]
            assert canonical(involvements) == canonical(team), (child.full_name, practitioner)
            assert agencies_in(involvements) == set(agencies)
            for member in involvements:
                assert member["agency"]["id"] and member["team"] and member["worker"]
                assert member["role"] and member["status"] == "open"
            assert not withheld(result), (child.full_name, practitioner)


async def test_a_childs_team_is_not_shown_to_another_practice(world: World) -> None:
    population = world.population
    for index, child in _children(population):
        own = population.gp_of(child.nhs_number)
        (other,) = (p for p in GP_PRACTICES if p != own)
        result = await world.query(TEAM % world.person_id(index), as_=PRACTICE_GP[other])
        assert_not_available(result)
        for member in expected_from(
            population, child, population.agencies_of(child.nhs_number), "involvement"
        ):
            assert member["worker"] not in str(result), child.full_name


async def test_the_school_is_registered_and_answers_under_education(world: World) -> None:
    population = world.population
    registered = await world.query("{ agencies { id items } }", as_="dn-hughes")
    holding = {
        agency["id"]
        for agency in registered["data"]["agencies"]
        if any(item.startswith(("enrolments.", "special_needs.")) for item in agency["items"])
    }
    assert holding == {SCHOOL}
    for index, child in _children(population):
        result = await world.query(TEAM % world.person_id(index), as_="sn-pemberton")
        assert "errors" not in result
        education = result["data"]["person"]["education"]
        assert canonical(education["enrolments"]) == canonical(
            expected(population, child, SCHOOL, "enrolments", ("school", "year_group"))
        ), child.full_name
        assert canonical(education["specialNeeds"]) == canonical(
            expected(population, child, SCHOOL, "special_needs", ("ehcp",))
        ), child.full_name
        assert {a["id"] for a in result["data"]["person"]["knownTo"]} == set(
            population.agencies_of(child.nhs_number)
        )


async def test_a_district_nurse_of_the_same_trust_is_not_in_the_childs_team(world: World) -> None:
    """Need-to-know inside the trust: adult district nursing holds none of the children."""
    for index, child in _children(world.population):
        result = await world.query(TEAM % world.person_id(index), as_="dn-hughes")
        person = result["data"]["person"]
        assert person is None or person["involvements"] is None, child.full_name
        assert set(withheld(result).values()) <= {"NO_RELATIONSHIP"}
        assert result["extensions"]["sources"] == {}
