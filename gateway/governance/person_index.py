"""The person index: one gateway person id, many agencies' local identifiers."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, and_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.decide.policy import Involvement, PersonFacts
from gateway.governance.linkage_store import IncomingRecord, insert_link, insert_person
from gateway.governance.matching import Identity, name_key, postcode_key
from gateway.governance.state import person_links, persons
from gateway.governance.state_db import StateDatabase
from gateway.governance.state_sqlite import driver, rows_in


@dataclass(frozen=True)
class Link:
    """One agency's record of the person: its local id, the team holding it, whether current."""

    local_id: str
    team: str | None = None
    current: bool = True


@dataclass(frozen=True)
class IndexEntry:
    """What exact-identifier search shows without a relationship: no detail."""

    person_id: str
    given_name: str | None
    family_name: str | None
    date_of_birth: dt.date | None
    agencies: tuple[str, ...]


#: A person's links: agency id -> that agency's records of the person.
Links = dict[str, list[Link]]

#: The namespace under which the demo derives person ids from NHS numbers, so that the
#: README's query keeps working. Production ids are random (uuid4): an id derived from
#: an NHS number could be computed by anyone holding the number.
DEMO_NAMESPACE = uuid.UUID("6f1c1f9e-3a51-4c53-9d0c-fa3e2003f00d")


def demo_person_id(nhs_number: str) -> str:
    """The stable gateway person id the demo gives a synthetic person."""
    return str(uuid.uuid5(DEMO_NAMESPACE, nhs_number))


def person_facts(person_id: str, links: Links) -> PersonFacts:
    """The policy's view of a person's involvements, from the person index links."""
    return PersonFacts(
        person_id=person_id,
        involvements=tuple(
            Involvement(agency=agency, team=link.team, current=link.current)
            for agency, agency_links in sorted(links.items())
            for link in agency_links
        ),
    )


def read_links(conn: Connection, person_ids: Sequence[str]) -> dict[str, Links]:
    """The links of each known person id, read on a synchronous connection; unknown ids
    are absent. The one place links are read and turned into values."""
    if not person_ids:
        return {}
    found: dict[str, Links] = {}
    columns = ("person_id", "agency_id", "local_id", "team", "current")
    db = driver(conn)
    if db is not None:
        known = [row["id"] for row in rows_in(db, persons, "id", person_ids, columns=("id",))]
        links = [
            tuple(row.values())
            for row in rows_in(
                db,
                person_links,
                "person_id",
                person_ids,
                columns=columns,
                order_by=("agency_id", "local_id"),
            )
        ]
    else:
        known = list(
            conn.execute(select(persons.c.id).where(persons.c.id.in_(person_ids))).scalars()
        )
        links = [
            tuple(row)
            for row in conn.execute(
                select(*(person_links.c[name] for name in columns))
                .where(person_links.c.person_id.in_(person_ids))
                .order_by(person_links.c.agency_id, person_links.c.local_id)
            )
        ]
    for person_id in known:
        found[str(person_id)] = {}
    for person_id, agency_id, local_id, team, current in links:
        found.setdefault(person_id, {}).setdefault(agency_id, []).append(
            Link(local_id, team, bool(current))
        )
    return found


def read_caseload(
    conn: Connection, agency_id: str, limit: int, offset: int, teams: frozenset[str] | None
) -> list[str]:
    """Person ids with a current involvement of the agency, held by one of ``teams`` when
    given (None: by any team), in id order: one page of the agency's caseload."""
    condition = and_(person_links.c.agency_id == agency_id, person_links.c.current.is_(True))
    if teams is not None:
        condition = and_(condition, person_links.c.team.in_(sorted(teams)))
    statement = (
        select(person_links.c.person_id)
        .where(condition)
        .group_by(person_links.c.person_id)
        .order_by(person_links.c.person_id)
        .limit(limit)
        .offset(offset)
    )
    return [str(value) for value in conn.execute(statement).scalars()]


class PersonIndex:
    """Links gateway person ids to (agency, local id) pairs in the state database."""

    def __init__(self, state: StateDatabase | AsyncEngine) -> None:
        self._state = state if isinstance(state, StateDatabase) else StateDatabase.over(state)
        self._engine = self._state.engine

    @property
    def state(self) -> StateDatabase:
        """The state database the index lives in (for the linkage operations)."""
        return self._state

    async def links(self, person_ids: Sequence[str]) -> dict[str, Links]:
        """The links of each known person id; unknown ids are absent."""
        if not person_ids:
            return {}
        return await self._state.read(read_links, person_ids)

    async def demo_ids(self, limit: int = 3) -> list[str]:
        """Up to ``limit`` person ids derived from an NHS number as the demo derives them."""
        # Only a version-5 UUID can be so derived; the random ids of a production index
        # are version 4, so there this reads nothing.
        derived: list[str] = []
        async with self._engine.connect() as conn:
            rows = await conn.stream(
                select(persons.c.id, persons.c.nhs_number).where(
                    persons.c.id.like("________-____-5%"), persons.c.nhs_number.is_not(None)
                )
            )
            async for person_id, nhs_number in rows:
                if person_id == demo_person_id(nhs_number):
                    derived.append(person_id)
                    if len(derived) >= limit:
                        break
        return derived

    async def find_exact(
        self,
        *,
        nhs_number: str | None = None,
        family_name: str | None = None,
        date_of_birth: dt.date | None = None,
        postcode: str | None = None,
    ) -> list[IndexEntry]:
        """Index entries matching exact identifiers: an NHS number, or all three of
        surname, date of birth and postcode. Partial details match nothing."""
        if nhs_number is not None:
            condition = persons.c.nhs_number == "".join(ch for ch in nhs_number if ch.isdigit())
        elif family_name and date_of_birth is not None and postcode:
            condition = and_(
                persons.c.family_name_key == name_key(family_name),
                persons.c.date_of_birth == date_of_birth,
                persons.c.postcode_key == postcode_key(postcode),
            )
        else:
            return []
        async with self._engine.connect() as conn:
            people = (
                await conn.execute(
                    select(
                        persons.c.id,
                        persons.c.given_name,
                        persons.c.family_name,
                        persons.c.date_of_birth,
                    )
                    .where(condition)
                    .order_by(persons.c.id)
                    .limit(10)
                )
            ).all()
            ids = [row[0] for row in people]
            agencies: dict[str, list[str]] = {}
            if ids:
                rows = await conn.execute(
                    select(person_links.c.person_id, person_links.c.agency_id)
                    .where(person_links.c.person_id.in_(ids), person_links.c.current.is_(True))
                    .distinct()
                    .order_by(person_links.c.agency_id)
                )
                for person_id, agency_id in rows:
                    agencies.setdefault(person_id, []).append(agency_id)
        return [
            IndexEntry(row[0], row[1], row[2], row[3], tuple(agencies.get(row[0], ())))
            for row in people
        ]

    async def register(
        self,
        links: Iterable[tuple[str, str] | tuple[str, str, str | None]],
        *,
        nhs_number: str | None = None,
        person_id: str | None = None,
        given_name: str | None = None,
        family_name: str | None = None,
        date_of_birth: dt.date | None = None,
        postcode: str | None = None,
        actor: str = "register",
    ) -> str:
        """Create (or extend) a person with (agency, local id[, team]) links.

        A person with the same NHS number is reused, so linking is idempotent. Links are
        recorded as deterministic when an NHS number is given, else as manual, by ``actor``.
        """
        registration = Registration(
            links=tuple(link if len(link) > 2 else (link[0], link[1], None) for link in links),
            nhs_number=nhs_number,
            person_id=person_id,
            given_name=given_name,
            family_name=family_name,
            date_of_birth=date_of_birth,
            postcode=postcode,
        )
        (registered,) = await self.register_all((registration,), actor=actor)
        return registered

    async def register_all(
        self, registrations: Sequence[Registration], *, actor: str = "register"
    ) -> list[str]:
        """:meth:`register` for each of ``registrations``, all in one transaction (a whole
        population in one write, not one per person); their person ids, in order."""
        return await self._state.write(
            _register_all, tuple(registrations), actor, dt.datetime.now(dt.UTC)
        )


@dataclass(frozen=True)
class Registration:
    """A person to create or extend in the index, and their (agency, local id, team) links."""

    links: tuple[tuple[str, str, str | None], ...]
    nhs_number: str | None = None
    person_id: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    date_of_birth: dt.date | None = None
    postcode: str | None = None


def _register_all(
    conn: Connection, registrations: tuple[Registration, ...], actor: str, now: dt.datetime
) -> list[str]:
    return [_register(conn, registration, actor, now) for registration in registrations]


def _register(conn: Connection, person: Registration, actor: str, now: dt.datetime) -> str:
    method = "deterministic" if person.nhs_number is not None else "manual"
    existing = None
    if person.nhs_number is not None:
        existing = conn.execute(
            select(persons.c.id).where(persons.c.nhs_number == person.nhs_number)
        ).scalar_one_or_none()
    if existing is None:
        identity = Identity(
            given_name=person.given_name,
            family_name=person.family_name,
            date_of_birth=person.date_of_birth,
            postcodes=(postcode_key(person.postcode),) if person.postcode else (),
            nhs_number=person.nhs_number,
        )
        existing = insert_person(conn, identity, None, now, person_id=person.person_id)
    for agency_id, local_id, team in person.links:
        held = conn.execute(
            select(person_links.c.person_id, person_links.c.team).where(
                person_links.c.agency_id == agency_id, person_links.c.local_id == local_id
            )
        ).all()
        owner = held[0][0] if held else None
        # The same record may be held by several teams: one link per team.
        if owner == existing and any(row[1] == team for row in held):
            continue
        if owner is not None and owner != existing:
            raise IntegrityError(
                f"{agency_id}/{local_id} is already linked to another person",
                None,
                ValueError("duplicate link"),
            )
        insert_link(
            conn,
            existing,
            IncomingRecord(line=0, agency_id=agency_id, local_id=local_id, team=team),
            method,
            None,
            actor,
            now,
            None,
        )
    return existing
