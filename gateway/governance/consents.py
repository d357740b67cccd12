"""Consent and objection records in the state database, per person.

Nothing here is cached across requests: a consent recorded or withdrawn through
any gateway process is read by the very next query of every process.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.core.errors import GovernanceError
from gateway.core.times import when
from gateway.decide.policy import Consent, ConsentDecision
from gateway.governance.state import consents
from gateway.governance.state_sqlite import driver, rows_in


@dataclass(frozen=True)
class ConsentEvidence:
    """What a consent record cites: the protocol form its reference matched, and the
    evidence cited when it was withdrawn."""

    form: str | None
    withdrawn_reference: str | None
    withdrawn_by: str | None


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
        if not ids:
            return {}
        async with self._engine.connect() as conn:
            return await conn.run_sync(read_consents, ids)

    async def get(self, consent_id: str) -> Consent | None:
        """One record by id."""
        async with self._engine.connect() as conn:
            row = (
                (await conn.execute(select(consents).where(consents.c.id == consent_id)))
                .mappings()
                .first()
            )
        return _consent(row) if row is not None else None

    async def evidence(self, consent_ids: Iterable[str]) -> dict[str, ConsentEvidence]:
        """What these records cite, by record id."""
        ids = list(consent_ids)
        if not ids:
            return {}
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(
                    consents.c.id,
                    consents.c.reference_form,
                    consents.c.withdrawn_reference,
                    consents.c.withdrawn_by,
                ).where(consents.c.id.in_(ids))
            )
            return {
                str(row.id): ConsentEvidence(
                    row.reference_form, row.withdrawn_reference, row.withdrawn_by
                )
                for row in rows
            }

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
        reference_form: str,
        now: dt.datetime,
    ) -> Consent:
        """Store a new consent or objection, citing evidence of ``reference_form``."""
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
                    reference_form=reference_form,
                )
            )
        self._changed(person_id)
        stored = await self.get(consent_id)
        assert stored is not None
        return stored

    async def withdraw(
        self, consent_id: str, by: str, now: dt.datetime, reference: str | None = None
    ) -> Consent:
        """Mark a record withdrawn from ``now``, citing ``reference``; it no longer applies
        to any query after."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(consents)
                .where(consents.c.id == consent_id, consents.c.withdrawn_at.is_(None))
                .values(withdrawn_at=now, withdrawn_by=by, withdrawn_reference=reference)
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


def read_consents(conn: Connection, person_ids: Sequence[str]) -> dict[str, list[Consent]]:
    """Every record (in force or not) about these people, by person, read on a
    synchronous connection."""
    found: dict[str, list[Consent]] = {}
    if not person_ids:
        return found
    db = driver(conn)
    rows: Iterable[Mapping[Any, Any]] = (
        rows_in(db, consents, "person_id", person_ids)
        if db is not None
        else conn.execute(select(consents).where(consents.c.person_id.in_(person_ids))).mappings()
    )
    for row in rows:
        consent = _consent(row)
        found.setdefault(consent.person_id, []).append(consent)
    return found


def _consent(row: Mapping[Any, Any]) -> Consent:
    return Consent(
        id=str(row["id"]),
        person_id=str(row["person_id"]),
        scope_kind=str(row["scope_kind"]),
        scope=str(row["scope"]),
        recipient_kind=str(row["recipient_kind"]),
        recipient=str(row["recipient"]),
        decision=ConsentDecision(row["decision"]),
        valid_from=when(row["valid_from"]),
        valid_until=row["valid_until"],
        withdrawn_at=row["withdrawn_at"],
        recorded_by=str(row["recorded_by"]),
        reference=str(row["reference"]),
    )
