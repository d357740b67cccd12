"""Linking agencies' records to people in the person index: import, link, unlink.

An agency's records arrive with its local ids and whatever identifying details it holds.
Each record is linked to an existing person when it can be decided without a person:
deterministically on a valid NHS number the index already holds (unless every other
detail disagrees), or probabilistically when its best candidate scores above the link
threshold (``gateway.governance.matching``). A record whose best candidate scores in the
middle band waits in the review queue for an index administrator; one that matches no
one becomes a new person. Index administrators also link and unlink by hand.

Every link and unlink records its method (``deterministic``, ``probabilistic``,
``manual``, or ``new`` for the record that founded a person), its score, who and when,
on the link and in the link history; each operation returns :class:`LinkEvent` values,
which the caller writes to the disclosure audit (the audit sits above this layer).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Connection, and_, delete, insert, select, update

from gateway.core.times import Clock, utc_now
from gateway.governance import linkage_reviews, matching
from gateway.governance.linkage_store import (
    IncomingRecord,
    LinkageError,
    LinkEvent,
    insert_link,
    insert_person,
    load_pool,
    person_identity,
    record_identity,
    remember_postcodes,
    write_event,
)
from gateway.governance.state import (
    person_index_reviews,
    person_links,
    persons,
)
from gateway.governance.state_db import StateDatabase

T = TypeVar("T")

#: Records written per transaction during an import, so that a long import never holds
#: the state database's write lock long enough to hold up the audit of live requests.
CHUNK = 200

DETERMINISTIC, PROBABILISTIC, MANUAL, NEW = "deterministic", "probabilistic", "manual", "new"
PENDING, SUPERSEDED = "pending", "superseded"

__all__ = [
    "ImportSummary",
    "IncomingRecord",
    "LinkEvent",
    "Linkage",
    "LinkageError",
    "RecordOutcome",
]


@dataclass(frozen=True)
class RecordOutcome:
    """What became of one imported record."""

    line: int
    agency_id: str
    local_id: str
    #: linked (deterministic or probabilistic), new_person, queued, already_linked
    outcome: str
    person_id: str | None = None
    method: str | None = None
    score: float | None = None
    review_id: str | None = None


@dataclass(frozen=True)
class ImportSummary:
    """Every record's outcome, the events to audit, and the NHS numbers refused."""

    outcomes: tuple[RecordOutcome, ...]
    events: tuple[LinkEvent, ...]
    #: (line, value, problem) of each NHS number that is not valid; those records were
    #: matched without it.
    invalid_nhs_numbers: tuple[tuple[int, str, str], ...] = ()

    def count(self, outcome: str, method: str | None = None) -> int:
        """How many records had this outcome (and method)."""
        return sum(
            1
            for o in self.outcomes
            if o.outcome == outcome and (method is None or o.method == method)
        )


@dataclass
class _Batch:
    pool: matching.CandidatePool
    nhs: dict[str, str]
    actor: str
    clock: Clock
    outcomes: list[RecordOutcome] = field(default_factory=list)
    events: list[LinkEvent] = field(default_factory=list)


class Linkage:
    """The person index's linkage operations over the state database."""

    def __init__(self, state: StateDatabase, clock: Clock = utc_now) -> None:
        self._state = state
        self.clock = clock

    async def _write(self, fn: Callable[..., T], *args: Any) -> T:
        outcome = await self._state.write(_refusing, fn, *args)
        if isinstance(outcome, LinkageError):
            raise outcome
        return outcome

    async def import_records(self, records: Sequence[IncomingRecord], actor: str) -> ImportSummary:
        """Link what can be linked, queue the uncertain, make new people of the rest."""
        pool, nhs = await self._state.read(load_pool)
        batch = _Batch(pool, nhs, actor, self.clock)
        invalid = tuple(
            (r.line, r.nhs_number or "", r.nhs_problem)
            for r in records
            if r.nhs_problem is not None
        )
        for start in range(0, len(records), CHUNK):
            await self._state.write(_import_chunk, records[start : start + CHUNK], batch)
        return ImportSummary(tuple(batch.outcomes), tuple(batch.events), invalid)

    async def link(
        self,
        person_id: str,
        agency_id: str,
        local_id: str,
        actor: str,
        team: str | None = None,
        note: str | None = None,
    ) -> LinkEvent:
        """Link an agency's record to a person by hand."""
        return await self._write(
            _manual_link, person_id, agency_id, local_id, team, actor, note, self.clock()
        )

    async def reviews(self, status: str = PENDING) -> list[linkage_reviews.ReviewItem]:
        """The review queue: reviews with this status (``all``: every one), oldest first."""
        if status not in linkage_reviews.STATUSES:
            raise LinkageError(
                f"no review status {status!r}; use one of {', '.join(linkage_reviews.STATUSES)}",
                "BAD_USER_INPUT",
            )
        return await self._state.read(linkage_reviews.list_reviews, status)

    async def accept(self, review_id: str, actor: str, note: str | None = None) -> LinkEvent:
        """Accept a review: link its record to its candidate."""
        return await self._write(linkage_reviews.accept, review_id, actor, note, self.clock())

    async def reject(self, review_id: str, actor: str, note: str | None = None) -> LinkEvent:
        """Reject a review: its record becomes a new person."""
        return await self._write(linkage_reviews.reject, review_id, actor, note, self.clock())

    async def unlink(
        self, person_id: str, agency_id: str, local_id: str, actor: str, reason: str
    ) -> list[LinkEvent]:
        """Remove every link of the agency's record to the person (one per team)."""
        return await self._write(
            _unlink, person_id, agency_id, local_id, actor, reason, self.clock()
        )


def _refusing(conn: Connection, fn: Callable[..., T], *args: Any) -> T | LinkageError:
    # A refusal is an answer, not a failure of the state database: handed back rather
    # than raised, so that it is not logged as one. Refusals come before any change.
    try:
        return fn(conn, *args)
    except LinkageError as refusal:
        return refusal


def _import_chunk(conn: Connection, records: Sequence[IncomingRecord], batch: _Batch) -> None:
    for record in records:
        outcome = _import_one(conn, record, batch)
        batch.outcomes.append(outcome)


def _import_one(conn: Connection, record: IncomingRecord, batch: _Batch) -> RecordOutcome:
    now = batch.clock()
    held = conn.execute(
        select(person_links.c.person_id, person_links.c.team).where(
            person_links.c.agency_id == record.agency_id,
            person_links.c.local_id == record.local_id,
        )
    ).all()
    if held:
        # Imported before: a new team holding the record is one more link; nothing else.
        person_id = str(held[0][0])
        if all(team != record.team for _, team in held):
            method = _method_of(conn, record)
            detail = "another team holds the record"
            batch.events.append(
                insert_link(conn, person_id, record, method, None, batch.actor, now, detail)
            )
        remember_postcodes(conn, person_id, record, now, batch.pool)
        return RecordOutcome(
            record.line, record.agency_id, record.local_id, "already_linked", person_id
        )
    queued = conn.execute(
        select(person_index_reviews.c.id).where(
            person_index_reviews.c.agency_id == record.agency_id,
            person_index_reviews.c.local_id == record.local_id,
            person_index_reviews.c.status == PENDING,
        )
    ).first()
    if queued is not None:
        return RecordOutcome(
            record.line, record.agency_id, record.local_id, "queued", review_id=str(queued[0])
        )
    identity = record_identity(record)
    if record.nhs_valid is not None and record.nhs_valid in batch.nhs:
        person_id = batch.nhs[record.nhs_valid]
        known = batch.pool.identity(person_id) or matching.Identity()
        score = matching.compare(matching.prepare(identity), matching.prepare(known))
        if _demographics_agree(score):
            return _link(conn, record, person_id, DETERMINISTIC, None, batch, now)
        why = "the NHS number is this person's, but the other details disagree: "
        return _queue(conn, record, person_id, score, batch, now, why)
    candidates = batch.pool.candidates(identity)
    top = matching.best(candidates)
    if top is not None and top.score.decision is matching.Decision.LINK:
        runner_up = candidates[1] if len(candidates) > 1 else None
        if runner_up is not None and runner_up.score.decision is matching.Decision.LINK:
            why = f"two people score above the link threshold (also {runner_up.person_id}): "
            return _queue(conn, record, top.person_id, top.score, batch, now, why)
        return _link(conn, record, top.person_id, PROBABILISTIC, top.score.total, batch, now)
    if top is not None and top.score.decision is matching.Decision.REVIEW:
        return _queue(conn, record, top.person_id, top.score, batch, now, "")
    person_id = insert_person(conn, identity, record.agency_id, now)
    batch.pool.add(person_id, identity)
    if identity.nhs_number is not None:
        batch.nhs[identity.nhs_number] = person_id
    batch.events.append(insert_link(conn, person_id, record, NEW, None, batch.actor, now, None))
    return RecordOutcome(
        record.line, record.agency_id, record.local_id, "new_person", person_id, NEW
    )


def _method_of(conn: Connection, record: IncomingRecord) -> str:
    # The same record held by another team is linked as the record itself was.
    method = conn.execute(
        select(person_links.c.method).where(
            person_links.c.agency_id == record.agency_id,
            person_links.c.local_id == record.local_id,
        )
    ).scalar()
    return str(method) if method else MANUAL


def _demographics_agree(score: matching.Score) -> bool:
    # An NHS number is trusted unless the date of birth and both names all disagree, which
    # is an agency holding the wrong number rather than a person who changed.
    return not (
        score.level("date_of_birth") == "disagree"
        and score.level("family_name") == "disagree"
        and score.level("given_name") == "disagree"
    )


def _link(
    conn: Connection,
    record: IncomingRecord,
    person_id: str,
    method: str,
    score: float | None,
    batch: _Batch,
    now: dt.datetime,
) -> RecordOutcome:
    event = insert_link(conn, person_id, record, method, score, batch.actor, now, None)
    batch.events.append(event)
    remember_postcodes(conn, person_id, record, now, batch.pool)
    if record.nhs_valid is not None and record.nhs_valid not in batch.nhs:
        # The person had no NHS number yet: they have this one now.
        conn.execute(
            update(persons)
            .where(persons.c.id == person_id, persons.c.nhs_number.is_(None))
            .values(nhs_number=record.nhs_valid)
        )
        batch.nhs[record.nhs_valid] = person_id
        batch.pool.add(person_id, person_identity(conn, person_id))
    return RecordOutcome(
        record.line, record.agency_id, record.local_id, "linked", person_id, method, score
    )


def _queue(
    conn: Connection,
    record: IncomingRecord,
    person_id: str,
    score: matching.Score,
    batch: _Batch,
    now: dt.datetime,
    why: str,
) -> RecordOutcome:
    review_id = str(uuid.uuid4())
    conn.execute(
        insert(person_index_reviews).values(
            id=review_id,
            created_at=now,
            created_by=batch.actor,
            agency_id=record.agency_id,
            local_id=record.local_id,
            team=record.team,
            nhs_number=record.nhs_valid,
            given_name=record.given_name,
            family_name=record.family_name,
            date_of_birth=record.date_of_birth,
            postcodes=" ".join(record.postcodes) or None,
            candidate_person_id=person_id,
            score=score.total,
            explanation=why + score.explain(),
            status=PENDING,
        )
    )
    batch.events.append(
        LinkEvent(
            action="review_queued",
            person_id=person_id,
            agency_id=record.agency_id,
            local_id=record.local_id,
            team=record.team,
            method=PROBABILISTIC,
            score=score.total,
            actor=batch.actor,
            review_id=review_id,
        )
    )
    return RecordOutcome(
        record.line,
        record.agency_id,
        record.local_id,
        "queued",
        person_id,
        score=score.total,
        review_id=review_id,
    )


def _manual_link(
    conn: Connection,
    person_id: str,
    agency_id: str,
    local_id: str,
    team: str | None,
    actor: str,
    note: str | None,
    now: dt.datetime,
) -> LinkEvent:
    if conn.execute(select(persons.c.id).where(persons.c.id == person_id)).first() is None:
        raise LinkageError(
            f"no person {person_id} in the index; find the person's id with findPeople, "
            "or import the record to make a new person",
            "NOT_FOUND",
        )
    held = conn.execute(
        select(person_links.c.person_id, person_links.c.team).where(
            person_links.c.agency_id == agency_id, person_links.c.local_id == local_id
        )
    ).all()
    others = sorted({str(row[0]) for row in held if row[0] != person_id})
    if others:
        raise LinkageError(
            f"{agency_id} record {local_id} is linked to another person ({others[0]}); "
            f"unlink it from them first (index unlink {others[0]} {agency_id} {local_id})",
            "CONFLICT",
        )
    if any(row[1] == team for row in held):
        raise LinkageError(
            f"{agency_id} record {local_id} is already linked to {person_id}"
            + (f" for team {team}" if team else ""),
            "CONFLICT",
        )
    record = IncomingRecord(line=0, agency_id=agency_id, local_id=local_id, team=team)
    event = insert_link(conn, person_id, record, MANUAL, None, actor, now, note)
    # A record waiting for review is decided by this link.
    conn.execute(
        update(person_index_reviews)
        .where(
            person_index_reviews.c.agency_id == agency_id,
            person_index_reviews.c.local_id == local_id,
            person_index_reviews.c.status == PENDING,
        )
        .values(
            status=SUPERSEDED,
            decided_at=now,
            decided_by=actor,
            decided_person_id=person_id,
            note="linked by hand",
        )
    )
    return event


def _unlink(
    conn: Connection,
    person_id: str,
    agency_id: str,
    local_id: str,
    actor: str,
    reason: str,
    now: dt.datetime,
) -> list[LinkEvent]:
    where = and_(
        person_links.c.person_id == person_id,
        person_links.c.agency_id == agency_id,
        person_links.c.local_id == local_id,
    )
    rows = conn.execute(select(person_links.c.team, person_links.c.method).where(where)).all()
    if not rows:
        raise LinkageError(
            f"{agency_id} record {local_id} is not linked to person {person_id}; nothing to "
            "unlink (check the person id and the agency's local id)",
            "NOT_FOUND",
        )
    conn.execute(delete(person_links).where(where))
    events = []
    for team, _method in rows:
        events.append(
            write_event(
                conn,
                LinkEvent(
                    action="unlink",
                    person_id=person_id,
                    agency_id=agency_id,
                    local_id=local_id,
                    team=team,
                    method=MANUAL,
                    score=None,
                    actor=actor,
                    detail=reason,
                ),
                now,
            )
        )
    return events
