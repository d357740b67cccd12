"""The person index's linkage values and the statements that store them.

Shared by the import, the manual operations and the review queue
(``gateway.governance.linkage`` and ``linkage_reviews``), so that a link is written
the same way whoever makes it: the link with its provenance, a row in the link
history, and the person's postcode history.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from functools import cached_property

from sqlalchemy import Connection, insert, select

from gateway.core.errors import GovernanceError
from gateway.governance import matching
from gateway.governance.matching import name_key
from gateway.governance.nhs_number import NhsNumberCheck, check
from gateway.governance.state import (
    person_link_events,
    person_links,
    person_postcodes,
    persons,
)


class LinkageError(GovernanceError):
    """A link, unlink or review that cannot be made; the message says what to do instead,
    the code (NOT_FOUND, CONFLICT) how a client may act on it."""


@dataclass(frozen=True)
class IncomingRecord:
    """One agency's record of a person, as an agency's file or an administrator gives it.

    ``nhs_number`` is the value as given (checked by :attr:`nhs_valid`); ``postcodes`` is
    the postcode history, current first; ``line`` is where it came from (0: not a file).
    """

    line: int
    agency_id: str
    local_id: str
    nhs_number: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    date_of_birth: dt.date | None = None
    postcodes: tuple[str, ...] = ()
    team: str | None = None

    @cached_property
    def _nhs(self) -> NhsNumberCheck | None:
        return None if not self.nhs_number else check(self.nhs_number)

    @property
    def nhs_valid(self) -> str | None:
        """The NHS number's ten digits when it is valid; None when missing or invalid."""
        return None if self._nhs is None else self._nhs.digits

    @property
    def nhs_problem(self) -> str | None:
        """What is wrong with the NHS number given, if one was given and it is invalid."""
        return None if self._nhs is None else self._nhs.problem


@dataclass(frozen=True)
class LinkEvent:
    """One change to the person index, for the disclosure audit and the caller's report.

    ``action`` is ``link``, ``unlink``, ``review_queued``, ``review_accepted`` or
    ``review_rejected``; ``method`` how a link was made; ``score`` the matching score.
    """

    action: str
    person_id: str
    agency_id: str
    local_id: str
    team: str | None
    method: str
    score: float | None
    actor: str
    detail: str | None = None
    review_id: str | None = None


def record_identity(record: IncomingRecord) -> matching.Identity:
    """What matching compares of a record (an invalid NHS number is left out)."""
    return matching.Identity(
        given_name=record.given_name,
        family_name=record.family_name,
        date_of_birth=record.date_of_birth,
        postcodes=tuple(matching.postcode_key(p) for p in record.postcodes if p.strip()),
        nhs_number=record.nhs_valid,
    )


def load_pool(conn: Connection) -> tuple[matching.CandidatePool, dict[str, str]]:
    """Everyone in the index as matching candidates, and person ids by NHS number."""
    history: dict[str, list[str]] = {}
    for person_id, key in conn.execute(
        select(person_postcodes.c.person_id, person_postcodes.c.postcode_key).order_by(
            person_postcodes.c.person_id, person_postcodes.c.first_seen_at
        )
    ):
        history.setdefault(str(person_id), []).append(str(key))
    pool = matching.CandidatePool()
    by_nhs: dict[str, str] = {}
    rows = conn.execute(
        select(
            persons.c.id,
            persons.c.nhs_number,
            persons.c.given_name,
            persons.c.family_name,
            persons.c.date_of_birth,
            persons.c.postcode_key,
        ).order_by(persons.c.id)
    )
    for person_id, nhs, given, family, born, postcode in rows:
        keys = history.get(str(person_id)) or ([str(postcode)] if postcode else [])
        pool.add(str(person_id), matching.Identity(given, family, born, tuple(keys), nhs))
        if nhs:
            by_nhs[str(nhs)] = str(person_id)
    return pool, by_nhs


def person_identity(conn: Connection, person_id: str) -> matching.Identity:
    """One person's identity as the index holds it."""
    row = conn.execute(
        select(
            persons.c.given_name,
            persons.c.family_name,
            persons.c.date_of_birth,
            persons.c.nhs_number,
        ).where(persons.c.id == person_id)
    ).one()
    keys = conn.execute(
        select(person_postcodes.c.postcode_key)
        .where(person_postcodes.c.person_id == person_id)
        .order_by(person_postcodes.c.first_seen_at)
    ).scalars()
    return matching.Identity(row[0], row[1], row[2], tuple(str(k) for k in keys), row[3])


def insert_person(
    conn: Connection,
    identity: matching.Identity,
    agency_id: str | None,
    now: dt.datetime,
    *,
    person_id: str | None = None,
) -> str:
    """A new person with the identity's details and postcode history (its postcodes
    known from ``agency_id``), given ``person_id`` or a random id."""
    person_id = person_id or str(uuid.uuid4())
    conn.execute(
        insert(persons).values(
            id=person_id,
            nhs_number=identity.nhs_number,
            given_name=identity.given_name,
            family_name=identity.family_name,
            family_name_key=name_key(identity.family_name) if identity.family_name else None,
            date_of_birth=identity.date_of_birth,
            postcode_key=identity.postcodes[0] if identity.postcodes else None,
            created_at=now,
        )
    )
    for key in dict.fromkeys(identity.postcodes):
        conn.execute(
            insert(person_postcodes).values(
                person_id=person_id, postcode_key=key, first_seen_at=now, agency_id=agency_id
            )
        )
    return person_id


def remember_postcodes(
    conn: Connection,
    person_id: str,
    record: IncomingRecord,
    now: dt.datetime,
    pool: matching.CandidatePool | None = None,
) -> None:
    """Add the record's postcodes the person was not yet known at to their history."""
    keys = [matching.postcode_key(p) for p in record.postcodes if p.strip()]
    if not keys:
        return
    known = set(
        conn.execute(
            select(person_postcodes.c.postcode_key).where(person_postcodes.c.person_id == person_id)
        ).scalars()
    )
    new = [key for key in dict.fromkeys(keys) if key not in known]
    for key in new:
        conn.execute(
            insert(person_postcodes).values(
                person_id=person_id,
                postcode_key=key,
                first_seen_at=now,
                agency_id=record.agency_id,
            )
        )
    if new and pool is not None:
        pool.add(person_id, person_identity(conn, person_id))


def insert_link(
    conn: Connection,
    person_id: str,
    record: IncomingRecord,
    method: str,
    score: float | None,
    actor: str,
    now: dt.datetime,
    detail: str | None,
    action: str = "link",
    review_id: str | None = None,
) -> LinkEvent:
    """Link the record to the person with its provenance, and write the link history."""
    event = LinkEvent(
        action=action,
        person_id=person_id,
        agency_id=record.agency_id,
        local_id=record.local_id,
        team=record.team,
        method=method,
        score=score,
        actor=actor,
        detail=detail,
        review_id=review_id,
    )
    conn.execute(
        insert(person_links).values(
            person_id=person_id,
            agency_id=record.agency_id,
            local_id=record.local_id,
            team=record.team,
            current=True,
            method=method,
            score=score,
            linked_by=actor,
            linked_at=now,
        )
    )
    # The history says "link" whatever led to it (a review accepted, say); the caller's
    # event keeps what led to it.
    return write_event(conn, event, now, action="link")


def write_event(
    conn: Connection, event: LinkEvent, at: dt.datetime, action: str | None = None
) -> LinkEvent:
    """Write ``event`` to the link history at ``at`` (as ``action`` when given) and
    return it."""
    conn.execute(
        insert(person_link_events).values(
            at=at,
            action=event.action if action is None else action,
            person_id=event.person_id,
            agency_id=event.agency_id,
            local_id=event.local_id,
            team=event.team,
            method=event.method,
            score=event.score,
            actor=event.actor,
            detail=event.detail,
        )
    )
    return event
