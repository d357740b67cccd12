"""A request reads the state it is decided on — links, consents, grants — in one round
trip to the state database, not one per kind."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, event

from fame_demo.synthetic import Population
from tests.support import World

MEDICATIONS = '{ person(id: "%s") { health { medications { name agency { id } } } } }'

#: The tables the policy's facts come from, as a statement names them after FROM.
STATE_TABLE = re.compile(r"\bFROM (persons|person_links|consents|break_glass_grants)\b")


async def _assert_one_checkout(world: World) -> None:
    assert world.gateway is not None
    engine = world.gateway.state_engine.sync_engine
    # The connections are kept, so no two of them can share an id while the test looks.
    reads: list[tuple[Connection, str]] = []

    def on_execute(conn: Connection, _cursor: Any, statement: str, *_args: Any) -> None:
        found = STATE_TABLE.search(statement)
        if found is not None:
            reads.append((conn, found.group(1)))

    # A first query opens the pool's connections, so that what is counted is one request's.
    await world.query(MEDICATIONS % world.person_id(0))
    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        result = await world.query(MEDICATIONS % world.person_id(1))
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)
    assert "errors" not in result, result
    assert {table for _, table in reads} == {
        "persons",
        "person_links",
        "consents",
        "break_glass_grants",
    }
    connections = {id(conn) for conn, _ in reads}
    assert len(connections) == 1, reads


async def test_one_person_query_reads_links_consents_and_grants_in_one_checkout(
    world: World,
) -> None:
    await _assert_one_checkout(world)


async def test_over_postgresql_too(
    tmp_path: Path, population: Population, store_dir: Path, postgres_state: str
) -> None:
    world = World(tmp_path, population, store_dir)
    await world.start(state_database=postgres_state)
    try:
        await _assert_one_checkout(world)
    finally:
        await world.stop()
