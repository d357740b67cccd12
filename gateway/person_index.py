"""The person index: one gateway person id, many agencies' local identifiers."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.state import person_links, persons

#: A person's links: agency id -> that agency's local ids for the person.
Links = dict[str, list[str]]


class PersonIndex:
    """Links gateway person ids to (agency, local id) pairs in the state database."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def links(self, person_ids: Sequence[str]) -> dict[str, Links]:
        """The links of each known person id; unknown ids are absent."""
        if not person_ids:
            return {}
        found: dict[str, Links] = {}
        async with self._engine.connect() as conn:
            known = await conn.execute(select(persons.c.id).where(persons.c.id.in_(person_ids)))
            for (person_id,) in known:
                found[person_id] = {}
            rows = await conn.execute(
                select(person_links.c.person_id, person_links.c.agency_id, person_links.c.local_id)
                .where(person_links.c.person_id.in_(person_ids))
                .order_by(person_links.c.agency_id, person_links.c.local_id)
            )
            for person_id, agency_id, local_id in rows:
                found.setdefault(person_id, {}).setdefault(agency_id, []).append(local_id)
        return found

    async def people_of_agency(self, agency_id: str, limit: int, offset: int = 0) -> list[str]:
        """Person ids the agency holds a record for, in a stable order."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(person_links.c.person_id)
                .where(person_links.c.agency_id == agency_id)
                .group_by(person_links.c.person_id)
                .order_by(person_links.c.person_id)
                .limit(limit)
                .offset(offset)
            )
            return [row[0] for row in rows]

    async def count_of_agency(self, agency_id: str) -> int:
        """How many people the agency holds a record for."""
        async with self._engine.connect() as conn:
            result = await conn.execute(
                select(func.count(func.distinct(person_links.c.person_id))).where(
                    person_links.c.agency_id == agency_id
                )
            )
            return int(result.scalar_one())

    async def by_nhs_number(self, nhs_number: str) -> str | None:
        """The person id holding this NHS number, if any."""
        async with self._engine.connect() as conn:
            result = await conn.execute(
                select(persons.c.id).where(persons.c.nhs_number == nhs_number)
            )
            return result.scalar_one_or_none()

    async def register(
        self,
        links: Iterable[tuple[str, str]],
        *,
        nhs_number: str | None = None,
        person_id: str | None = None,
    ) -> str:
        """Create (or extend) a person with the given (agency, local id) links.

        A person with the same NHS number is reused, so linking is idempotent.
        """
        async with self._engine.begin() as conn:
            existing = None
            if nhs_number is not None:
                result = await conn.execute(
                    select(persons.c.id).where(persons.c.nhs_number == nhs_number)
                )
                existing = result.scalar_one_or_none()
            if existing is None:
                existing = person_id or str(uuid.uuid4())
                await conn.execute(
                    persons.insert().values(
                        id=existing, nhs_number=nhs_number, created_at=dt.datetime.now(dt.UTC)
                    )
                )
            for agency_id, local_id in links:
                taken = await conn.execute(
                    select(person_links.c.person_id).where(
                        person_links.c.agency_id == agency_id,
                        person_links.c.local_id == local_id,
                    )
                )
                owner = taken.scalar_one_or_none()
                if owner == existing:
                    continue
                if owner is not None:
                    raise IntegrityError(
                        f"{agency_id}/{local_id} is already linked to another person",
                        None,
                        ValueError("duplicate link"),
                    )
                await conn.execute(
                    person_links.insert().values(
                        person_id=existing, agency_id=agency_id, local_id=local_id
                    )
                )
            return existing
