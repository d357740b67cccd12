"""The request plan: each agency asked once, concurrently, for only what was selected.

These tests use a protocol that shares everything, so that what they see is the
fan-out itself; the policy's narrowing is tested in test_governance.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from fame_demo.stores import never_mapped_columns
from fame_demo.synthetic import Population, generate_population
from tests.support import (
    SqlTrace,
    World,
    attach_sqlite_trace,
    make_store_dir,
    permissive_protocol,
    traced_world,
)

SQL_AGENCIES = ("shire-adult-social-care", "shire-housing", "riverside-gp")
LATENCY = 0.15


@pytest.fixture
async def traced(
    tmp_path: Path, population: Population, store_dir: Path
) -> AsyncIterator[tuple[World, SqlTrace]]:
    """A world whose SQL agencies record (and slow down) every statement they run."""
    async with traced_world(
        tmp_path, population, store_dir, protocol=permissive_protocol()
    ) as traced:
        yield traced


async def test_the_four_agency_calls_of_one_request_overlap(
    traced: tuple[World, SqlTrace],
) -> None:
    world, trace = traced
    query = """{ person(id: "%s") {
        involvements { team agency { id } }
        health { medications { name } communityEpisodes { service } }
        socialCare { carePackages { service } }
        housing { tenancies { tenure } } } }""" % world.person_id(0)
    # Connections opened and mappings reflected first: what is measured is the calls.
    await world.query(query)
    trace.clear()
    world.trust.calls.clear()
    trace.latency = LATENCY
    world.trust.latency_seconds = LATENCY
    result = await world.query(query)
    assert "errors" not in result, result
    windows = {}
    for agency in SQL_AGENCIES:
        selects = trace.selects(agency)
        assert selects, f"{agency} received no SELECT"
        windows[agency] = (min(c.started for c in selects), max(c.finished for c in selects))
    (http_call,) = world.trust.calls
    windows["shire-community-health"] = (http_call.started, http_call.finished)
    # Every call lasted at least the injected latency, and all four were in
    # flight together: the latest start comes before the earliest finish.
    for agency, (started, finished) in windows.items():
        assert finished - started >= LATENCY * 0.9, agency
    latest_start = max(started for started, _ in windows.values())
    earliest_finish = min(finished for _, finished in windows.values())
    assert latest_start < earliest_finish, windows


async def test_a_caseload_of_fifty_costs_one_call_per_agency(
    tmp_path: Path, population: Population, store_dir: Path
) -> None:
    # A larger population, so that a caseload page of 50 is really 50 people.
    big = generate_population(size=160)
    big_stores = make_store_dir(tmp_path, big)
    trace, detach = attach_sqlite_trace(big_stores)
    world = World(tmp_path, big, big_stores)
    try:
        await world.start(protocol=permissive_protocol())
        trace.clear()
        world.trust.calls.clear()
        result = await world.query(
            "{ caseload(first: 50) { id involvements { team agency { id } } } }", as_="sw-patel"
        )
        assert "errors" not in result, result
        people = result["data"]["caseload"]
        assert len(people) == 50
        known = {row["agency"]["id"] for person in people for row in person["involvements"]}
        assert {*SQL_AGENCIES, "shire-community-health"} <= known
        # Involvements live in one table at each SQL agency: one SELECT each, for all 50.
        for sql_agency in SQL_AGENCIES:
            assert len(trace.selects(sql_agency)) == 1, (sql_agency, trace.selects(sql_agency))
        assert len(world.trust.calls) == 1
        asked = set(world.trust.calls[0].ids)
        assert len(asked) > 1
        extensions = result["extensions"]["sources"]
        assert all(entry["calls"] == 1 for entry in extensions.values()), extensions
    finally:
        await world.stop()
        detach()


async def test_statements_per_agency_do_not_grow_with_the_caseload(
    traced: tuple[World, SqlTrace],
) -> None:
    world, trace = traced
    query = """query($n: Int!) { caseload(first: $n) { id
        demographics { familyName } involvements { team } alerts { severity }
        timeline { kind } health { medications { name } conditions { name } }
        socialCare { carePackages { service } } housing { tenancies { tenure } } } }"""
    items = {
        "involvement.team",
        "alerts.severity",
        "timeline.kind",
        "timeline.occurred_on",
        "medications.name",
        "conditions.name",
        "care_packages.service",
        "tenancies.tenure",
    }
    assert world.settings is not None
    counts = []
    for size in (3, 8):
        trace.clear()
        world.trust.calls.clear()
        result = await world.query(query, variables={"n": size})
        assert "errors" not in result, result
        assert len(result["data"]["caseload"]) == size
        counts.append({agency: trace.selects(agency) for agency in SQL_AGENCIES})
        assert len(world.trust.calls) == 1
    small, large = counts
    for agency in SQL_AGENCIES:
        source = world.settings.agency(agency).source
        tables = {source.items[item].table for item in items if item in source.items}
        if agency == "riverside-gp":  # the GP is the demographics source: its patient table too
            tables.add(source.items["demographics.family_name"].table)
        # One statement per agency, reading every table holding the selected items,
        # however many people and tables.
        (statement,) = large[agency]
        read = set(re.findall(r"FROM\s+[`\"]?(\w+)", statement.sql, re.I))
        assert read == tables, (agency, statement.sql, tables)
        assert len(small[agency]) in (0, 1), (agency, small)


async def test_two_of_ten_items_selects_two_columns_and_projects_two_fields(
    traced: tuple[World, SqlTrace],
) -> None:
    world, trace = traced
    query = """{ person(id: "%s") {
        socialCare { cases { status primaryNeed } }
        health { communityEpisodes { service clinician } } } }""" % world.person_id(0)
    result = await world.query(query)
    assert "errors" not in result, result
    (select,) = trace.selects("shire-adult-social-care")
    select_list = select.sql.split("SELECT", 1)[1].split("FROM", 1)[0]
    columns = {part.strip().split(".")[-1] for part in select_list.split(",")}
    # The key and exactly the two columns asked for, of the twelve the clients table maps.
    assert columns == {"client_ref", "case_status", "primary_support_reason"}, select.sql
    for column in never_mapped_columns("shire-adult-social-care"):
        assert column not in select.sql
    (call,) = world.trust.calls
    assert sorted(call.fields) == ["episodes[].clinician", "episodes[].service"]
    case = result["data"]["person"]["socialCare"]["cases"][0]
    assert case["status"] and case["primaryNeed"]


async def test_agencies_not_selected_are_not_called(traced: tuple[World, SqlTrace]) -> None:
    world, trace = traced
    result = await world.query(
        '{ person(id: "%s") { health { medications { name } } } }' % world.person_id(0)
    )
    assert result["data"]["person"]["health"]["medications"]
    assert trace.selects("riverside-gp")
    assert not trace.selects("shire-adult-social-care")
    assert not trace.selects("shire-housing")
    assert world.trust.calls == []


async def test_the_agency_that_usually_answers_last_is_called_first(
    traced: tuple[World, SqlTrace], monkeypatch: pytest.MonkeyPatch
) -> None:
    world, _ = traced
    query = """{ person(id: "%s") { health { medications { name } communityEpisodes { service } }
        socialCare { carePackages { service } } } }""" % world.person_id(0)
    assert world.gateway is not None
    called: list[str] = []
    for agency_id, connector in world.gateway.connectors.items():

        def noting(request: Any, _fetch: Any = connector.fetch, _agency: str = agency_id) -> Any:
            called.append(_agency)
            return _fetch(request)

        monkeypatch.setattr(connector, "fetch", noting)
    # Unknown answer times: the calls go in the order of the request. The first calls
    # open connections, which the next few answers' times soon outweigh.
    for _ in range(5):
        await world.query(query)
    assert called[0] != "shire-community-health", called
    # The trust's API turns slow: after one slow answer it is called first, so that
    # sending the other calls overlaps its wait; every agency is still called once.
    world.trust.latency_seconds = LATENCY
    await world.query(query)
    for _ in range(2):
        called.clear()
        result = await world.query(query)
        assert "errors" not in result, result
        assert called[0] == "shire-community-health", called
        assert sorted(called) == sorted(set(called))
