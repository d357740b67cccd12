"""The rows a request is decided on are kept in memory only while the state's change
marker stands still: database triggers move it on any change, by any process or tool,
and the next read sees the change. Cold people are read, warm ones are not."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from fame_demo.synthetic import Population
from gateway.decide.requester import Requester
from gateway.governance.migrate import upgrade_schema
from gateway.governance.state_db import StateDatabase
from gateway.governance.state_marker import MarkedCache, read_marker
from gateway.governance.state_reads import kept_for, read_caseload_page, read_request_state
from tests.conftest import fresh_mariadb_database, fresh_postgres_database
from tests.gateway.state_trace import Trace
from tests.support import Process, two_processes, withdrawal_is_honoured_by_the_reader

KINDS = ["sqlite", "postgres"]
NURSE = Requester("dn-okafor", "shire-community-health", "District Nursing", frozenset(), "care")
OTHER = Requester("gp-shah", "riverside-gp", None, frozenset(), "care")
WATCHED = ("persons", "person_links", "consents", "break_glass_grants")


@contextlib.asynccontextmanager
async def _state(kind: str, tmp_path: Path) -> AsyncIterator[StateDatabase]:
    """A migrated state database, as the gateway reaches it."""
    databases: dict[str, Callable[[], contextlib.AbstractAsyncContextManager[str]]] = {
        "postgres": fresh_postgres_database,
        "mariadb": fresh_mariadb_database,
    }
    async with contextlib.AsyncExitStack() as stack:
        if kind == "sqlite":
            url = f"sqlite+aiosqlite:///{tmp_path / 'state.sqlite'}"
        else:
            url = await stack.enter_async_context(databases[kind]())
        state = StateDatabase(url)
        stack.push_async_callback(state.dispose)
        await upgrade_schema(state.engine)
        yield state


class RawSql:
    """A second connection to the same database, through no gateway code at all."""

    def __init__(self, state: StateDatabase, tmp_path: Path) -> None:
        self._sqlite = state.dialect == "sqlite"
        self._offset = state.dialect == "postgresql"
        self._path = tmp_path / "state.sqlite"
        self._url = state.url

    async def run(self, *statements: str) -> None:
        """Run ``statements`` in one transaction, committed."""
        if self._sqlite:
            db = sqlite3.connect(self._path)
            try:
                with db:
                    for statement in statements:
                        db.execute(statement)
            finally:
                db.close()
            return
        engine = create_async_engine(self._url)
        try:
            async with engine.begin() as conn:
                for statement in statements:
                    await conn.execute(text(statement))
        finally:
            await engine.dispose()

    @property
    def time(self) -> str:
        """A time literal each database stores as the gateway's ``UtcDateTime`` does."""
        return "'2026-01-01 00:00:00+00'" if self._offset else "'2026-01-01 00:00:00'"


def _person(raw: RawSql, person_id: str) -> tuple[str, ...]:
    return (
        f"INSERT INTO persons (id, created_at) VALUES ('{person_id}', {raw.time})",
        "INSERT INTO person_links (person_id, agency_id, local_id, team, current) VALUES "
        f"('{person_id}', 'shire-community-health', 'L-{person_id}', 'District Nursing', TRUE)",
    )


def _consent(raw: RawSql, consent_id: str, person_id: str) -> str:
    return (
        "INSERT INTO consents (id, person_id, scope_kind, scope, recipient_kind, recipient, "
        "decision, valid_from, recorded_by, recorded_at, reference) VALUES "
        f"('{consent_id}', '{person_id}', 'category', 'health.physical', 'agency', "
        f"'shire-community-health', 'deny', {raw.time}, 'dpo', {raw.time}, 'Letter L-1')"
    )


def _grant(raw: RawSql, grant_id: str, person_id: str, requester: Requester) -> str:
    return (
        "INSERT INTO break_glass_grants (id, person_id, practitioner, agency, reason, purpose, "
        f"granted_at, expires_at) VALUES ('{grant_id}', '{person_id}', "
        f"'{requester.practitioner}', '{requester.agency}', 'collapsed at home', 'emergency', "
        f"{raw.time}, {raw.time})"
    )


async def _marker(state: StateDatabase) -> int | None:
    return await state.read(read_marker)


@pytest.mark.parametrize("kind", [*KINDS, "mariadb"])
async def test_every_change_to_the_state_a_request_reads_moves_the_marker(
    kind: str, tmp_path: Path
) -> None:
    async with _state(kind, tmp_path) as state:
        raw = RawSql(state, tmp_path)
        seen = [await _marker(state)]

        async def moved(*statements: str) -> None:
            await raw.run(*statements)
            seen.append(await _marker(state))
            assert seen[-1] is not None and seen[-2] is not None and seen[-1] > seen[-2], seen

        await moved(_person(raw, "p1")[0])
        await moved(_person(raw, "p1")[1])
        await moved(_consent(raw, "c1", "p1"))
        await moved(_grant(raw, "g1", "p1", NURSE))
        for table in WATCHED:
            key = "person_id" if table != "persons" else "id"
            # Any row changed, even to the value it had.
            await moved(f"UPDATE {table} SET {key} = 'p1' WHERE {key} = 'p1'")
        for table in ("break_glass_grants", "consents", "person_links", "persons"):
            await moved(f"DELETE FROM {table}")
        # The rest of the state (the audit, the linkage history) leaves it alone.
        before = await _marker(state)
        await raw.run(
            "INSERT INTO person_postcodes (person_id, postcode_key, first_seen_at) "
            f"VALUES ('p1', 'SY14AB', {raw.time})"
        )
        assert await _marker(state) == before


@pytest.mark.parametrize("kind", KINDS)
async def test_a_change_by_plain_sql_on_another_connection_is_read_next(
    kind: str, tmp_path: Path
) -> None:
    async with _state(kind, tmp_path) as state:
        raw = RawSql(state, tmp_path)
        await raw.run(*_person(raw, "p1"))
        first = await read_request_state(state, NURSE, ["p1"])
        assert list(first.links) == ["p1"] and not first.consents and not first.grants
        # Each change is made outside the gateway; the very next read sees it.
        await raw.run(_consent(raw, "c1", "p1"))
        consented = await read_request_state(state, NURSE, ["p1"])
        assert [consent.id for consent in consented.consents["p1"]] == ["c1"]
        await raw.run(f"UPDATE consents SET withdrawn_at = {raw.time} WHERE id = 'c1'")
        withdrawn = await read_request_state(state, NURSE, ["p1"])
        assert withdrawn.consents["p1"][0].withdrawn_at is not None
        await raw.run(_grant(raw, "g1", "p1", NURSE))
        granted = await read_request_state(state, NURSE, ["p1"])
        assert [grant.id for grant in granted.grants] == ["g1"]
        # Another requester's grants are not the nurse's.
        assert (await read_request_state(state, OTHER, ["p1"])).grants == []
        await raw.run("UPDATE person_links SET current = FALSE WHERE person_id = 'p1'")
        ended = await read_request_state(state, NURSE, ["p1"])
        assert [link.current for link in ended.links["p1"]["shire-community-health"]] == [False]
        await raw.run("DELETE FROM person_links", "DELETE FROM persons")
        gone = await read_request_state(state, NURSE, ["p1"])
        assert gone.links == {}


@pytest.mark.parametrize("kind", KINDS)
async def test_cold_people_are_read_and_warm_ones_are_not(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with _state(kind, tmp_path) as state:
        raw = RawSql(state, tmp_path)
        await raw.run(*_person(raw, "p1"), *_person(raw, "p2"))
        trace = Trace(state, monkeypatch)
        rows = ["persons", "person_links", "consents", "break_glass_grants"]
        await read_request_state(state, NURSE, ["p1"])
        assert trace.tables() == [["state_version", *rows]]
        # Warm: the marker alone.
        warm = await read_request_state(state, NURSE, ["p1"])
        assert trace.tables() == [["state_version"]]
        assert list(warm.links) == ["p1"]
        # One warm and one cold: only the cold one's rows are read.
        both = await read_request_state(state, NURSE, ["p1", "p2"])
        assert trace.tables() == [["state_version", *rows]]
        assert sorted(both.links) == ["p1", "p2"]
        assert len(kept_for(state).people) == 2
        # Another requester: the people are warm, that requester's grants are not.
        await read_request_state(state, OTHER, ["p1", "p2"])
        assert trace.tables() == [["state_version", "break_glass_grants"]]
        # Unknown ids are kept as unknown too.
        await read_request_state(state, NURSE, ["nobody"])
        await read_request_state(state, NURSE, ["nobody"])
        assert trace.tables() == [["state_version", *rows], ["state_version"]]


@pytest.mark.parametrize("kind", KINDS)
async def test_everything_kept_is_dropped_when_the_marker_moves(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with _state(kind, tmp_path) as state:
        raw = RawSql(state, tmp_path)
        await raw.run(*_person(raw, "p1"), *_person(raw, "p2"))
        await read_request_state(state, NURSE, ["p1", "p2"])
        assert len(kept_for(state).people) == 2
        trace = Trace(state, monkeypatch)
        # A change about p2 only: p1's rows, though unchanged, are read again as well.
        await raw.run(_consent(raw, "c2", "p2"))
        again = await read_request_state(state, NURSE, ["p1"])
        assert trace.tables() == [
            ["state_version", "persons", "person_links", "consents", "break_glass_grants"]
        ]
        assert list(again.links) == ["p1"]
        assert len(kept_for(state).people) == 1


@pytest.mark.parametrize("kind", KINDS)
async def test_a_caseload_page_is_kept_until_the_marker_moves(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with _state(kind, tmp_path) as state:
        raw = RawSql(state, tmp_path)
        await raw.run(*_person(raw, "p1"), *_person(raw, "p2"))
        agency, team = NURSE.agency, frozenset({"District Nursing"})
        trace = Trace(state, monkeypatch)
        assert await read_caseload_page(state, agency, 10, 0, team) == ["p1", "p2"]
        assert trace.tables() == [["state_version", "person_links"]]
        # Asked again: the marker alone. Another page, team or agency is its own read.
        assert await read_caseload_page(state, agency, 10, 0, team) == ["p1", "p2"]
        assert await read_caseload_page(state, agency, 1, 1, team) == ["p2"]
        assert await read_caseload_page(state, agency, 10, 0, frozenset({"Other"})) == []
        assert await read_caseload_page(state, "riverside-gp", 10, 0, None) == []
        assert trace.tables() == [
            ["state_version"],
            *[["state_version", "person_links"]] * 3,
        ]
        # Links changed outside the gateway: the next read of the same page sees them.
        await raw.run(*_person(raw, "p0"))
        assert await read_caseload_page(state, agency, 10, 0, team) == ["p0", "p1", "p2"]
        await raw.run("UPDATE person_links SET current = FALSE WHERE person_id = 'p1'")
        assert await read_caseload_page(state, agency, 10, 0, team) == ["p0", "p2"]
        await raw.run("UPDATE person_links SET team = 'Other' WHERE person_id = 'p2'")
        assert await read_caseload_page(state, agency, 10, 0, team) == ["p0"]
        assert await read_caseload_page(state, agency, 10, 0, None) == ["p0", "p2"]


@pytest.mark.parametrize("kind", KINDS)
async def test_the_policy_sees_the_links_as_read_now(kind: str, tmp_path: Path) -> None:
    async with _state(kind, tmp_path) as state:
        raw = RawSql(state, tmp_path)
        await raw.run(*_person(raw, "p1"))
        first = await read_request_state(state, NURSE, ["p1", "nobody"])
        assert list(first.facts) == ["p1"]
        (involvement,) = first.facts["p1"].involvements
        assert (involvement.agency, involvement.team, involvement.current) == (
            NURSE.agency,
            "District Nursing",
            True,
        )
        # Kept facts are the same value, not worked out again; a change makes new ones.
        assert (await read_request_state(state, NURSE, ["p1"])).facts["p1"] is first.facts["p1"]
        await raw.run("UPDATE person_links SET current = FALSE WHERE person_id = 'p1'")
        (ended,) = (await read_request_state(state, NURSE, ["p1"])).facts["p1"].involvements
        assert ended.current is False


def test_rows_read_under_an_older_marker_are_not_kept_under_a_newer_one() -> None:
    cache: MarkedCache[str, str] = MarkedCache(10)
    assert cache.hits(1, ["a"]) == {}
    # Another read saw the marker move while this one was reading its rows.
    assert cache.hits(2, ["a"]) == {}
    cache.store(1, {"a": "as of 1"})
    assert cache.hits(2, ["a"]) == {}
    cache.store(2, {"a": "as of 2"})
    assert cache.hits(2, ["a"]) == {"a": "as of 2"}
    # Without a marker row nothing is kept.
    assert cache.hits(None, ["a"]) == {}
    cache.store(None, {"a": "unmarked"})
    assert cache.hits(None, ["a"]) == {} and len(cache) == 0


def test_the_cache_is_bounded() -> None:
    cache: MarkedCache[int, int] = MarkedCache(3)
    cache.hits(1, [])
    cache.store(1, {n: n for n in range(10)})
    assert len(cache) == 3 and cache.hits(1, range(10)) == {7: 7, 8: 8, 9: 9}


@pytest.mark.parametrize("kind", KINDS)
async def test_a_withdrawal_through_another_process_applies_to_the_next_query(
    kind: str,
    tmp_path: Path,
    population: Population,
    store_dir: Path,
    processes_factory: list[Process],
    trust_url: str,
) -> None:
    async with contextlib.AsyncExitStack() as stack:
        if kind == "sqlite":
            url = f"sqlite+aiosqlite:///{tmp_path / 'state.sqlite'}"
        else:
            url = await stack.enter_async_context(fresh_postgres_database())
        settings, first, second = await two_processes(
            tmp_path, population, store_dir, trust_url, url, processes_factory
        )
        await withdrawal_is_honoured_by_the_reader(settings, population, second, first)
        for process in (first, second):
            process.stop()
