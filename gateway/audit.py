"""The disclosure audit: who saw what about whom, on what basis, and what was withheld.

One record per person per request, written before the response leaves.
Values are never written: only item names, clauses, bases and reasons.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.context import RequestContext
from gateway.governance import utc_now
from gateway.protocol import Basis
from gateway.state import disclosures


class AuditUnavailable(Exception):
    """The audit could not be written; the response must not leave."""


class AuditLog:
    """Appends disclosure records to the state database."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def record(self, context: RequestContext) -> int:
        """Write one record per person the request touched; returns how many."""
        rows = self._rows(context)
        if not rows:
            return 0
        try:
            async with self._engine.begin() as conn:
                await conn.execute(disclosures.insert(), rows)
        except Exception as exc:  # any failure to write the audit fails the request closed
            raise AuditUnavailable(str(exc)) from exc
        return len(rows)

    @staticmethod
    def _rows(context: RequestContext) -> list[dict[str, Any]]:
        requester = context.requester
        now = utc_now()
        per_person: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        statutory: set[str] = set()
        grants: dict[str, tuple[str, str]] = {}

        def agency_entry(person_id: str, agency: str) -> dict[str, Any]:
            return per_person[person_id].setdefault(
                agency, {"disclosed": {}, "withheld": {}, "outcome": "not asked"}
            )

        for assembly in context.assemblies:
            status = {outcome.agency: outcome.status for outcome in assembly.outcomes}
            for (person_id, agency), decisions in assembly.disclosed.items():
                entry = agency_entry(person_id, agency)
                entry["outcome"] = status.get(agency, "not asked")
                ok = entry["outcome"] == "ok"
                for item, decision in decisions.items():
                    # An item counts as disclosed only if its agency answered.
                    target = entry["disclosed"] if ok else entry.setdefault("not_delivered", {})
                    target[item] = {
                        "rule": decision.rule,
                        "basis": decision.basis.value if decision.basis else None,
                    }
                    if ok and decision.basis is Basis.STATUTORY:
                        statutory.add(person_id)
            for withheld in assembly.withheld:
                entry = agency_entry(withheld.person_id, withheld.agency)
                assert withheld.decision.reason is not None
                entry["withheld"][withheld.item] = {
                    "reason": withheld.decision.reason.value,
                    "rule": withheld.decision.rule,
                }
            for person_id, grant in assembly.grants.items():
                grants[person_id] = (grant.id, grant.reason)
        return [
            {
                "at": now,
                "request_id": context.request_id,
                "query_hash": context.query_hash,
                "practitioner": requester.practitioner,
                "requester_agency": requester.agency,
                "requester_team": requester.team,
                "roles": ",".join(sorted(requester.roles)),
                "purpose": requester.purpose,
                "person_id": person_id,
                "agencies": json.dumps(agencies, sort_keys=True),
                "statutory": person_id in statutory,
                "break_glass": grants.get(person_id, (None, None))[0],
                "break_glass_reason": grants.get(person_id, (None, None))[1],
            }
            for person_id, agencies in sorted(per_person.items())
        ]
