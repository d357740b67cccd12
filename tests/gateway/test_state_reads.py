"""A request reads the state it is decided on — the change marker, then the links,
consents and grants not kept since it last moved — in one step on the state database,
not one per kind, on SQLite (straight on sqlite3) and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from fame_demo.synthetic import Population
from tests.gateway.state_trace import Trace
from tests.support import World

MEDICATIONS = '{ person(id: "%s") { health { medications { name agency { id } } } } }'

ROWS = {"persons", "person_links", "consents", "break_glass_grants"}


async def _assert_one_step(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    assert world.gateway is not None
    state = world.gateway.state
    await world.query(MEDICATIONS % world.person_id(0))
    trace = Trace(state, monkeypatch)

    def touching() -> list[set[str]]:
        return [set(tables) for tables in trace.tables() if tables]

    # A person not asked about before: the marker, then every kind of row, in one step.
    result = await world.query(MEDICATIONS % world.person_id(1))
    assert "errors" not in result, result
    assert touching() == [{"state_version", *ROWS}]
    # Again, nothing having changed: the marker alone.
    again = await world.query(MEDICATIONS % world.person_id(1))
    assert again["data"] == result["data"]
    assert touching() == [{"state_version"}]


async def test_one_person_query_reads_links_consents_and_grants_in_one_step(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _assert_one_step(world, monkeypatch)


async def test_over_postgresql_too(
    tmp_path: Path,
    population: Population,
    store_dir: Path,
    postgres_state: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World(tmp_path, population, store_dir)
    await world.start(state_database=postgres_state)
    try:
        await _assert_one_step(world, monkeypatch)
    finally:
        await world.stop()
