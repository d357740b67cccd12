"""What an audit commit waits for, and where it is written: a request's intent is committed
without waiting for the disk, its disclosure records (and every other write) wait for it
and sign the head that covers both, on SQLite and PostgreSQL; under load intents go ahead
of the disclosures waiting with them and a batch holding any append that must wait, waits;
a request running alone writes on the event loop's own thread unless the audit or the
write lock is busy."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, NamedTuple, cast

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from sqlalchemy import Connection, select, text

from gateway.audit.chain import verify_chain
from gateway.audit.log import AuditLog, AuditUnavailable
from gateway.audit.records import DISCLOSURE, INTENT
from gateway.decide.requester import Requester
from gateway.governance.migrate import upgrade_schema
from gateway.governance.state import audit_signatures, disclosures
from gateway.governance.state_db import StateDatabase
from gateway.governance.state_sqlite import driver
from gateway.governance.state_writer import Durability, WriteLockBusy
from gateway.pipeline.context import RequestContext
from tests.gateway.test_state_writer import RECORD
from tests.support import World

#: Makes the test's record (an intent) a disclosure record.
_DISCLOSED = {"kind": DISCLOSURE, "person_id": "p1"}
MEDICATIONS = '{ person(id: "%s") { health { medications { name } } } }'
REQUESTER = Requester(
    practitioner="sw-patel",
    agency="shire-adult-social-care",
    team=None,
    roles=frozenset({"social_worker"}),
    purpose="direct_care",
)


def _sqlite_synchronous(conn: Connection) -> int:
    # Inside the write's own transaction: the setting its COMMIT will run under.
    db = driver(conn)
    assert db is not None
    return int(db.execute("PRAGMA synchronous").fetchone()[0])


def _postgres_synchronous_commit(conn: Connection) -> str:
    return str(conn.exec_driver_sql("SHOW synchronous_commit").scalar())


async def _settings_seen(state: StateDatabase, probe: Callable[[Connection], Any]) -> list[Any]:
    # Each durability in turn, both ways round, then a plain write: nothing of one write's
    # setting may leak into the next.
    return [
        await state.start_write(Durability.COMMITTED, probe),
        await state.start_write(Durability.DISK, probe),
        await state.start_write(Durability.COMMITTED, probe),
        await state.start_write(Durability.COMMITTED, probe),
        await state.write(probe),
    ]


async def test_on_sqlite_only_a_committed_write_skips_the_disk_wait(tmp_path: Path) -> None:
    state = StateDatabase(f"sqlite+aiosqlite:///{tmp_path / 'state.sqlite'}")
    await upgrade_schema(state.engine)
    try:
        # 1 is NORMAL (in WAL mode the commit does not wait for the disk), 2 is FULL.
        assert await _settings_seen(state, _sqlite_synchronous) == [1, 2, 1, 1, 2]
    finally:
        await state.dispose()


async def test_on_postgresql_only_a_committed_write_skips_the_flush_wait(
    postgres_state: str,
) -> None:
    state = StateDatabase(postgres_state)
    try:
        # SET LOCAL: the setting ends with its transaction, on whichever pooled connection.
        assert await _settings_seen(state, _postgres_synchronous_commit) == [
            "off",
            "on",
            "off",
            "off",
            "on",
        ]
    finally:
        await state.dispose()


class _Recorded:
    """Each transaction the audit writes: where (the writer thread, or inline on the event
    loop's own thread), what it waits for, and its records' kinds."""

    def __init__(self, state: StateDatabase, monkeypatch: pytest.MonkeyPatch) -> None:
        self.batches: list[tuple[str, Durability, list[str]]] = []
        start, now = state.start_write, state.write_if_free

        def started(durability: Durability, fn: Any, rows: Any, *rest: Any) -> Any:
            self.batches.append(("thread", durability, [row["kind"] for row in rows]))
            return start(durability, fn, rows, *rest)

        def written(durability: Durability, fn: Any, rows: Any, *rest: Any) -> Any:
            result = now(durability, fn, rows, *rest)  # recorded only once it has written
            self.batches.append(("inline", durability, [row["kind"] for row in rows]))
            return result

        monkeypatch.setattr(state, "start_write", started)
        monkeypatch.setattr(state, "write_if_free", written)


class _Audited(NamedTuple):
    """An audit over its own SQLite state database, what it writes where, a request's
    context, and another process's connection to the same database."""

    state: StateDatabase
    audit: AuditLog
    recorded: _Recorded
    context: RequestContext
    other: sqlite3.Connection


@pytest.fixture
async def audited(
    tmp_path: Path, world: World, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[_Audited]:
    assert world.gateway is not None
    state = StateDatabase(f"sqlite+aiosqlite:///{tmp_path / 'audit.sqlite'}")
    await upgrade_schema(state.engine)
    audit = AuditLog(state)
    other = sqlite3.connect(tmp_path / "audit.sqlite", isolation_level=None)
    try:
        yield _Audited(
            state,
            audit,
            _Recorded(state, monkeypatch),
            RequestContext(REQUESTER, world.gateway, query_hash="q"),
            other,
        )
    finally:
        other.close()
        await audit.close()
        await state.dispose()


async def test_a_request_commits_its_intent_without_the_disk_wait_and_its_disclosure_with_it(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert world.gateway is not None
    recorded = _Recorded(world.gateway.state, monkeypatch)
    result = await world.query(MEDICATIONS % world.person_id(0))
    assert "errors" not in result, result
    # The only request running: both written on the event loop's own thread.
    assert recorded.batches == [
        ("inline", Durability.COMMITTED, [INTENT]),
        ("inline", Durability.DISK, [DISCLOSURE]),
    ]
    # Two at once: at least the one that was not alone hands its writes to the thread.
    recorded.batches.clear()
    both = await asyncio.gather(
        world.query(MEDICATIONS % world.person_id(0)), world.query(MEDICATIONS % world.person_id(1))
    )
    assert all("errors" not in result for result in both), both
    kinds = sorted(kind for _, _, batch in recorded.batches for kind in batch)
    assert kinds == [DISCLOSURE, DISCLOSURE, INTENT, INTENT]
    assert any(where == "thread" for where, _, _ in recorded.batches), recorded.batches
    assert all(
        durability is (Durability.DISK if DISCLOSURE in batch else Durability.COMMITTED)
        for _, durability, batch in recorded.batches
    ), recorded.batches


async def test_waiting_intents_are_committed_together_ahead_of_waiting_disclosures(
    audited: _Audited,
) -> None:
    state, audit, recorded, context, other = audited
    # Another process holds the write lock: the first transaction waits for it, and
    # everything appended meanwhile goes into the next.
    other.execute("BEGIN IMMEDIATE")
    first = audit.intent(context)
    intents = [audit.intent(context), audit.intent(context)]
    await asyncio.sleep(0.05)
    other.execute("ROLLBACK")
    await asyncio.gather(first, *intents)
    other.execute("BEGIN IMMEDIATE")
    alone = audit.intent(context)
    mixed = [audit.intent(context), asyncio.ensure_future(audit.append([RECORD | _DISCLOSED]))]
    await asyncio.sleep(0.05)
    other.execute("ROLLBACK")
    await asyncio.gather(alone, *mixed)
    assert recorded.batches == [
        ("thread", Durability.COMMITTED, [INTENT]),
        ("thread", Durability.COMMITTED, [INTENT, INTENT]),
        ("thread", Durability.COMMITTED, [INTENT]),
        ("thread", Durability.COMMITTED, [INTENT]),
        ("thread", Durability.DISK, [DISCLOSURE]),
    ]
    report = await verify_chain(state.engine)
    assert report.ok and report.records == 6, report
    async with state.engine.connect() as conn:
        kinds = [row[0] for row in await conn.execute(select(disclosures.c.kind))]
    assert kinds == [INTENT] * 5 + [DISCLOSURE]


async def test_an_intent_committed_without_the_disk_wait_is_seen_by_another_connection_at_once(
    tmp_path: Path, world: World
) -> None:
    assert world.gateway is not None
    state = StateDatabase(f"sqlite+aiosqlite:///{tmp_path / 'audit.sqlite'}")
    await upgrade_schema(state.engine)
    audit = AuditLog(state)
    try:
        (seq,) = await audit.intent(RequestContext(REQUESTER, world.gateway, query_hash="q"))
        other = sqlite3.connect(tmp_path / "audit.sqlite")
        try:
            row = other.execute("SELECT kind FROM disclosures WHERE seq = ?", (seq,)).fetchone()
        finally:
            other.close()
        assert row == (INTENT,)
        async with state.engine.connect() as conn:
            head = (await conn.execute(text("SELECT seq FROM audit_head"))).scalar()
        assert head == seq
    finally:
        await audit.close()
        await state.dispose()


async def test_a_request_running_alone_writes_inline_unless_the_audit_or_the_lock_is_busy(
    audited: _Audited,
) -> None:
    state, audit, recorded, context, other = audited
    await audit.intent(context, alone=True)
    await audit.append([RECORD | _DISCLOSED], alone=True)
    await audit.intent(context)  # others are running: the writer thread
    # The audit's own write under way: behind it, on the thread, whoever is alone.
    under_way = asyncio.ensure_future(audit.append([RECORD | _DISCLOSED]))
    await asyncio.sleep(0)
    await asyncio.gather(under_way, audit.intent(context, alone=True))
    # Another process holds the write lock: to the thread, which waits for it.
    other.execute("BEGIN IMMEDIATE")
    held = audit.intent(context, alone=True)
    await asyncio.sleep(0.05)
    assert not held.done()
    other.execute("ROLLBACK")
    await held
    assert recorded.batches == [
        ("inline", Durability.COMMITTED, [INTENT]),
        ("inline", Durability.DISK, [DISCLOSURE]),
        ("thread", Durability.COMMITTED, [INTENT]),
        ("thread", Durability.DISK, [DISCLOSURE]),
        ("thread", Durability.COMMITTED, [INTENT]),
        ("thread", Durability.COMMITTED, [INTENT]),
    ]
    report = await verify_chain(state.engine)
    assert report.ok and report.records == 6, report


def _move_head(conn: Connection, seq: int) -> int:
    # Returns the synchronous setting the write commits under (1 NORMAL, 2 FULL).
    db = driver(conn)
    assert db is not None
    db.execute("UPDATE audit_head SET seq = ? WHERE id = 1", (seq,))
    return int(db.execute("PRAGMA synchronous").fetchone()[0])


async def test_an_inline_write_commits_at_once_or_leaves_the_lock_to_its_holder(
    tmp_path: Path,
) -> None:
    state = StateDatabase(f"sqlite+aiosqlite:///{tmp_path / 'state.sqlite'}")
    await upgrade_schema(state.engine)
    other = sqlite3.connect(tmp_path / "state.sqlite", isolation_level=None)

    def head() -> int:
        return int(other.execute("SELECT seq FROM audit_head").fetchone()[0])

    try:
        assert state.writes_inline
        assert state.write_if_free(Durability.COMMITTED, _move_head, 5) == 1
        assert head() == 5  # committed: another connection sees it at once
        assert state.write_if_free(Durability.DISK, _move_head, 6) == 2
        other.execute("BEGIN IMMEDIATE")  # another process writing
        with pytest.raises(WriteLockBusy):
            state.write_if_free(Durability.COMMITTED, _move_head, 7)
        other.execute("ROLLBACK")
        assert head() == 6
        assert await state.write(_move_head, 8) == 2
        assert state.write_if_free(Durability.COMMITTED, _move_head, 9) == 1
        assert head() == 9
    finally:
        other.close()
        await state.dispose()


class _ManualState:
    """A state database whose writes finish when the test says: the audit's batching
    seen one transaction at a time."""

    writes_inline = False

    def __init__(self) -> None:
        self.writes: list[tuple[Durability, list[str], asyncio.Future[list[int]]]] = []
        self._seq = 0
        #: Writes of this durability cannot even be started.
        self.refuse: Durability | None = None

    def start_write(
        self, durability: Durability, _fn: Any, rows: Any, _key: Any
    ) -> asyncio.Future[list[int]]:
        if durability is self.refuse:
            raise OSError("the writer could not be reached")
        future: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        self.writes.append((durability, [row["kind"] for row in rows], future))
        return future

    async def finish(self, index: int) -> None:
        _, kinds, future = self.writes[index]
        future.set_result(list(range(self._seq + 1, self._seq + 1 + len(kinds))))
        self._seq += len(kinds)
        for _ in range(4):  # the audit's callbacks run, wake its callers, start the next
            await asyncio.sleep(0)

    def seen(self) -> list[tuple[Durability, list[str]]]:
        return [(durability, kinds) for durability, kinds, _ in self.writes]


class _Manual(NamedTuple):
    """An audit over a :class:`_ManualState`, and a request's context."""

    state: _ManualState
    audit: AuditLog
    context: RequestContext


@pytest.fixture
async def manual(world: World) -> AsyncIterator[_Manual]:
    assert world.gateway is not None
    state = _ManualState()
    audit = AuditLog(cast(StateDatabase, state))
    yield _Manual(state, audit, RequestContext(REQUESTER, world.gateway, query_hash="q"))
    await audit.close()


async def _disclose(audit: AuditLog) -> asyncio.Future[list[int]]:
    # A disclosure record appended, its write submitted before this returns.
    appended = asyncio.ensure_future(audit.append([RECORD | _DISCLOSED]))
    await asyncio.sleep(0)
    return appended


async def test_disclosures_held_back_for_intents_go_next_with_whatever_arrived(
    manual: _Manual,
) -> None:
    state, audit, context = manual
    first = await _disclose(audit)
    assert state.seen() == [(Durability.DISK, [DISCLOSURE])]
    # While it is written: an intent, a disclosure, another intent.
    early = audit.intent(context)
    held = await _disclose(audit)
    later = audit.intent(context)
    await state.finish(0)
    assert first.done()
    # The intents first, not waiting for the disk; the disclosure held back.
    assert state.seen()[1] == (Durability.COMMITTED, [INTENT, INTENT])
    # An intent arriving now goes with the held-back disclosure, which is not passed over
    # again: that transaction waits for the disk.
    last = audit.intent(context)
    await state.finish(1)
    assert early.done() and later.done() and not held.done()
    assert state.seen()[2] == (Durability.DISK, [DISCLOSURE, INTENT])
    await state.finish(2)
    await asyncio.gather(held, last)
    assert state.seen() == [
        (Durability.DISK, [DISCLOSURE]),
        (Durability.COMMITTED, [INTENT, INTENT]),
        (Durability.DISK, [DISCLOSURE, INTENT]),
    ]


async def test_disclosures_held_back_fail_with_the_batch_that_could_not_be_started(
    manual: _Manual,
) -> None:
    state, audit, context = manual
    first = await _disclose(audit)
    intent = audit.intent(context)
    held = await _disclose(audit)
    state.refuse = Durability.COMMITTED
    await state.finish(0)
    await first
    # The intents' transaction could not start: the disclosure held back behind it fails
    # too (closed), rather than waiting for a write that may never come.
    outcomes = await asyncio.wait_for(
        asyncio.gather(intent, held, return_exceptions=True), timeout=5
    )
    assert all(isinstance(outcome, AuditUnavailable) for outcome in outcomes), outcomes
    # The next append is written as ever.
    state.refuse = None
    again = await _disclose(audit)
    await state.finish(1)
    assert await again == [2]


async def test_a_head_is_signed_by_the_commit_that_puts_it_on_disk(
    tmp_path: Path, world: World
) -> None:
    assert world.gateway is not None
    key = Ed25519PrivateKey.generate()
    key_file = tmp_path / "audit-signing.pem"
    key_file.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    state = StateDatabase(f"sqlite+aiosqlite:///{tmp_path / 'audit.sqlite'}")
    await upgrade_schema(state.engine)
    audit = AuditLog(state, key_file)
    audit.open()
    context = RequestContext(REQUESTER, world.gateway, query_hash="q")

    async def signed() -> list[int]:
        async with state.engine.connect() as conn:
            return [row[0] for row in await conn.execute(select(audit_signatures.c.seq))]

    try:
        await audit.intent(context, alone=True)
        await audit.intent(context)
        assert await signed() == []  # intents alone are not on disk yet
        await audit.append([RECORD | _DISCLOSED], alone=True)
        await audit.intent(context)
        await audit.append([RECORD | _DISCLOSED])
        # Each disclosure's head covers the intents before it.
        assert await signed() == [3, 5]
        report = await verify_chain(state.engine, key.public_key())
        assert report.ok and report.records == 5, report
    finally:
        await audit.close()
        await state.dispose()
