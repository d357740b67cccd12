"""The audit's records read back for people: one value per disclosure or lookup record;
and how a record stores the items it names (grouped by what they rest on).

Every reader of the audit that turns its rows into words or resources (the
person's own report, the FHIR export, the ``disclosures`` query) reads them
through :func:`disclosure_records`, so each copes with every kind alike. The
audit never holds values, so no record can carry any.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.decide.policy import Decision
from gateway.decide.requester import Requester
from gateway.governance.state import disclosures

#: Record kinds. An ``intent`` record is written before any agency is called; a
#: ``disclosure`` says what one request showed and withheld about one person; a
#: ``lookup`` says that a requester was shown a person's index entry (``findPeople``,
#: ``knownTo``): who they are and which agencies know them, nothing of any record.
INTENT, DISCLOSURE, LOOKUP = "intent", "disclosure", "lookup"


@dataclass(frozen=True)
class DisclosedItem:
    """An item shown to the requester: the clause (or ``"own record"``) and basis relied on."""

    rule: str | None
    basis: str | None


@dataclass(frozen=True)
class WithheldItem:
    """An item asked for but not shown, and why."""

    reason: str
    rule: str | None


@dataclass(frozen=True)
class DisclosureRecord:
    """One ``disclosure`` or ``lookup`` record of the audit: one person, one request.

    ``practitioner`` is the login id; ``practitioner_name`` the name the token
    gave, when it gave one. A lookup (``kind`` ``lookup``) has no agencies: it
    showed the index entry only.

    ``disclosed`` and ``withheld`` are per agency (agency id -> item -> detail);
    ``not_delivered`` lists items that were permitted but whose agency did not
    answer, so nothing of them reached the requester; ``outcomes`` is each
    agency's status for the request (``ok``, ``timeout``, ``not asked``, ...).
    ``statutory`` is true when some item was shared under a statutory clause;
    :func:`statutory_agencies` names whose.
    """

    seq: int
    at: dt.datetime
    request_id: str
    practitioner: str
    requester_agency: str
    requester_team: str | None
    roles: tuple[str, ...]
    purpose: str
    person_id: str
    disclosed: Mapping[str, Mapping[str, DisclosedItem]]
    withheld: Mapping[str, Mapping[str, WithheldItem]]
    not_delivered: Mapping[str, Mapping[str, DisclosedItem]]
    outcomes: Mapping[str, str]
    statutory: bool
    break_glass: str | None
    break_glass_reason: str | None
    kind: str = DISCLOSURE
    practitioner_name: str | None = None

    @property
    def lookup(self) -> bool:
        """Whether this records a look-up in the person index rather than a disclosure."""
        return self.kind == LOOKUP

    @property
    def disclosed_count(self) -> int:
        """How many items were shown, over all agencies."""
        return sum(len(items) for items in self.disclosed.values())

    @property
    def withheld_count(self) -> int:
        """How many items were asked for and withheld, over all agencies."""
        return sum(len(items) for items in self.withheld.values())


def requester_columns(requester: Requester) -> dict[str, Any]:
    """The columns of an audit record that say who asked, and why."""
    return {
        "practitioner": requester.practitioner,
        "practitioner_name": requester.name,
        "requester_agency": requester.agency,
        "requester_team": requester.team,
        "roles": ",".join(sorted(requester.roles)),
        "purpose": requester.purpose,
    }


def utc(value: dt.datetime) -> dt.datetime:
    """``value`` in UTC; a naive datetime is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def disclosed_groups(decisions: Mapping[str, Decision]) -> list[dict[str, Any]]:
    """Items shown (or permitted and not delivered) as a record stores them: one entry per
    basis and clause relied on, with its items, rather than the same two words per item."""
    return _grouped(decisions, "basis", lambda d: d.basis.value if d.basis else None, None)


def withheld_groups(decisions: Mapping[str, Decision]) -> list[dict[str, Any]]:
    """Items withheld as a record stores them: one entry per reason and clause."""
    return _grouped(decisions, "reason", lambda d: d.reason.value if d.reason else "", "")


def _grouped(
    decisions: Mapping[str, Decision],
    name: str,
    value_of: Callable[[Decision], str | None],
    absent: str | None,
) -> list[dict[str, Any]]:
    # One entry per (value, clause), in order, each with its items in order.
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for item, decision in decisions.items():
        groups[(value_of(decision) or "", decision.rule or "")].append(item)
    return [
        {name: value or absent, "rule": rule or None, "items": sorted(items)}
        for (value, rule), items in sorted(groups.items())
    ]


def _items(raw: Any) -> list[tuple[str, Mapping[str, Any]]]:
    # (item, what it rests on) from either form a record may hold: grouped (a list of
    # entries with their items), or one entry per item (records written before grouping).
    if isinstance(raw, dict):
        return [(str(item), d if isinstance(d, dict) else {}) for item, d in raw.items()]
    if isinstance(raw, list):
        return [
            (str(item), group)
            for group in raw
            if isinstance(group, dict) and isinstance(group.get("items"), list)
            for item in group["items"]
        ]
    return []


def disclosed_items(raw: Any) -> dict[str, DisclosedItem]:
    """The items of a record's ``disclosed`` (or ``not_delivered``), by name, in order."""
    return {
        item: DisclosedItem(rule=detail.get("rule"), basis=detail.get("basis"))
        for item, detail in sorted(_items(raw))
    }


def withheld_items(raw: Any) -> dict[str, WithheldItem]:
    """The items of a record's ``withheld``, by name, in order."""
    return {
        item: WithheldItem(reason=str(detail.get("reason", "")), rule=detail.get("rule"))
        for item, detail in sorted(_items(raw))
    }


def _record(row: Mapping[str, Any]) -> DisclosureRecord:
    agencies = json.loads(row["agencies"] or "{}")
    disclosed: dict[str, dict[str, DisclosedItem]] = {}
    withheld: dict[str, dict[str, WithheldItem]] = {}
    not_delivered: dict[str, dict[str, DisclosedItem]] = {}
    outcomes: dict[str, str] = {}
    for agency, entry in sorted(agencies.items()):
        if not isinstance(entry, dict):
            continue
        outcomes[agency] = str(entry.get("outcome", ""))
        if shown := disclosed_items(entry.get("disclosed")):
            disclosed[agency] = shown
        if held := withheld_items(entry.get("withheld")):
            withheld[agency] = held
        if lost := disclosed_items(entry.get("not_delivered")):
            not_delivered[agency] = lost
    roles = tuple(sorted(role for role in str(row["roles"] or "").split(",") if role))
    return DisclosureRecord(
        seq=int(row["seq"]),
        at=utc(dt.datetime.fromisoformat(str(row["at"]))),
        request_id=str(row["request_id"]),
        practitioner=str(row["practitioner"]),
        requester_agency=str(row["requester_agency"]),
        requester_team=row["requester_team"],
        roles=roles,
        purpose=str(row["purpose"]),
        person_id=str(row["person_id"]),
        disclosed=disclosed,
        withheld=withheld,
        not_delivered=not_delivered,
        outcomes=outcomes,
        statutory=bool(row["statutory"]),
        break_glass=row["break_glass"],
        break_glass_reason=row["break_glass_reason"],
        kind=str(row["kind"]),
        practitioner_name=row.get("practitioner_name"),
    )


async def disclosure_records(
    engine: AsyncEngine,
    *,
    person_id: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    lookups: bool = False,
) -> list[DisclosureRecord]:
    """The audit's disclosure records, oldest first, optionally for one person and a period;
    with ``lookups``, the person-index lookup records among them.

    ``since`` is inclusive and ``until`` exclusive; naive datetimes are taken as UTC.
    ``intent`` records are not disclosures and are left out.
    """
    kinds = (DISCLOSURE, LOOKUP) if lookups else (DISCLOSURE,)
    query = select(disclosures).where(disclosures.c.kind.in_(kinds))
    if person_id is not None:
        query = query.where(disclosures.c.person_id == person_id)
    start = utc(since) if since is not None else None
    end = utc(until) if until is not None else None
    records: list[DisclosureRecord] = []
    async with engine.connect() as conn:
        result = await conn.execute(query.order_by(disclosures.c.seq))
        for row in result.mappings():
            record = _record(dict(row))
            if start is not None and record.at < start:
                continue
            if end is not None and record.at >= end:
                continue
            records.append(record)
    return records


#: The rule the policy names when an agency's own practitioner reads its own record.
OWN_RECORD = "own record"


def statutory_agencies(record: DisclosureRecord) -> list[str]:
    """Agencies whose items reached another agency's practitioner under a legal duty.

    An agency's own practitioner reading its own record (rule ``"own record"``) is not
    sharing, whatever basis the clause for those items names.
    """
    return sorted(
        agency
        for agency, items in record.disclosed.items()
        if any(d.basis == "statutory" and d.rule != OWN_RECORD for d in items.values())
    )
