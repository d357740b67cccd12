"""FAME pilot 3: children with disabilities and the "virtual team".

A disabled child is seen by a GP, community children's nurses, school nurses, therapists
and a school, each keeping its own notes; families told their story to each in turn. The
gateway shows the practitioners involved across agencies as one virtual team, each
naming agency, team and worker, to those who work with the child, and to no one else.
No school is registered in the demo, so the education section says nothing, and says it
without an error.
"""

from __future__ import annotations

import datetime as dt

from fame_demo.synthetic import (
    COMMUNITY_HEALTH,
    GP_PRACTICES,
    Population,
    SyntheticPerson,
)
from tests.scenarios.helpers import (
    FIELDS,
    agencies_in,
    assert_not_available,
    canonical,
    expected_from,
    withheld,
)
from tests.support import World

TEAM = """{ person(id: "%s") {
  knownTo { id name }
  involvements { %s }
  education { enrolments { agency { id } school yearGroup } specialNeeds { agency { id } ehcp } }
} }""" % ("%s", FIELDS["involvement"])

PRACTICE_GP = {"riverside-gp": "dr-okafor", "oakfield-gp": "dr-lewis"}


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


async def test_the_education_section_is_empty_without_error_as_no_school_is_registered(
    world: World,
) -> None:
    population = world.population
    registered = await world.query("{ agencies { id items } }", as_="dn-hughes")
    for agency in registered["data"]["agencies"]:
        assert not [
            item for item in agency["items"] if item.startswith(("enrolments.", "special_needs."))
        ], agency["id"]
    for index, child in _children(population):
        result = await world.query(TEAM % world.person_id(index), as_="sn-pemberton")
        assert "errors" not in result
        education = result["data"]["person"]["education"]
        # What the gateway returns today: the section, with empty lists (nobody holds it).
        assert education == {"enrolments": [], "specialNeeds": []}, child.full_name
        assert not [
            e
            for e in result["extensions"].get("withheld", [])
            if e["path"][:2] == ["person", "education"]
        ]
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
