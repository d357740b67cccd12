"""The I/O edge of the policy: consent records and break-glass grants in the state
database, gathered once per request, and a ``Judge`` that applies the pure
``policy.decide`` to every (person, agency, item) of the request.

Nothing here is cached across requests: a consent recorded or withdrawn
through any gateway process is read by the very next query of every process.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import RowMapping, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.errors import GatewayError
from gateway.person_index import Links
from gateway.policy import (
    EMERGENCY,
    Consent,
    ConsentDecision,
    Decision,
    Grant,
    Involvement,
    PersonFacts,
    decide,
    grant_in_force,
    relationship,
)
from gateway.protocol import SharingProtocol
from gateway.requester import Requester
from gateway.state import break_glass_grants, break_glass_notifications, consents

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    # SQLite hands back naive datetimes even for timezone-aware columns.
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.UTC)


def _when(value: dt.datetime | None) -> dt.datetime:
    aware = _aware(value)
    if aware is None:
        raise ValueError("a required timestamp is missing in the state database")
    return aware


class GovernanceError(GatewayError):
    """A consent or break-glass request that cannot be accepted; says why and what to do."""

    def __init__(self, message: str, code: str = "BAD_USER_INPUT") -> None:
        self.code = code
        super().__init__(message)


class ConsentRegistry:
    """Consent and objection records, per person.

    ``listeners`` are told the person's id after every change this process
    makes, so that anything kept about the person (the answer cache) can be
    dropped before the next request.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self.listeners: list[Callable[[str], None]] = []

    def _changed(self, person_id: str) -> None:
        for listener in self.listeners:
            listener(person_id)

    async def for_people(self, person_ids: Iterable[str]) -> dict[str, list[Consent]]:
        """Every record (in force or not) about these people, by person."""
        ids = list(person_ids)
        found: dict[str, list[Consent]] = {}
        if not ids:
            return found
        async with self._engine.connect() as conn:
            rows = await conn.execute(select(consents).where(consents.c.person_id.in_(ids)))
            for row in rows.mappings():
                consent = _consent(row)
                found.setdefault(consent.person_id, []).append(consent)
        return found

    async def get(self, consent_id: str) -> Consent | None:
        """One record by id."""
        async with self._engine.connect() as conn:
            row = (
                (await conn.execute(select(consents).where(consents.c.id == consent_id)))
                .mappings()
                .first()
            )
        return _consent(row) if row is not None else None

    async def record(
        self,
        *,
        person_id: str,
        scope_kind: str,
        scope: str,
        recipient_kind: str,
        recipient: str,
        decision: ConsentDecision,
        valid_from: dt.datetime,
        valid_until: dt.datetime | None,
        recorded_by: str,
        reference: str,
        now: dt.datetime,
    ) -> Consent:
        """Store a new consent or objection and return it."""
        consent_id = str(uuid.uuid4())
        async with self._engine.begin() as conn:
            await conn.execute(
                consents.insert().values(
                    id=consent_id,
                    person_id=person_id,
                    scope_kind=scope_kind,
                    scope=scope,
                    recipient_kind=recipient_kind,
                    recipient=recipient,
                    decision=decision.value,
                    valid_from=valid_from,
                    valid_until=valid_until,
                    recorded_by=recorded_by,
                    recorded_at=now,
                    reference=reference,
                )
            )
        self._changed(person_id)
        stored = await self.get(consent_id)
        assert stored is not None
        return stored

    async def withdraw(self, consent_id: str, by: str, now: dt.datetime) -> Consent:
        """Mark a record withdrawn from ``now``; it no longer applies to any query after."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(consents)
                .where(consents.c.id == consent_id, consents.c.withdrawn_at.is_(None))
                .values(withdrawn_at=now, withdrawn_by=by)
            )
        if result.rowcount == 0:
            existing = await self.get(consent_id)
            if existing is None:
                raise GovernanceError(f"there is no consent record {consent_id}", "NOT_FOUND")
            raise GovernanceError(f"consent record {consent_id} was already withdrawn")
        stored = await self.get(consent_id)
        assert stored is not None
        self._changed(stored.person_id)
        return stored


def _consent(row: RowMapping) -> Consent:
    return Consent(
        id=str(row["id"]),
        person_id=str(row["person_id"]),
        scope_kind=str(row["scope_kind"]),
        scope=str(row["scope"]),
        recipient_kind=str(row["recipient_kind"]),
        recipient=str(row["recipient"]),
        decision=ConsentDecision(row["decision"]),
        valid_from=_when(row["valid_from"]),
        valid_until=_aware(row["valid_until"]),
        withdrawn_at=_aware(row["withdrawn_at"]),
        recorded_by=str(row["recorded_by"]),
        reference=str(row["reference"]),
    )


class GrantRegistry:
    """Break-glass grants."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def of_practitioner(self, requester: Requester, person_ids: Iterable[str]) -> list[Grant]:
        """The requester's grants about these people (active or not)."""
        ids = list(person_ids)
        if not ids:
            return []
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(break_glass_grants).where(
                    break_glass_grants.c.practitioner == requester.practitioner,
                    break_glass_grants.c.agency == requester.agency,
                    break_glass_grants.c.person_id.in_(ids),
                )
            )
            return [_grant(row) for row in rows.mappings()]

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
    ) -> Grant:
        """Record a grant of ``purpose`` for this requester and person, expiring after ``hours``."""
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
                    granted_at=now,
                    expires_at=now + dt.timedelta(hours=hours),
                )
            )
        stored = await self.get(grant_id)
        assert stored is not None
        return stored

    async def end(self, grant_id: str, requester: Requester, now: dt.datetime) -> Grant:
        """End one's own grant early."""
        grant = await self.get(grant_id)
        if grant is None or not grant.held_by(requester):
            raise GovernanceError(f"you hold no break-glass grant {grant_id}", "NOT_FOUND")
        if not grant.active(now):
            raise GovernanceError(f"break-glass grant {grant_id} has already ended")
        async with self._engine.begin() as conn:
            await conn.execute(
                update(break_glass_grants)
                .where(break_glass_grants.c.id == grant_id)
                .values(ended_at=now)
            )
        ended = await self.get(grant_id)
        assert ended is not None
        return ended


REVIEW_OUTCOMES = ("appropriate", "inappropriate", "needs_follow_up")


@dataclass(frozen=True)
class GrantReview:
    """A grant as the Caldicott guardian reviews it."""

    grant: Grant
    reviewed_at: dt.datetime | None
    reviewed_by: str | None
    outcome: str | None
    note: str | None
    agencies_notified: tuple[str, ...]


class GrantReviews:
    """Reviews of break-glass grants, and the owning agencies' notifications."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

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

    async def list(self, *, pending_only: bool) -> list[GrantReview]:
        """Grants, newest first; only those not yet reviewed when ``pending_only``."""
        query = select(break_glass_grants).order_by(break_glass_grants.c.granted_at.desc())
        if pending_only:
            query = query.where(break_glass_grants.c.reviewed_at.is_(None))
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
            notified: dict[str, list[str]] = {}
            for grant_id, agency in await conn.execute(
                select(break_glass_notifications.c.grant_id, break_glass_notifications.c.agency)
            ):
                notified.setdefault(grant_id, []).append(agency)
        return [
            GrantReview(
                grant=_grant(row),
                reviewed_at=_aware(row["reviewed_at"]),
                reviewed_by=row["reviewed_by"],
                outcome=row["review_outcome"],
                note=row["review_note"],
                agencies_notified=tuple(sorted(notified.get(str(row["id"]), ()))),
            )
            for row in rows
        ]

    async def review(
        self, grant_id: str, reviewer: str, outcome: str, note: str, now: dt.datetime
    ) -> GrantReview:
        """Record the review of one grant, once."""
        if outcome not in REVIEW_OUTCOMES:
            raise GovernanceError(f"the outcome must be one of: {', '.join(REVIEW_OUTCOMES)}")
        if not note.strip():
            raise GovernanceError("say what the review found (note)")
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(break_glass_grants)
                .where(
                    break_glass_grants.c.id == grant_id, break_glass_grants.c.reviewed_at.is_(None)
                )
                .values(
                    reviewed_at=now, reviewed_by=reviewer, review_outcome=outcome, review_note=note
                )
            )
        if result.rowcount == 0:
            raise GovernanceError(
                f"there is no unreviewed break-glass grant {grant_id}", "NOT_FOUND"
            )
        found = [r for r in await self.list(pending_only=False) if r.grant.id == grant_id]
        return found[0]


def _grant(row: RowMapping) -> Grant:
    return Grant(
        id=str(row["id"]),
        person_id=str(row["person_id"]),
        practitioner=str(row["practitioner"]),
        agency=str(row["agency"]),
        reason=str(row["reason"]),
        granted_at=_when(row["granted_at"]),
        expires_at=_when(row["expires_at"]),
        ended_at=_aware(row["ended_at"]),
        purpose=str(row["purpose"]),
    )


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


@dataclass
class Judge:
    """Decides every (person, agency, item) of one request from facts gathered once.

    Decisions for people without any consent record depend on the person only
    through the relationship and grant, so they are computed once per
    (agency, item, relationship, grant) and shared: a caseload of 200 costs
    little more than one person.
    """

    requester: Requester
    protocol: SharingProtocol
    consents: Mapping[str, Sequence[Consent]]
    grants: Sequence[Grant]
    now: dt.datetime
    _memo: dict[tuple[object, ...], Decision] = field(default_factory=dict)
    _sets: dict[tuple[object, ...], tuple[dict[str, Decision], list[tuple[str, Decision]]]] = field(
        default_factory=dict
    )

    def decide(self, facts: PersonFacts, agency: str, item: str) -> Decision:
        """The decision for one item of one agency about one person."""
        person_consents = self.consents.get(facts.person_id, ())
        if person_consents:
            return decide(
                self.requester,
                facts,
                agency,
                item,
                self.protocol,
                person_consents,
                self.grants,
                self.now,
            )
        key = (agency, item, *self._case(facts))
        decision = self._memo.get(key)
        if decision is None:
            decision = decide(
                self.requester, facts, agency, item, self.protocol, (), self.grants, self.now
            )
            self._memo[key] = decision
        return decision

    def _case(self, facts: PersonFacts) -> tuple[bool, str | None]:
        """What a decision without consent records depends on: relationship and grant."""
        grant = grant_in_force(self.requester, facts, self.protocol, self.grants, self.now)
        related = relationship(self.requester, facts, self.protocol) is not None
        return related, grant.id if grant is not None else None

    def decide_items(
        self, facts: PersonFacts, agency: str, items: frozenset[str]
    ) -> tuple[Mapping[str, Decision], Sequence[tuple[str, Decision]]]:
        """Every item of one agency about one person: (permitted, withheld), in item order.

        For people without consent records the answer depends on the person only
        through the relationship and grant, so whole item sets are shared like
        single decisions: a caseload of 200 decides each distinct case once.
        """
        if self.consents.get(facts.person_id):
            return self._split(facts, agency, items)
        key = ("items", agency, items, *self._case(facts))
        found = self._sets.get(key)
        if found is None:
            found = self._sets[key] = self._split(facts, agency, items)
        return found

    def _split(
        self, facts: PersonFacts, agency: str, items: frozenset[str]
    ) -> tuple[dict[str, Decision], list[tuple[str, Decision]]]:
        permitted: dict[str, Decision] = {}
        withheld: list[tuple[str, Decision]] = []
        for item in sorted(items):
            decision = self.decide(facts, agency, item)
            if decision.permitted:
                permitted[item] = decision
            else:
                withheld.append((item, decision))
        return permitted, withheld

    def grant_for(self, facts: PersonFacts) -> Grant | None:
        """The grant whose purpose the requester's decisions about this person rest on."""
        return grant_in_force(self.requester, facts, self.protocol, self.grants, self.now)


class Governance:
    """Gathers consents and grants for a request and hands out a Judge."""

    def __init__(
        self, protocol: SharingProtocol, engine: AsyncEngine, clock: Clock = utc_now
    ) -> None:
        self.protocol = protocol
        self.consents = ConsentRegistry(engine)
        self.grants = GrantRegistry(engine)
        self.reviews = GrantReviews(engine)
        self.clock = clock

    async def judge(self, requester: Requester, person_ids: Sequence[str]) -> Judge:
        """A Judge for this requester over these people, with facts read now."""
        consents_by_person, grants = await asyncio.gather(
            self.consents.for_people(person_ids),
            self.grants.of_practitioner(requester, person_ids),
        )
        return Judge(requester, self.protocol, consents_by_person, grants, self.clock())
