"""Registering people in the person index over a real SQLite state database: one at a
time or a whole population in one transaction, idempotent, and all or nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from gateway.governance.person_index import PersonIndex, Registration
from gateway.governance.state import person_link_events, person_links, persons
from gateway.governance.state_db import StateDatabase


async def _counts(state: StateDatabase) -> tuple[int, int, int]:
    async with state.engine.connect() as conn:
        return (
            (await conn.execute(select(func.count()).select_from(persons))).scalar_one(),
            (await conn.execute(select(func.count()).select_from(person_links))).scalar_one(),
            (await conn.execute(select(func.count()).select_from(person_link_events))).scalar_one(),
        )


def _person(number: int, *links: tuple[str, str, str | None]) -> Registration:
    return Registration(
        links=links,
        nhs_number=f"999000{number:04d}",
        given_name="Ada",
        family_name=f"Test{number}",
        date_of_birth=dt.date(1950, 1, 1 + number % 28),
        postcode="SY1 4AB",
    )


async def test_a_population_registers_in_one_call_and_again_changes_nothing(
    state: StateDatabase,
) -> None:
    index = PersonIndex(state)
    people = [
        _person(n, ("riverside-gp", f"GP-{n}", "practice"), ("shire-housing", f"H-{n}", None))
        for n in range(50)
    ]
    ids = await index.register_all(people)
    assert len(set(ids)) == 50
    assert await _counts(state) == (50, 100, 100)
    links = await index.links(ids[:1])
    assert {agency: [link.local_id for link in held] for agency, held in links[ids[0]].items()} == {
        "riverside-gp": ["GP-0"],
        "shire-housing": ["H-0"],
    }
    async with state.engine.connect() as conn:
        provenance = (
            await conn.execute(
                select(
                    person_link_events.c.action,
                    person_link_events.c.method,
                    person_link_events.c.actor,
                ).distinct()
            )
        ).all()
    assert provenance == [("link", "deterministic", "register")]
    # The same people again: found by NHS number, their links already there.
    assert await index.register_all(people) == ids
    assert await _counts(state) == (50, 100, 100)
    # One at a time gives the same person, and a second team's hold is a link of its own.
    again = await index.register(
        [("riverside-gp", "GP-7", "district-nurses")], nhs_number=people[7].nhs_number
    )
    assert again == ids[7]
    assert await _counts(state) == (50, 101, 101)


async def test_a_record_linked_to_someone_else_fails_the_whole_call(state: StateDatabase) -> None:
    index = PersonIndex(state)
    await index.register_all([_person(1, ("shire-housing", "H-1", None))])
    before = await _counts(state)
    batch = [_person(2, ("shire-housing", "H-2", None)), _person(3, ("shire-housing", "H-1", None))]
    with pytest.raises(IntegrityError, match="shire-housing/H-1 is already linked"):
        await index.register_all(batch)
    assert await _counts(state) == before, "nothing of a refused call is kept"
