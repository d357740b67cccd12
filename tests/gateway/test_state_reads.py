"""A request reads the state it is decided on — the change marker, then the links,
consents and grants not kept since it last moved — in one step on the state database,
not one per kind, on SQLite (straight on sqlite3) and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, event

from fame_demo.synthetic import Population
from gateway.governance.state_sqlite import driver
from tests.support import World

MEDICATIONS = '{ person(id: "%s") { health { medications { name agency { id } } } } }'

#: The tables the policy's facts come from, and the marker, as a statement names them.
STATE_TABLE = re.compile(
    r"\bFROM (state_version|persons|person_links|consents|break_glass_grants)\b"
)
ROWS = {"persons", "person_links", "consents", "break_glass_grants"}


async def _assert_one_step(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    assert world.gateway is not None
    state = world.gateway.state
    # Each read of the state database, with the statements it ran (whichever driver).
    steps: list[list[str]] = []
    real_read = state.read

    async def read(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        def traced(conn: Connection, *inner: Any, **named: Any) -> Any:
            statements: list[str] = []
            steps.append(statements)
            db = driver(conn)

            def on_execute(_c: Connection, _cursor: Any, statement: str, *_rest: Any) -> None:
                statements.append(statement)

            if db is not None:
                db.set_trace_callback(statements.append)
            else:
                event.listen(conn, "before_cursor_execute", on_execute)
            try:
                return fn(conn, *inner, **named)
            finally:
                if db is not None:
                    db.set_trace_callback(None)
                else:
                    event.remove(conn, "before_cursor_execute", on_execute)

        return await real_read(traced, *args, **kwargs)

    def touching() -> list[set[str]]:
        found = [
            {hit.group(1) for statement in step if (hit := STATE_TABLE.search(statement))}
            for step in steps
        ]
        steps.clear()
        return [tables for tables in found if tables]

    await world.query(MEDICATIONS % world.person_id(0))
    monkeypatch.setattr(state, "read", read)
    # A person not asked about before: the marker, then every kind of row, in one step.
    result = await world.query(MEDICATIONS % world.person_id(1))
    assert "errors" not in result, result
    assert touching() == [{"state_version", *ROWS}], steps
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
