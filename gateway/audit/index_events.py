"""Changes to the person index as records of the disclosure audit's hash chain.

A link joins one agency's record to a person, so that every later request about that
person reaches the agency: it decides who sees what as surely as a consent does. So each
link, unlink and review decision is chained in the audit beside the disclosures, as an
``index`` record: who made it (an index administrator's token, or the operator who ran
``fame-gateway index``), about which person, and, under the agency's id, the action, the
agency's local id, the team, the method and the score. Never a name, date of birth or
any other detail of the record. The audit's readers of disclosures leave these records
out; ``index_records`` reads them back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.audit.records import requester_columns
from gateway.decide.requester import Requester
from gateway.governance.linkage_store import LinkEvent
from gateway.governance.state import disclosures

#: The audit record kind of a change to the person index.
INDEX = "index"
#: The role and purpose recorded for an operator running ``fame-gateway index``.
OPERATOR_ROLE = "index_operator"
OPERATOR_PURPOSE = "index_administration"


def _entry(event: LinkEvent) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "action": event.action,
        "local_id": event.local_id,
        "team": event.team,
        "method": event.method,
        "score": event.score,
    }
    if event.review_id is not None:
        entry["review"] = event.review_id
    return {event.agency_id: {"index": entry}}


def _rows(events: Iterable[LinkEvent], base: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            **base,
            "kind": INDEX,
            "person_id": event.person_id,
            "agencies": orjson.dumps(_entry(event), option=orjson.OPT_SORT_KEYS).decode(),
            "statutory": False,
            "break_glass": None,
            "break_glass_reason": None,
        }
        for event in events
    ]


def requester_rows(
    events: Sequence[LinkEvent],
    requester: Requester,
    request_id: str,
    query_hash: str,
    now: dt.datetime,
) -> list[dict[str, Any]]:
    """Audit records of changes an index administrator made through ``/graphql``."""
    return _rows(
        events,
        {
            "at": now.isoformat(),
            "request_id": request_id,
            "query_hash": query_hash,
            **requester_columns(requester),
        },
    )


def operator_rows(
    events: Sequence[LinkEvent], actor: str, request_id: str, query_hash: str, now: dt.datetime
) -> list[dict[str, Any]]:
    """Audit records of changes an operator made with ``fame-gateway index``; each is
    recorded under the agency whose record it linked or unlinked."""
    return [
        row
        for event in events
        for row in _rows(
            [event],
            {
                "at": now.isoformat(),
                "request_id": request_id,
                "query_hash": query_hash,
                "practitioner": actor,
                "practitioner_name": None,
                "requester_agency": event.agency_id,
                "requester_team": None,
                "roles": OPERATOR_ROLE,
                "purpose": OPERATOR_PURPOSE,
            },
        )
    ]


@dataclass(frozen=True)
class IndexRecord:
    """One ``index`` record of the audit, read back."""

    seq: int
    at: dt.datetime
    practitioner: str
    requester_agency: str
    roles: tuple[str, ...]
    person_id: str
    agency_id: str
    action: str
    local_id: str
    team: str | None
    method: str
    score: float | None
    review_id: str | None


async def index_records(engine: AsyncEngine, person_id: str | None = None) -> list[IndexRecord]:
    """The audit's person-index records, oldest first (one person's, when given)."""
    query = select(disclosures).where(disclosures.c.kind == INDEX)
    if person_id is not None:
        query = query.where(disclosures.c.person_id == person_id)
    found: list[IndexRecord] = []
    async with engine.connect() as conn:
        for row in (await conn.execute(query.order_by(disclosures.c.seq))).mappings():
            for agency_id, entry in orjson.loads(row["agencies"]).items():
                change = entry["index"]
                found.append(
                    IndexRecord(
                        seq=int(row["seq"]),
                        at=dt.datetime.fromisoformat(str(row["at"])),
                        practitioner=str(row["practitioner"]),
                        requester_agency=str(row["requester_agency"]),
                        roles=tuple(r for r in str(row["roles"]).split(",") if r),
                        person_id=str(row["person_id"]),
                        agency_id=str(agency_id),
                        action=str(change["action"]),
                        local_id=str(change["local_id"]),
                        team=change.get("team"),
                        method=str(change["method"]),
                        score=change.get("score"),
                        review_id=change.get("review"),
                    )
                )
    return found
