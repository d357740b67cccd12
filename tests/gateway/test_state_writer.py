"""The SQLite state database's writer thread: one transaction per operation, begun and
committed on sqlite3; a failure anywhere rolls the whole operation back, reaches the
caller as SQLAlchemy's error, and leaves the writer able to go on."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, event, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from fame_demo.synthetic import Population
from gateway.audit.chain import load_signing_key, verify_chain
from gateway.audit.log import AuditLog, AuditUnavailable
from gateway.governance.migrate import upgrade_schema
from gateway.governance.state import audit_head, disclosures
from gateway.governance.state_db import StateDatabase
from gateway.governance.state_sqlite import driver
from tests.support import World

#: Makes every later COMMIT that follows an audit insert fail: a deferred foreign key,
#: checked only at COMMIT, broken by a trigger on the audit's table.
FAILING_COMMIT = (
    "CREATE TABLE commit_guard (ref INTEGER REFERENCES audit_head(id) "
    "DEFERRABLE INITIALLY DEFERRED)",
    "CREATE TRIGGER fail_commit AFTER INSERT ON disclosures "
    "BEGIN INSERT INTO commit_guard VALUES (999); END",
)
RECORD = {
    "kind": "intent",
    "at": "2026-06-01T12:00:00+00:00",
    "request_id": "r1",
    "query_hash": "q",
    "practitioner": "sw-patel",
    "practitioner_name": None,
    "requester_agency": "shire-adult-social-care",
    "requester_team": None,
    "roles": "social_worker",
    "purpose": "direct_care",
    "person_id": None,
    "agencies": "{}",
    "statutory": False,
    "break_glass": None,
    "break_glass_reason": None,
}


@pytest.fixture
def foreign_keys() -> Iterator[None]:
    """SQLite checks foreign keys (deferred ones at COMMIT) on every connection opened."""

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        if isinstance(dbapi_connection, sqlite3.Connection):
            dbapi_connection.execute("PRAGMA foreign_keys=ON")

    event.listen(Engine, "connect", on_connect)
    try:
        yield
    finally:
        event.remove(Engine, "connect", on_connect)


async def _state(tmp_path: Path) -> StateDatabase:
    state = StateDatabase(f"sqlite+aiosqlite:///{tmp_path / 'state.sqlite'}")
    await upgrade_schema(state.engine)
    return state


def _head(conn: Connection) -> tuple[int, str]:
    db = driver(conn)
    assert db is not None
    seq, hash_ = db.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
    return int(seq), str(hash_)


def _move_head_then_fail(conn: Connection) -> None:
    db = driver(conn)
    assert db is not None
    db.execute("UPDATE audit_head SET seq = 42 WHERE id = 1")
    raise ValueError("the operation failed half way")


def _move_head(conn: Connection, seq: int) -> int:
    db = driver(conn)
    assert db is not None
    db.execute("UPDATE audit_head SET seq = ? WHERE id = 1", (seq,))
    return seq


def _move_head_with_sqlalchemy(conn: Connection, seq: int) -> int:
    conn.execute(audit_head.update().where(audit_head.c.id == 1).values(seq=seq))
    return seq


async def test_a_failing_operation_is_rolled_back_and_the_writer_goes_on(tmp_path: Path) -> None:
    state = await _state(tmp_path)
    try:
        with pytest.raises(ValueError, match="half way"):
            await state.write(_move_head_then_fail)
        assert (await state.read(_head))[0] == 0
        assert await state.write(_move_head, 3) == 3
        assert await state.write(_move_head_with_sqlalchemy, 4) == 4
        assert (await state.read(_head))[0] == 4
    finally:
        await state.dispose()


async def test_a_failed_commit_is_sqlalchemys_error_and_nothing_of_it_stays(
    tmp_path: Path, foreign_keys: None
) -> None:
    state = await _state(tmp_path)
    try:
        async with state.engine.begin() as conn:
            await conn.execute(text(FAILING_COMMIT[0]))
            await conn.execute(
                text(
                    "CREATE TRIGGER fail_commit AFTER UPDATE ON audit_head "
                    "WHEN NEW.seq = 7 BEGIN INSERT INTO commit_guard VALUES (999); END"
                )
            )
        # Straight on sqlite3 and through SQLAlchemy alike: the class SQLAlchemy maps to.
        with pytest.raises(IntegrityError, match="FOREIGN KEY"):
            await state.write(_move_head, 7)
        with pytest.raises(IntegrityError, match="FOREIGN KEY"):
            await state.write(_move_head_with_sqlalchemy, 7)
        assert (await state.read(_head))[0] == 0
        assert await state.write(_move_head, 8) == 8
        assert (await state.read(_head))[0] == 8
    finally:
        await state.dispose()


async def test_a_write_that_cannot_take_the_lock_fails_as_operational_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("gateway.governance.state_db.SQLITE_BUSY_MS", 50)
    state = await _state(tmp_path)
    other = sqlite3.connect(tmp_path / "state.sqlite", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        with pytest.raises(OperationalError, match="locked"):
            await state.write(_move_head, 5)
        other.execute("ROLLBACK")
        assert await state.write(_move_head, 6) == 6
    finally:
        other.close()
        await state.dispose()


async def test_appends_group_commit_and_a_failed_commit_fails_only_its_batch(
    tmp_path: Path, foreign_keys: None
) -> None:
    state = await _state(tmp_path)
    audit = AuditLog(state)
    try:
        numbers = await asyncio.gather(*(audit.append([RECORD]) for _ in range(20)))
        assert sorted(n for (n,) in numbers) == list(range(1, 21))
        async with state.engine.begin() as conn:
            for statement in FAILING_COMMIT:
                await conn.execute(text(statement))
        failed = await asyncio.gather(
            *(audit.append([RECORD]) for _ in range(5)), return_exceptions=True
        )
        assert all(isinstance(outcome, AuditUnavailable) for outcome in failed)
        async with state.engine.begin() as conn:
            await conn.execute(text("DROP TRIGGER fail_commit"))
        assert await audit.append([RECORD, RECORD]) == [21, 22]
        report = await verify_chain(state.engine)
        assert report.ok and report.records == 22, report
    finally:
        await audit.close()
        await state.dispose()


async def test_a_failed_audit_commit_fails_the_request_closed_and_the_chain_stays_whole(
    tmp_path: Path, population: Population, store_dir: Path, foreign_keys: None
) -> None:
    world = World(tmp_path, population, store_dir)
    try:
        await world.start()
        assert world.gateway is not None and world.settings is not None
        query = '{ person(id: "%s") { health { communityEpisodes { service } } } }' % (
            world.person_id(0)
        )
        assert (await world.post(query)).status_code == 200
        engine = world.gateway.state_engine
        async with engine.begin() as conn:
            for statement in FAILING_COMMIT:
                await conn.execute(text(statement))
        world.trust.calls.clear()
        refused = await world.post(query)
        assert refused.status_code == 503
        assert refused.json()["errors"][0]["extensions"]["code"] == "AUDIT_UNAVAILABLE"
        assert "data" not in refused.json()
        assert world.trust.calls == []  # the intent never became durable: nobody was asked
        async with engine.begin() as conn:
            await conn.execute(text("DROP TRIGGER fail_commit"))
        assert (await world.post(query)).status_code == 200
        key = load_signing_key(world.settings.audit_signing_key_file)  # type: ignore[arg-type]
        report = await verify_chain(engine, key.public_key())
        assert report.ok and report.records == 4, report
        async with engine.connect() as conn:
            kinds = [r[0] for r in await conn.execute(select(disclosures.c.kind))]
        assert kinds == ["intent", "disclosure", "intent", "disclosure"]
    finally:
        await world.stop()
