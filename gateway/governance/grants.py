"""Grants in the state database (break-glass and safeguarding), their guardians'
reviews and revocations, and the owning agencies' notifications."""

from __future__ import annotations

import builtins
import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Select, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.core.errors import GovernanceError
from gateway.core.times import when
from gateway.decide.policy import EMERGENCY, Grant
from gateway.decide.requester import Requester
from gateway.governance.oversight import Guardian
from gateway.governance.state import break_glass_grants, break_glass_notifications
from gateway.governance.state_sqlite import driver, rows_in


def read_grants(conn: Connection, requester: Requester, person_ids: Sequence[str]) -> list[Grant]:
    """The requester's grants about these people (active or not), read on a synchronous
    connection."""
    if not person_ids:
        return []
    db = driver(conn)
    if db is not None:
        equal = (("practitioner", requester.practitioner), ("agency", requester.agency))
        return [
            _grant(row)
            for row in rows_in(db, break_glass_grants, "person_id", person_ids, equal=equal)
        ]
    rows = conn.execute(
        select(break_glass_grants).where(
            break_glass_grants.c.practitioner == requester.practitioner,
            break_glass_grants.c.agency == requester.agency,
            break_glass_grants.c.person_id.in_(person_ids),
        )
    )
    return [_grant(row) for row in rows.mappings()]


class GrantRegistry:
    """Break-glass grants."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def get(self, grant_id: str) -> Grant | None:
        """One grant by id."""
        async with self._engine.connect() as conn:
            row = (
                (
                    await conn.execute(
                        select(break_glass_grants).where(break_glass_grants.c.id == grant_id)
                    )
                )
                .mappings()
                .first()
            )
        return _grant(row) if row is not None else None

    async def grant(
        self,
        requester: Requester,
        person_id: str,
        reason: str,
        now: dt.datetime,
        hours: float,
        purpose: str = EMERGENCY,
        *,
        reason_category: str | None = None,
        reference: str | None = None,
    ) -> Grant:
        """Record a grant of ``purpose`` for this requester and person, expiring after ``hours``.

        ``reason_category`` is the protocol's break-glass reason chosen; ``reference``
        the enquiry or referral a safeguarding grant serves.
        """
        grant_id = str(uuid.uuid4())
        async with self._engine.begin() as conn:
            await conn.execute(
                break_glass_grants.insert().values(
                    id=grant_id,
                    person_id=person_id,
                    practitioner=requester.practitioner,
                    agency=requester.agency,
                    reason=reason,
                    purpose=purpose,
                    reason_category=reason_category,
                    reference=reference,
                    granted_at=now,
                    expires_at=now + dt.timedelta(hours=hours),
                )
            )
        stored = await self.get(grant_id)
        assert stored is not None
        return stored

    async def last_reason(self, requester: Requester) -> str | None:
        """The reason the requester gave for their most recent grant of any kind, if any."""
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(break_glass_grants.c.reason)
                    .where(
                        break_glass_grants.c.practitioner == requester.practitioner,
                        break_glass_grants.c.agency == requester.agency,
                    )
                    .order_by(break_glass_grants.c.granted_at.desc())
                    .limit(1)
                )
            ).first()
        return str(row[0]) if row is not None else None

    async def end(self, grant_id: str, requester: Requester, now: dt.datetime) -> Grant:
        """End one's own grant early."""
        grant = await self.get(grant_id)
        if grant is None or not grant.held_by(requester):
            raise GovernanceError(f"you hold no break-glass grant {grant_id}", "NOT_FOUND")
        if not grant.active(now):
            raise GovernanceError(f"break-glass grant {grant_id} has already ended")
        await self.end_now(grant_id, f"{requester.practitioner}@{requester.agency}", None, now)
        ended = await self.get(grant_id)
        assert ended is not None
        return ended

    async def end_now(self, grant_id: str, by: str, reason: str | None, now: dt.datetime) -> bool:
        """End the grant at ``now`` if it is still in force; whether it was."""
        grant = await self.get(grant_id)
        if grant is None or not grant.active(now):
            return False
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(break_glass_grants)
                .where(break_glass_grants.c.id == grant_id, break_glass_grants.c.ended_at.is_(None))
                .values(ended_at=now, ended_by=by, end_reason=reason)
            )
        return bool(result.rowcount)


REVIEW_OUTCOMES = ("appropriate", "inappropriate", "needs_follow_up")
#: The review outcome that ends a grant at once.
INAPPROPRIATE = "inappropriate"


@dataclass(frozen=True)
class GrantReview:
    """A grant as the Caldicott guardian reviews it.

    ``reason_category`` is the break-glass reason category chosen, ``reference``
    the enquiry or referral a safeguarding grant serves; ``ended_by`` and
    ``end_reason`` say who ended it early (its holder, or a guardian) and why.
    """

    grant: Grant
    reviewed_at: dt.datetime | None
    reviewed_by: str | None
    outcome: str | None
    note: str | None
    agencies_notified: tuple[str, ...]
    reason_category: str | None = None
    reference: str | None = None
    ended_by: str | None = None
    end_reason: str | None = None


class GrantReviews:
    """Reviews of grants (break-glass and safeguarding), and the owning agencies' notices."""

    def __init__(self, engine: AsyncEngine, grants: GrantRegistry) -> None:
        self._engine = engine
        self._grants = grants

    async def notify(self, grant: Grant, agencies: Iterable[str], now: dt.datetime) -> list[str]:
        """Record that the grant disclosed these agencies' data; returns the newly notified."""
        added: list[str] = []
        async with self._engine.begin() as conn:
            known = {
                row[0]
                for row in await conn.execute(
                    select(break_glass_notifications.c.agency).where(
                        break_glass_notifications.c.grant_id == grant.id
                    )
                )
            }
            for agency in sorted(set(agencies) - known):
                await conn.execute(
                    break_glass_notifications.insert().values(
                        grant_id=grant.id,
                        agency=agency,
                        person_id=grant.person_id,
                        practitioner=grant.practitioner,
                        requester_agency=grant.agency,
                        first_disclosed_at=now,
                    )
                )
                added.append(agency)
        return added

    async def list(
        self, *, pending_only: bool, guardian: Guardian | None = None
    ) -> list[GrantReview]:
        """Grants, newest first; only those not yet reviewed when ``pending_only``, and
        only those ``guardian`` oversees when one is given."""
        query = select(break_glass_grants).order_by(break_glass_grants.c.granted_at.desc())
        if pending_only:
            query = query.where(break_glass_grants.c.reviewed_at.is_(None))
        return await self._reviews(query, guardian)

    async def get(self, grant_id: str, guardian: Guardian | None = None) -> GrantReview | None:
        """One grant with its review, if it exists (and ``guardian`` oversees it)."""
        found = await self._reviews(
            select(break_glass_grants).where(break_glass_grants.c.id == grant_id), guardian
        )
        return found[0] if found else None

    async def _reviews(
        self, query: Select[Any], guardian: Guardian | None
    ) -> builtins.list[GrantReview]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
            ids = [str(row["id"]) for row in rows]
            notified: dict[str, list[str]] = {}
            if ids:
                for grant_id, agency in await conn.execute(
                    select(
                        break_glass_notifications.c.grant_id, break_glass_notifications.c.agency
                    ).where(break_glass_notifications.c.grant_id.in_(ids))
                ):
                    notified.setdefault(grant_id, []).append(agency)
        reviews = [
            GrantReview(
                grant=_grant(row),
                reviewed_at=row["reviewed_at"],
                reviewed_by=row["reviewed_by"],
                outcome=row["review_outcome"],
                note=row["review_note"],
                agencies_notified=tuple(sorted(notified.get(str(row["id"]), ()))),
                reason_category=row["reason_category"],
                reference=row["reference"],
                ended_by=row["ended_by"],
                end_reason=row["end_reason"],
            )
            for row in rows
        ]
        if guardian is None:
            return reviews
        return [r for r in reviews if guardian.sees_grant(r.grant, r.agencies_notified)]

    async def _reviewable(self, grant_id: str, guardian: Guardian) -> GrantReview:
        # A grant the guardian does not oversee answers exactly as one that does not exist.
        review = await self.get(grant_id, guardian)
        if review is None:
            raise GovernanceError(
                "there is no grant with this id that you oversee; a guardian of an agency whose "
                "data it disclosed, or a lead guardian, can act on it",
                "NOT_FOUND",
            )
        problem = guardian.may_review(review.grant, review.agencies_notified)
        if problem is not None:
            raise GovernanceError(problem, "FORBIDDEN")
        return review

    async def review(
        self, grant_id: str, guardian: Guardian, outcome: str, note: str, now: dt.datetime
    ) -> GrantReview:
        """Record the review of one grant, once; an ``inappropriate`` one ends at once if it
        is still in force."""
        if outcome not in REVIEW_OUTCOMES:
            raise GovernanceError(f"the outcome must be one of: {', '.join(REVIEW_OUTCOMES)}")
        if not note.strip():
            raise GovernanceError("say what the review found (note)")
        await self._reviewable(grant_id, guardian)
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(break_glass_grants)
                .where(
                    break_glass_grants.c.id == grant_id, break_glass_grants.c.reviewed_at.is_(None)
                )
                .values(
                    reviewed_at=now,
                    reviewed_by=guardian.key,
                    review_outcome=outcome,
                    review_note=note,
                )
            )
        if result.rowcount == 0:
            raise GovernanceError(
                f"grant {grant_id} has already been reviewed; see breakGlassReviews(pending: "
                "false)",
                "NOT_FOUND",
            )
        if outcome == INAPPROPRIATE:
            await self._grants.end_now(
                grant_id, guardian.key, f"reviewed as inappropriate: {note}", now
            )
        reviewed = await self.get(grant_id)
        assert reviewed is not None
        return reviewed

    async def revoke(
        self, grant_id: str, guardian: Guardian, reason: str, now: dt.datetime
    ) -> GrantReview:
        """End a grant now, as a guardian who may review it."""
        await self._reviewable(grant_id, guardian)
        if not await self._grants.end_now(grant_id, guardian.key, f"revoked: {reason}", now):
            raise GovernanceError(f"grant {grant_id} has already ended or expired")
        revoked = await self.get(grant_id)
        assert revoked is not None
        return revoked

    async def ended_notice(self, grant_id: str, event: str, now: dt.datetime) -> builtins.list[str]:
        """Record that the agencies whose data the grant disclosed are told it was ended by a
        guardian (``event``); returns those agencies."""
        async with self._engine.begin() as conn:
            agencies = [
                str(row[0])
                for row in await conn.execute(
                    select(break_glass_notifications.c.agency).where(
                        break_glass_notifications.c.grant_id == grant_id
                    )
                )
            ]
            await conn.execute(
                update(break_glass_notifications)
                .where(break_glass_notifications.c.grant_id == grant_id)
                .values(ended_notice=event, ended_notified_at=now)
            )
        return sorted(agencies)


def _grant(row: Mapping[Any, Any]) -> Grant:
    return Grant(
        id=str(row["id"]),
        person_id=str(row["person_id"]),
        practitioner=str(row["practitioner"]),
        agency=str(row["agency"]),
        reason=str(row["reason"]),
        granted_at=when(row["granted_at"]),
        expires_at=when(row["expires_at"]),
        ended_at=row["ended_at"],
        purpose=str(row["purpose"]),
        reason_category=row["reason_category"],
    )
