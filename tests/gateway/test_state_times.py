"""Times in the state database keep their instant, whatever offset they were given in,
on SQLite (which stores no offset) and on PostgreSQL."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.decide.policy import ConsentDecision
from gateway.decide.requester import Requester
from gateway.governance.judge import ConsentRegistry, GrantRegistry
from gateway.governance.migrate import upgrade_schema
from gateway.governance.state import NaiveDateTimeError, create_state_engine
from tests.conftest import fresh_postgres_database

PLUS_14 = dt.timezone(dt.timedelta(hours=14))
MINUS_12 = dt.timezone(dt.timedelta(hours=-12))
#: 10:00 on 1 March in Kiribati is 20:00 on 28 February UTC; 10:00 at -12:00 is 22:00 UTC.
FROM_EAST = dt.datetime(2026, 3, 1, 10, 0, tzinfo=PLUS_14)
UNTIL_WEST = dt.datetime(2026, 3, 1, 10, 0, tzinfo=MINUS_12)


@pytest.fixture(params=["sqlite", "postgres"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A fresh state database of each kind."""
    async with contextlib.AsyncExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite+aiosqlite:///{tmp_path / 'state.sqlite'}"
        else:
            url = await stack.enter_async_context(fresh_postgres_database())
        state = create_state_engine(url)
        await upgrade_schema(state)
        stack.push_async_callback(state.dispose)
        yield state


async def test_a_validity_window_keeps_its_instants(engine: AsyncEngine) -> None:
    registry = ConsentRegistry(engine)
    recorded_at = dt.datetime(2026, 2, 28, 23, 30, tzinfo=MINUS_12)
    stored = await registry.record(
        person_id="p1",
        scope_kind="category",
        scope="health",
        recipient_kind="agency",
        recipient="shire-housing",
        decision=ConsentDecision.PERMIT,
        valid_from=FROM_EAST,
        valid_until=UNTIL_WEST,
        recorded_by="sw-patel",
        reference="form SF-12",
        reference_form="signed_form",
        now=recorded_at,
    )
    (again,) = (await ConsentRegistry(engine).for_people(["p1"]))["p1"]
    for consent in (stored, again):
        assert consent.valid_from == FROM_EAST
        assert consent.valid_until == UNTIL_WEST
        assert consent.valid_from.utcoffset() == dt.timedelta(0)
        assert consent.valid_from == dt.datetime(2026, 2, 28, 20, 0, tzinfo=dt.UTC)
        assert consent.valid_until == dt.datetime(2026, 3, 1, 22, 0, tzinfo=dt.UTC)
        # 26 hours apart, not the 0 hours a dropped offset would leave.
        assert consent.valid_until - consent.valid_from == dt.timedelta(hours=26)
    withdrawn = await registry.withdraw(stored.id, "sw-patel", FROM_EAST)
    assert withdrawn.withdrawn_at == FROM_EAST


async def test_grant_times_keep_their_instants(engine: AsyncEngine) -> None:
    grants = GrantRegistry(engine)
    requester = Requester("dr-khan", "riverside-gp", None, frozenset({"gp"}), "emergency")
    grant = await grants.grant(requester, "p1", "collapsed at home, no history", UNTIL_WEST, 4)
    stored = await grants.get(grant.id)
    assert stored is not None
    assert stored.granted_at == UNTIL_WEST
    assert stored.expires_at == dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC)
    # 13:00 on 2 March at +14:00 is 23:00 on 1 March UTC: an hour into the grant.
    an_hour_later = dt.datetime(2026, 3, 2, 13, 0, tzinfo=PLUS_14)
    ended = await grants.end(grant.id, requester, an_hour_later)
    assert ended.ended_at == an_hour_later
    assert ended.ended_at - ended.granted_at == dt.timedelta(hours=1)


async def test_a_naive_time_is_refused_not_guessed(engine: AsyncEngine) -> None:
    with pytest.raises(Exception) as raised:
        await ConsentRegistry(engine).record(
            person_id="p1",
            scope_kind="category",
            scope="health",
            recipient_kind="agency",
            recipient="shire-housing",
            decision=ConsentDecision.PERMIT,
            valid_from=dt.datetime(2026, 3, 1, 10, 0),
            valid_until=None,
            recorded_by="sw-patel",
            reference="form SF-12",
            reference_form="signed_form",
            now=FROM_EAST,
        )
    assert isinstance(raised.value.__cause__ or raised.value, NaiveDateTimeError) or (
        "has no UTC offset" in str(raised.value)
    )
