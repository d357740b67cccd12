"""The review queue of the person index: uncertain matches an index administrator decides.

Accepting a review links the waiting record to its candidate (method ``manual``, with
the score that queued it); rejecting it makes the record a new person. Either way the
decision, who made it and when are kept on the review.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, select, update

from gateway.governance.linkage_store import (
    IncomingRecord,
    LinkageError,
    LinkEvent,
    insert_link,
    insert_person,
    record_identity,
    remember_postcodes,
)
from gateway.governance.state import person_index_reviews, person_links, persons

PENDING, ACCEPTED, REJECTED = "pending", "accepted", "rejected"
STATUSES = ("pending", "accepted", "rejected", "superseded", "all")


@dataclass(frozen=True)
class ReviewItem:
    """A record waiting (or once waiting) for a decision, with its best candidate."""

    id: str
    created_at: dt.datetime
    created_by: str
    record: IncomingRecord
    candidate_person_id: str
    score: float
    explanation: str
    status: str
    decided_at: dt.datetime | None = None
    decided_by: str | None = None
    decided_person_id: str | None = None
    note: str | None = None


def list_reviews(conn: Connection, status: str) -> list[ReviewItem]:
    """Reviews with this status (``all``: every one), oldest first."""
    statement = select(person_index_reviews).order_by(
        person_index_reviews.c.created_at, person_index_reviews.c.id
    )
    if status != "all":
        statement = statement.where(person_index_reviews.c.status == status)
    return [_item(dict(row._mapping)) for row in conn.execute(statement)]


def _item(row: dict[str, object]) -> ReviewItem:
    postcodes = str(row["postcodes"] or "")
    record = IncomingRecord(
        line=0,
        agency_id=str(row["agency_id"]),
        local_id=str(row["local_id"]),
        nhs_number=row["nhs_number"] if isinstance(row["nhs_number"], str) else None,
        given_name=row["given_name"] if isinstance(row["given_name"], str) else None,
        family_name=row["family_name"] if isinstance(row["family_name"], str) else None,
        date_of_birth=row["date_of_birth"] if isinstance(row["date_of_birth"], dt.date) else None,
        postcodes=tuple(postcodes.split()),
        team=row["team"] if isinstance(row["team"], str) else None,
    )
    created_at = row["created_at"]
    decided_at = row["decided_at"]
    assert isinstance(created_at, dt.datetime)
    return ReviewItem(
        id=str(row["id"]),
        created_at=created_at,
        created_by=str(row["created_by"]),
        record=record,
        candidate_person_id=str(row["candidate_person_id"]),
        score=float(str(row["score"])),
        explanation=str(row["explanation"]),
        status=str(row["status"]),
        decided_at=decided_at if isinstance(decided_at, dt.datetime) else None,
        decided_by=str(row["decided_by"]) if row["decided_by"] is not None else None,
        decided_person_id=(
            str(row["decided_person_id"]) if row["decided_person_id"] is not None else None
        ),
        note=str(row["note"]) if row["note"] is not None else None,
    )


def _pending(conn: Connection, review_id: str) -> ReviewItem:
    row = conn.execute(
        select(person_index_reviews).where(person_index_reviews.c.id == review_id)
    ).first()
    if row is None:
        raise LinkageError(
            f"no review {review_id}; list the pending ones with `fame-gateway index review "
            "list` (or the personIndexReviews query)",
            "NOT_FOUND",
        )
    item = _item(dict(row._mapping))
    if item.status != PENDING:
        raise LinkageError(
            f"review {review_id} was already decided ({item.status} by {item.decided_by} at "
            f"{item.decided_at:%Y-%m-%d %H:%M} UTC); unlink or link by hand to change it",
            "CONFLICT",
        )
    held = conn.execute(
        select(person_links.c.person_id).where(
            person_links.c.agency_id == item.record.agency_id,
            person_links.c.local_id == item.record.local_id,
        )
    ).first()
    if held is not None:
        raise LinkageError(
            f"{item.record.agency_id} record {item.record.local_id} has been linked to "
            f"{held[0]} since it was queued; unlink it first to decide this review",
            "CONFLICT",
        )
    return item


def _decide(
    conn: Connection,
    item: ReviewItem,
    status: str,
    person_id: str,
    actor: str,
    note: str | None,
    now: dt.datetime,
) -> None:
    conn.execute(
        update(person_index_reviews)
        .where(person_index_reviews.c.id == item.id)
        .values(
            status=status,
            decided_at=now,
            decided_by=actor,
            decided_person_id=person_id,
            note=note,
        )
    )


def accept(
    conn: Connection, review_id: str, actor: str, note: str | None, now: dt.datetime
) -> LinkEvent:
    """Link the waiting record to its candidate."""
    item = _pending(conn, review_id)
    person_id = item.candidate_person_id
    if conn.execute(select(persons.c.id).where(persons.c.id == person_id)).first() is None:
        raise LinkageError(
            f"the candidate person {person_id} is no longer in the index; reject this review "
            "to make the record a new person, or link it by hand",
            "CONFLICT",
        )
    detail = f"review {item.id} accepted" + (f": {note}" if note else "")
    event = insert_link(
        conn,
        person_id,
        item.record,
        "manual",
        item.score,
        actor,
        now,
        detail,
        action="review_accepted",
        review_id=item.id,
    )
    remember_postcodes(conn, person_id, item.record, now)
    _decide(conn, item, ACCEPTED, person_id, actor, note, now)
    return event


def reject(
    conn: Connection, review_id: str, actor: str, note: str | None, now: dt.datetime
) -> LinkEvent:
    """Make the waiting record a new person: it is not its candidate."""
    item = _pending(conn, review_id)
    identity = record_identity(item.record)
    if identity.nhs_number is not None:
        taken = conn.execute(
            select(persons.c.id).where(persons.c.nhs_number == identity.nhs_number)
        ).first()
        if taken is not None:
            raise LinkageError(
                f"the record's NHS number is person {taken[0]}'s; a new person cannot have it. "
                "Accept the review, or link the record by hand to the right person",
                "CONFLICT",
            )
    person_id = insert_person(conn, identity, item.record.agency_id, now)
    detail = f"review {item.id} rejected (not {item.candidate_person_id})" + (
        f": {note}" if note else ""
    )
    event = insert_link(
        conn,
        person_id,
        item.record,
        "new",
        None,
        actor,
        now,
        detail,
        action="review_rejected",
        review_id=item.id,
    )
    _decide(conn, item, REJECTED, person_id, actor, note, now)
    return event
