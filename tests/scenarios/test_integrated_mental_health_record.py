"""FAME pilot 2: the integrated mental health record across two councils and two
health bodies.

Gemma was supported by Shire's mental health social work team and the community trust's
mental health team. She moved to Wrekin: Shire closed its case and sent it on, Wrekin
opened one, and weeks later she was admitted through Severn Valley Hospital's emergency
department. Her new social worker in Wrekin (sw-dale) reads one chronological record of
every intervention: Shire's notes up to the transfer, the trust's contacts, her GP's
consultations, the admission and Wrekin's own notes, in date order; with her address
history and both councils' cases side by side.

Behind it, the record's mechanics, shown on Craig Davies's record read by his own
social worker (sw-carver): date ranges, agency filters, two ranges in one query, a
caseload, what a housing officer and another service of the same council may not see,
and an objection to sharing mental health records reaching the mental health team.
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from fame_demo.synthetic import (
    ADULT_SOCIAL_CARE,
    COMMUNITY_HEALTH,
    EMERGENCY_DEPARTMENT,
    HOUSING,
    OAKFIELD_GP,
    RIVERSIDE_GP,
    WREKIN_ADULT_SOCIAL_CARE,
    Population,
    SyntheticPerson,
)
from fame_demo.world import MOVED_BETWEEN_COUNCILS
from tests.scenarios.helpers import (
    FIELDS,
    Record,
    agencies_in,
    canonical,
    cast_member,
    expected,
    expected_from,
    withheld,
    withheld_agencies,
)
from tests.support import World

CRAIG = 11  # known to the mental health social work team, the CMHT and his GP

TIMELINE = FIELDS["timeline"]


def _events(
    population: Population,
    person: SyntheticPerson,
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
    agencies: tuple[str, ...] | None = None,
) -> list[Record]:
    """What the population holds of the person's timeline, filtered like the query."""
    chosen = agencies if agencies is not None else population.agencies_of(person.nhs_number)
    return [
        event
        for event in expected_from(population, person, chosen, "timeline")
        if (start is None or event["occurredOn"] >= start.isoformat())
        and (end is None or event["occurredOn"] <= end.isoformat())
    ]


def _in_date_order(events: list[dict[str, Any]]) -> bool:
    dates = [event["occurredOn"] for event in events]
    return all(dates) and dates == sorted(dates)


RECEIVING = """{ person(id: "%s") {
  demographics { address postcode agency { id } }
  addressHistory { %s }
  socialCare { cases { %s } }
  timeline { %s }
} }""" % ("%s", FIELDS["address_history"], FIELDS["social_care_cases"], TIMELINE)


async def test_the_receiving_team_sees_her_whole_history_in_date_order(world: World) -> None:
    population = world.population
    gemma, gemma_id = cast_member(population, MOVED_BETWEEN_COUNCILS)
    agencies = population.agencies_of(gemma.nhs_number)
    # Two councils and two health bodies (the community trust, the acute trust's ED).
    assert {
        ADULT_SOCIAL_CARE,
        WREKIN_ADULT_SOCIAL_CARE,
        COMMUNITY_HEALTH,
        EMERGENCY_DEPARTMENT,
    } <= set(agencies)

    result = await world.query(RECEIVING % gemma_id, as_="sw-dale")
    assert "errors" not in result and not withheld(result), result
    person = result["data"]["person"]
    timeline = person["timeline"]
    assert canonical(timeline) == canonical(_events(population, gemma))
    assert _in_date_order(timeline)
    assert agencies_in(timeline) == set(agencies)

    # The story in order: Shire's transfer, Wrekin's allocation, then the admission.
    def first(agency: str, kind: str) -> str:
        found = (e for e in timeline if e["agency"]["id"] == agency and e["kind"] == kind)
        return str(next(found)["occurredOn"])

    assert first(ADULT_SOCIAL_CARE, "transfer") <= first(WREKIN_ADULT_SOCIAL_CARE, "transfer")
    assert first(WREKIN_ADULT_SOCIAL_CARE, "transfer") < first(EMERGENCY_DEPARTMENT, "admission")
    (attendance,) = expected(population, gemma, EMERGENCY_DEPARTMENT, "ed_attendances")
    assert first(EMERGENCY_DEPARTMENT, "admission") == attendance["arrivedOn"]

    # Both councils' cases side by side: Shire's closed, Wrekin's open.
    assert canonical(person["socialCare"]["cases"]) == canonical(
        expected_from(
            population, gemma, (ADULT_SOCIAL_CARE, WREKIN_ADULT_SOCIAL_CARE), "social_care_cases"
        )
    )
    statuses = {c["agency"]["id"]: c["status"] for c in person["socialCare"]["cases"]}
    assert statuses == {ADULT_SOCIAL_CARE: "closed", WREKIN_ADULT_SOCIAL_CARE: "open"}

    # Where she lives now, from her GP practice, and where she lived before.
    assert person["demographics"] == {
        "address": gemma.address,
        "postcode": gemma.postcode,
        "agency": {"id": OAKFIELD_GP},
    }
    history = person["addressHistory"]
    assert canonical(history) == canonical(
        expected(population, gemma, OAKFIELD_GP, "address_history")
    )
    (current,) = [a for a in history if a["movedOut"] is None]
    (before,) = [a for a in history if a["movedOut"] is not None]
    assert current["address"] == gemma.address and before["movedOut"] == current["movedIn"]
    (shire_record,) = expected(population, gemma, ADULT_SOCIAL_CARE, "social_care_cases")
    assert shire_record["status"] == "closed"


async def test_the_record_is_chronological_across_agencies(world: World) -> None:
    population = world.population
    craig = population.people[CRAIG]
    agencies = population.agencies_of(craig.nhs_number)
    assert set(agencies) == {ADULT_SOCIAL_CARE, COMMUNITY_HEALTH, RIVERSIDE_GP}

    result = await world.query(
        '{ person(id: "%s") { timeline { %s } } }' % (world.person_id(CRAIG), TIMELINE),
        as_="sw-carver",
    )
    assert "errors" not in result and "withheld" not in result["extensions"]
    timeline = result["data"]["person"]["timeline"]
    expected = _events(population, craig)
    assert len(timeline) == len(expected) >= 8
    assert canonical(timeline) == canonical(expected)
    assert _in_date_order(timeline)
    # Interleaved, not one agency's block after another's.
    sequence = [event["agency"]["id"] for event in timeline]
    changes = sum(1 for a, b in itertools.pairwise(sequence) if a != b)
    assert changes > len(agencies)
    assert agencies_in(timeline) == set(agencies)


async def test_a_date_range_returns_only_the_events_in_it(world: World) -> None:
    population = world.population
    craig = population.people[CRAIG]
    all_dates = sorted(event["occurredOn"] for event in _events(population, craig))
    # Bounds that fall exactly on events, to show both ends are inclusive.
    start = dt.date.fromisoformat(all_dates[1])
    end = dt.date.fromisoformat(all_dates[-3])
    expected = _events(population, craig, start=start, end=end)
    assert 0 < len(expected) < len(all_dates)

    result = await world.query(
        '{ person(id: "%s") { timeline(from: "%s", to: "%s") { %s } } }'
        % (world.person_id(CRAIG), start, end, TIMELINE),
        as_="sw-carver",
    )
    timeline = result["data"]["person"]["timeline"]
    assert canonical(timeline) == canonical(expected)
    assert _in_date_order(timeline)
    assert timeline[0]["occurredOn"] == start.isoformat()
    assert timeline[-1]["occurredOn"] == end.isoformat()

    # Open-ended on either side.
    since = await world.query(
        '{ person(id: "%s") { timeline(from: "%s") { %s } } }'
        % (world.person_id(CRAIG), end, TIMELINE),
        as_="sw-carver",
    )
    assert canonical(since["data"]["person"]["timeline"]) == canonical(
        _events(population, craig, start=end)
    )
    until = await world.query(
        '{ person(id: "%s") { timeline(to: "%s") { %s } } }'
        % (world.person_id(CRAIG), start, TIMELINE),
        as_="sw-carver",
    )
    assert canonical(until["data"]["person"]["timeline"]) == canonical(
        _events(population, craig, end=start)
    )


async def test_an_agency_filter_returns_only_those_agencies(world: World) -> None:
    population = world.population
    craig = population.people[CRAIG]
    health = (COMMUNITY_HEALTH, RIVERSIDE_GP)
    result = await world.query(
        '{ person(id: "%s") { timeline(agencies: ["%s", "%s"]) { %s } } }'
        % (world.person_id(CRAIG), *health, TIMELINE),
        as_="sw-carver",
    )
    timeline = result["data"]["person"]["timeline"]
    assert agencies_in(timeline) == set(health)
    assert canonical(timeline) == canonical(_events(population, craig, agencies=health))
    assert _in_date_order(timeline)
    # The council, not asked for, is not asked at all.
    assert set(result["extensions"]["sources"]) == set(health)


async def test_two_aliased_ranges_in_one_query_are_each_correct(world: World) -> None:
    population = world.population
    craig = population.people[CRAIG]
    dates = sorted(event["occurredOn"] for event in _events(population, craig))
    # Two ranges with a gap between them: the events in the gap belong to neither.
    first = (dt.date.fromisoformat(dates[0]), dt.date.fromisoformat(dates[2]))
    second = (dt.date.fromisoformat(dates[5]), dt.date.fromisoformat(dates[-1]))
    gap = set(dates[3:5])
    query = """{ person(id: "%s") {
      before: timeline(from: "%s", to: "%s") { %s }
      after: timeline(from: "%s", to: "%s") { %s }
      councilAfter: timeline(from: "%s", to: "%s", agencies: ["%s"]) { %s }
    } }""" % (
        world.person_id(CRAIG),
        *first,
        TIMELINE,
        *second,
        TIMELINE,
        *second,
        ADULT_SOCIAL_CARE,
        TIMELINE,
    )
    result = await world.query(query, as_="sw-carver")
    person = result["data"]["person"]
    assert canonical(person["before"]) == canonical(
        _events(population, craig, start=first[0], end=first[1])
    )
    assert canonical(person["after"]) == canonical(
        _events(population, craig, start=second[0], end=second[1])
    )
    assert canonical(person["councilAfter"]) == canonical(
        _events(population, craig, start=second[0], end=second[1], agencies=(ADULT_SOCIAL_CARE,))
    )
    assert person["before"] and person["after"] and person["councilAfter"]
    for alias in ("before", "after", "councilAfter"):
        assert _in_date_order(person[alias]), alias
        assert not gap & {event["occurredOn"] for event in person[alias]}, alias
    # Each agency was still asked once for all three.
    assert set(result["extensions"]["sources"]) == {
        ADULT_SOCIAL_CARE,
        COMMUNITY_HEALTH,
        RIVERSIDE_GP,
    }
    assert all(s["calls"] == 1 for s in result["extensions"]["sources"].values())


async def test_every_record_on_the_caseload_is_chronological_and_complete(world: World) -> None:
    """The same record for every person the social worker's service works with: the older
    people's teams, not the council's other services."""
    population = world.population
    start, end = dt.date(2025, 6, 1), dt.date(2026, 2, 28)
    result = await world.query(
        '{ caseload(first: 100) { id timeline(from: "%s", to: "%s") { %s } } }'
        % (start, end, TIMELINE),
        as_="sw-patel",
    )
    caseload = result["data"]["caseload"]
    older_people = {"Older People's Team (North)", "Older People's Team (South)"}
    people = tuple(
        p
        for p in population.people_of(ADULT_SOCIAL_CARE)
        if older_people & set(population.holding_teams(ADULT_SOCIAL_CARE, p.nhs_number))
    )
    assert 0 < len(people) < len(population.people_of(ADULT_SOCIAL_CARE))
    assert len(caseload) == len(people)
    by_id = {person["id"]: person for person in caseload}
    checked = 0
    for person in people:
        index = population.people.index(person)
        timeline = by_id[world.person_id(index)]["timeline"]
        assert canonical(timeline) == canonical(
            _events(population, person, start=start, end=end)
        ), person.full_name
        assert timeline == [] or _in_date_order(timeline)
        checked += len(timeline)
    assert checked > len(people)


async def test_each_day_asked_alone_gives_exactly_that_days_events(world: World) -> None:
    """Single-day ranges, both ends inclusive, at the SQL agencies and the trust's API
    alike: one alias per day in one query, and each day again in a query of its own."""
    population = world.population
    craig = population.people[CRAIG]
    days = sorted({event["occurredOn"] for event in _events(population, craig)})
    assert len(days) <= 30  # the gateway's alias limit
    aliases = " ".join(
        'd%d: timeline(from: "%s", to: "%s") { %s }' % (n, day, day, TIMELINE)
        for n, day in enumerate(days)
    )
    result = await world.query(
        '{ person(id: "%s") { %s } }' % (world.person_id(CRAIG), aliases), as_="sw-carver"
    )
    person = result["data"]["person"]
    for n, day in enumerate(days):
        date = dt.date.fromisoformat(day)
        on_day = _events(population, craig, start=date, end=date)
        assert on_day and canonical(person["d%d" % n]) == canonical(on_day), day

    for event in _events(population, craig, agencies=(COMMUNITY_HEALTH,)):
        alone = await world.query(
            '{ person(id: "%s") { timeline(from: "%s", to: "%s") { %s } } }'
            % (world.person_id(CRAIG), event["occurredOn"], event["occurredOn"], TIMELINE),
            as_="sw-carver",
        )
        assert event in alone["data"]["person"]["timeline"]
        assert {e["occurredOn"] for e in alone["data"]["person"]["timeline"]} == {
            event["occurredOn"]
        }


async def test_a_housing_officer_gets_only_housings_part_of_the_record(world: World) -> None:
    """The mental health and GP contacts are not for housing officers; the record says
    what it leaves out, and the agencies that hold it are not asked for it."""
    population = world.population
    index, person = next(
        (i, p)
        for i, p in enumerate(population.people)
        if {COMMUNITY_HEALTH, HOUSING} <= set(population.agencies_of(p.nhs_number))
        and expected(population, p, COMMUNITY_HEALTH, "involvement")[0]["team"].startswith(
            "Adult Community Mental Health"
        )
    )
    others = set(population.agencies_of(person.nhs_number)) - {HOUSING}
    result = await world.query(
        '{ person(id: "%s") { timeline { %s } } }' % (world.person_id(index), TIMELINE),
        as_="ho-evans",
    )
    timeline = result["data"]["person"]["timeline"]
    assert canonical(timeline) == canonical(_events(population, person, agencies=(HOUSING,)))
    assert _in_date_order(timeline)
    assert {agency: {"ROLE_NOT_PERMITTED"} for agency in others} == withheld_agencies(
        result, "timeline"
    )
    assert set(result["extensions"]["sources"]) == {HOUSING}


async def test_another_service_of_the_same_council_has_no_relationship(world: World) -> None:
    """Need-to-know inside the council: the older people's social worker is not involved."""
    result = await world.query(
        '{ person(id: "%s") { timeline { %s } } }' % (world.person_id(CRAIG), TIMELINE),
        as_="sw-patel",
    )
    person = result["data"]["person"]
    assert person is None or person["timeline"] is None
    reasons = {entry.get("reason") for entry in result["extensions"].get("withheld", [])}
    assert reasons <= {"NO_RELATIONSHIP"}
    assert result["extensions"]["sources"] == {}


async def test_an_objection_to_sharing_mental_health_records_reaches_the_mental_health_team(
    world: World,
) -> None:
    """Craig tells his GP he does not want his mental health records shared: the trust's
    community mental health team's records stop reaching the GP at once, under whatever
    clause they travel, while the GP's own record is untouched."""
    population = world.population
    craig = population.people[CRAIG]
    person_id = world.person_id(CRAIG)
    query = (
        '{ person(id: "%s") { timeline { %s } assessments { kind agency { id } } '
        "health { communityEpisodes { service agency { id } } } } }" % (person_id, TIMELINE)
    )
    before = await world.query(query, as_="dr-okafor")
    assert COMMUNITY_HEALTH in agencies_in(before["data"]["person"]["timeline"])
    assert before["data"]["person"]["health"]["communityEpisodes"]

    objected = await world.query(
        """mutation { recordConsent(input: {personId: "%s", category: "health.mental",
        recipientAgency: "*", decision: DENY,
        reference: "Call log 2026-05-20: does not want his mental health care shared"})
        { id decision referenceForm } }"""
        % person_id,
        as_="dr-okafor",
    )
    assert objected["data"]["recordConsent"]["referenceForm"] == "recorded_words"

    after = await world.query(query, as_="dr-okafor")
    shown = after["data"]["person"]
    assert COMMUNITY_HEALTH not in agencies_in(shown["timeline"])
    assert COMMUNITY_HEALTH not in agencies_in(shown["assessments"])
    assert shown["health"]["communityEpisodes"] is None
    assert withheld_agencies(after, "community_episodes") == {COMMUNITY_HEALTH: {"OBJECTION"}}
    assert withheld_agencies(after, "timeline") == {COMMUNITY_HEALTH: {"OBJECTION"}}
    # The practice's own consultations are its own record: the objection is about sharing.
    assert canonical(e for e in shown["timeline"] if e["agency"]["id"] == RIVERSIDE_GP) == (
        canonical(_events(population, craig, agencies=(RIVERSIDE_GP,)))
    )
