"""Projection at the source for the demo's agencies that are not SQL databases.

The emergency department answers from its FHIR R4 server, which records every search and
what it returned: each search must carry ``_elements`` naming only the elements of the
items the gateway may disclose (and the element linking an answer to its person), and
nothing else may come back; an item withheld is not asked for at all. The school's
exports are CSV files the connector reads whole, as a file must be read: what it hands
back to the gateway must hold only the permitted columns, never the columns the school
keeps to itself.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import pytest

from connectors.base import FetchRequest, FetchResult
from connectors.fhir_config import FhirSource
from fame_demo.school import UNSHARED_COLUMNS
from fame_demo.synthetic import (
    EMERGENCY_DEPARTMENT,
    SCHOOL,
    SHIRE_CHILDRENS,
    UNSHARED_MARKER,
)
from fame_demo.world import CHILD_AT_RISK, CHILD_PROTECTION_PLAN
from gateway.core.catalogue import Catalogue
from tests.scenarios.helpers import (
    canonical,
    cast_member,
    clause_for,
    expected,
    parent_of,
    record_consent,
    withheld,
)
from tests.support import World

#: What the ED clinician asks: some of the department's items, not all of them.
AT_THE_ED = """{ person(id: "%s") {
  involvements { agency { id } team worker }
  health { emergencyAttendances { agency { id } arrivedOn outcome } }
} }"""
#: The department's items that query selects.
SELECTED = frozenset(
    {
        "involvement.team",
        "involvement.worker",
        "ed_attendances.arrived_on",
        "ed_attendances.outcome",
    }
)
#: Every element the department's resources carry that no agency file maps.
NEVER_ASKED = {"text", "contact", "class", "status"}
#: Elements of a search's answer that FHIR always returns, asked for or not.
ALWAYS = {"resourceType", "id", "meta"}
#: The element linking a resource to its person, per type (the connector always asks).
LINK = {"Patient": "identifier", "Encounter": "subject"}


def _source(world: World, agency_id: str) -> Any:
    assert world.settings is not None
    (agency,) = [a for a in world.settings.agencies if a.id == agency_id]
    return agency.source


def _catalogue(world: World) -> Catalogue:
    assert world.settings is not None
    return world.settings.catalogue


def _elements_of(source: FhirSource, items: Iterable[str]) -> dict[str, set[str]]:
    """Per resource type, the top-level elements the items' paths read."""
    needed: dict[str, set[str]] = {}
    for item in items:
        path = source.items[item]
        needed.setdefault(path.resource_type, set()).add(path.element)
    return needed


def _asked_of_the_department(result: dict[str, Any]) -> set[str]:
    """The selected items the department may disclose in this answer: every one the
    answer does not list as withheld."""
    kept = {item for agency, item in withheld(result) if agency == EMERGENCY_DEPARTMENT}
    return set(SELECTED - kept)


def _assert_projected(world: World, disclosed: set[str]) -> None:
    """Every search the department ran asked for the elements of the items it may
    disclose only (one search per record set), and returned nothing beyond them."""
    source = _source(world, EMERGENCY_DEPARTMENT)
    assert isinstance(source, FhirSource)
    catalogue = _catalogue(world)
    by_search: dict[tuple[str, str | None], set[str]] = {}
    for item in disclosed:
        path = source.items[item]
        record_set = catalogue.items[item].record_set
        key = (path.resource_type, None if path.resource_type == "Patient" else record_set)
        by_search.setdefault(key, {LINK[path.resource_type]}).add(path.element)
    calls = world.department.calls
    assert calls, "the department was not asked"
    assert [call.status for call in calls] == [200] * len(calls)
    assert all(call.returned for call in calls), "a search found nothing to check"
    assert {call.via for call in calls} == {"batch"}
    assert sorted((call.resource_type, sorted(call.elements)) for call in calls) == sorted(
        (resource_type, sorted(elements)) for (resource_type, _), elements in by_search.items()
    )
    for call in calls:
        assert not call.elements & NEVER_ASKED, call
        for resource in call.returned:
            assert set(resource) <= call.elements | ALWAYS, (call.resource_type, set(resource))
        assert UNSHARED_MARKER not in json.dumps(call.returned)


async def test_the_department_is_asked_only_for_the_elements_disclosed(world: World) -> None:
    population = world.population
    charlie, charlie_id = cast_member(population, CHILD_PROTECTION_PLAN)
    world.department.forget_calls()

    result = await world.query(AT_THE_ED % charlie_id, as_="ed-singh")
    person = result["data"]["person"]
    assert canonical(person["health"]["emergencyAttendances"]) == canonical(
        expected(
            population, charlie, EMERGENCY_DEPARTMENT, "ed_attendances", ["arrived_on", "outcome"]
        )
    )
    ours = [i for i in person["involvements"] if i["agency"]["id"] == EMERGENCY_DEPARTMENT]
    assert canonical(ours) == canonical(
        expected(population, charlie, EMERGENCY_DEPARTMENT, "involvement", ["team", "worker"])
    )
    assert _asked_of_the_department(result) == SELECTED
    _assert_projected(world, set(SELECTED))
    # The gateway signed in as the SMART client the demo registered; no call went without.
    assert world.department.token_requests
    assert {(r.client_id, r.issued) for r in world.department.token_requests} == {
        ("fame-gateway", True)
    }
    assert not world.department.refused
    # Unselected items were never asked for: not the attendance's reason and clinician, and
    # the timeline (the department's other Encounter search) not at all.
    (encounters,) = [c for c in world.department.calls if c.resource_type == "Encounter"]
    assert encounters.elements == {"subject", "period", "hospitalization"}
    # The care-team extension cannot be cut finer by _elements: it carries the involvement
    # items alone, which one clause shares or withholds together.
    source = _source(world, EMERGENCY_DEPARTMENT)
    care_team = {
        item
        for item, path in source.items.items()
        if (path.resource_type, path.element) == ("Patient", "extension")
    }
    assert {_catalogue(world).items[item].record_set for item in care_team} == {"involvement"}
    clauses = {(await clause_for(world, EMERGENCY_DEPARTMENT, item))["id"] for item in care_team}
    assert len(clauses) == 1


async def test_an_objection_keeps_the_attendance_from_being_asked_for(world: World) -> None:
    population = world.population
    charlie, charlie_id = cast_member(population, CHILD_PROTECTION_PLAN)
    parent = parent_of(population, charlie)
    await record_consent(
        world,
        "csw-ahmed",
        charlie_id,
        decision="DENY",
        item="ed_attendances.*",
        agency=SHIRE_CHILDRENS,
        reference=f"Visit note {population.as_of}: {parent.full_name} objects to the "
        "hospital's attendances being shared with the council",
    )
    world.department.forget_calls()

    result = await world.query(AT_THE_ED % charlie_id, as_="csw-ahmed")
    assert result["data"]["person"]["health"]["emergencyAttendances"] is None
    reasons = withheld(result)
    assert reasons[(EMERGENCY_DEPARTMENT, "ed_attendances.arrived_on")] == "OBJECTION"
    # The department's involvement is still shared, so it is still asked: for that alone.
    asked = _asked_of_the_department(result)
    assert asked == {"involvement.team", "involvement.worker"}
    _assert_projected(world, asked)
    assert {c.resource_type for c in world.department.calls} == {"Patient"}


async def test_the_school_hands_back_only_the_permitted_columns(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    population = world.population
    child, child_id = cast_member(population, CHILD_AT_RISK)
    assert world.gateway is not None
    connector = world.gateway.connectors[SCHOOL]
    fetch: Callable[[FetchRequest], Awaitable[FetchResult]] = connector.fetch
    seen: list[tuple[FetchRequest, FetchResult]] = []

    async def recorded(request: FetchRequest) -> FetchResult:
        result = await fetch(request)
        # A copy as handed back: the gateway adds to the rows as it assembles the answer.
        seen.append((request, copy.deepcopy(result)))
        return result

    monkeypatch.setattr(connector, "fetch", recorded)
    # Planning her care, the school nurse sees the school's record of her (ISP-9.1) but not
    # the concerns raised at school, which serve her care and safeguarding only (ISP-8.2).
    result = await world.query(
        """{ person(id: "%s") {
          education { enrolments { agency { id } school yearGroup }
                      specialNeeds { agency { id } ehcp primaryNeed } }
          concerns { agency { id } raisedOn summary }
        } }"""
        % child_id,
        as_="sn-pemberton",
        purpose="care_planning",
    )
    education = result["data"]["person"]["education"]
    assert canonical(education["enrolments"]) == canonical(
        expected(population, child, SCHOOL, "enrolments", ["school", "year_group"])
    )
    assert canonical(education["specialNeeds"]) == canonical(
        expected(population, child, SCHOOL, "special_needs", ["ehcp", "primary_need"])
    )
    assert withheld(result)[(SCHOOL, "concerns.summary")] == "PURPOSE_NOT_PERMITTED"

    catalogue = _catalogue(world)
    ((request, handed_back),) = seen
    (group,) = request.groups
    assert group.items == {
        "enrolments.school",
        "enrolments.year_group",
        "special_needs.ehcp",
        "special_needs.primary_need",
    }
    permitted = {
        (catalogue.items[item].record_set, catalogue.items[item].field) for item in group.items
    }
    assert set(handed_back) <= set(group.local_ids)
    assert any(rows for records in handed_back.values() for rows in records.values())
    for records in handed_back.values():
        assert set(records) <= {record_set for record_set, _ in permitted}
        for record_set, rows in records.items():
            for row in rows:
                assert {(record_set, field) for field in row} <= permitted, (record_set, row)
    flat = json.dumps(handed_back, default=str)
    assert UNSHARED_MARKER not in flat
    for column in UNSHARED_COLUMNS.values():
        assert column not in flat
    # The concerns are in the export the connector read, but never left it.
    assert expected(population, child, SCHOOL, "concerns")
    for concern in expected(population, child, SCHOOL, "concerns"):
        assert concern["summary"] not in flat
