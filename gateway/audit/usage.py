"""Usage figures from the disclosure audit: who asked, how much was shared and withheld.

The FAME pilots found their benefits hard to evaluate because the evidence sat
in single agencies. These figures are read from the audit alone (never from an
agency), per requesting agency and role: queries, people viewed, items
disclosed, items withheld by reason, break-glass grants used; and, per source
agency, how often it answered when asked.

A request made under several roles counts under each of them. ``queries``
counts intent records, so a request refused before any agency answered (a
mutation, a request whose disclosure record could not be written) still counts.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.audit.records import DISCLOSURE, INTENT, disclosed_items, withheld_items
from gateway.governance.state import disclosures

#: The role a request is counted under when its requester has none.
NO_ROLE = "(none)"
#: The outcome the audit records for an agency that was not asked.
NOT_ASKED = "not asked"
# The audit's ``at`` column is an ISO string; the SQL filter is widened by this much so
# that a timestamp written with another UTC offset is never cut off, then filtered exactly.
_MARGIN = dt.timedelta(days=1)


@dataclass(frozen=True)
class UsageRow:
    """What one requesting agency's practitioners in one role asked for and were shown.

    ``people_viewed`` counts distinct people with at least one item disclosed;
    ``break_glass`` counts distinct break-glass grants that opened something.
    """

    agency: str
    role: str
    queries: int
    people_viewed: int
    items_disclosed: int
    items_withheld_by_reason: Mapping[str, int] = field(default_factory=dict)
    break_glass: int = 0

    @property
    def items_withheld(self) -> int:
        """All items withheld, whatever the reason."""
        return sum(self.items_withheld_by_reason.values())


@dataclass(frozen=True)
class Availability:
    """How a source agency answered when the gateway asked it.

    ``calls`` counts each distinct answer per request (ok or an error code);
    ``availability`` is the fraction of them that were ``ok``.
    """

    agency: str
    calls: int
    ok: int
    failures: Mapping[str, int] = field(default_factory=dict)

    @property
    def availability(self) -> float:
        """ok / calls; 1.0 for an agency never asked."""
        return self.ok / self.calls if self.calls else 1.0


def parse_when(text: str) -> dt.datetime:
    """A CLI or GraphQL date (``2026-03-01``) or date-time, as an aware datetime (UTC if naive).

    A bare date means the start of that day, UTC.
    """
    value = dt.datetime.fromisoformat(text.strip())
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


@dataclass
class _Tally:
    queries: set[str] = field(default_factory=set)
    people: set[str] = field(default_factory=set)
    disclosed: int = 0
    withheld: Counter[str] = field(default_factory=Counter)
    grants: set[str] = field(default_factory=set)


async def usage(
    engine: AsyncEngine,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> tuple[list[UsageRow], list[Availability]]:
    """Usage per (requesting agency, role) and availability per source agency.

    ``since`` is inclusive, ``until`` exclusive; naive datetimes are taken as UTC.
    """
    since = _aware(since) if since is not None else None
    until = _aware(until) if until is not None else None
    query = select(
        disclosures.c.kind,
        disclosures.c.at,
        disclosures.c.request_id,
        disclosures.c.requester_agency,
        disclosures.c.roles,
        disclosures.c.person_id,
        disclosures.c.agencies,
        disclosures.c.break_glass,
    )
    if since is not None:
        query = query.where(disclosures.c.at >= (since - _MARGIN).isoformat())
    if until is not None:
        query = query.where(disclosures.c.at < (until + _MARGIN).isoformat())
    async with engine.connect() as conn:
        records = [dict(row) for row in (await conn.execute(query)).mappings()]
    return summarise(records, since, until)


def summarise(
    records: Iterable[Mapping[str, Any]],
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> tuple[list[UsageRow], list[Availability]]:
    """Aggregate audit records (as read from the ``disclosures`` table) into usage figures."""
    tallies: dict[tuple[str, str], _Tally] = defaultdict(_Tally)
    answers: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for record in records:
        at = _aware(dt.datetime.fromisoformat(str(record["at"])))
        if (since is not None and at < since) or (until is not None and at >= until):
            continue
        request_id = str(record["request_id"])
        roles = [role for role in str(record["roles"] or "").split(",") if role] or [NO_ROLE]
        keyed = [tallies[(str(record["requester_agency"]), role)] for role in roles]
        if record["kind"] == INTENT:
            for tally in keyed:
                tally.queries.add(request_id)
            continue
        if record["kind"] != DISCLOSURE:
            continue  # a lookup showed an index entry: no item was disclosed or withheld
        agencies: Mapping[str, Mapping[str, Any]] = json.loads(record["agencies"] or "{}")
        disclosed = 0
        withheld: Counter[str] = Counter()
        for source, entry in agencies.items():
            disclosed += len(disclosed_items(entry.get("disclosed")))
            for detail in withheld_items(entry.get("withheld")).values():
                withheld[detail.reason] += 1
            outcome = str(entry.get("outcome", NOT_ASKED))
            if outcome != NOT_ASKED:
                answers[source].add((request_id, outcome))
        grant = record["break_glass"]
        for tally in keyed:
            tally.disclosed += disclosed
            tally.withheld.update(withheld)
            if disclosed and record["person_id"] is not None:
                tally.people.add(str(record["person_id"]))
            if grant:
                tally.grants.add(str(grant))
    rows = [
        UsageRow(
            agency=agency,
            role=role,
            queries=len(tally.queries),
            people_viewed=len(tally.people),
            items_disclosed=tally.disclosed,
            items_withheld_by_reason=dict(sorted(tally.withheld.items())),
            break_glass=len(tally.grants),
        )
        for (agency, role), tally in sorted(tallies.items())
    ]
    availability = []
    for source, seen in sorted(answers.items()):
        outcomes = Counter(outcome for _, outcome in seen)
        ok = outcomes.pop("ok", 0)
        availability.append(
            Availability(
                agency=source, calls=ok + sum(outcomes.values()), ok=ok, failures=dict(outcomes)
            )
        )
    return rows, availability


def usage_table(rows: Sequence[UsageRow], availability: Sequence[Availability]) -> str:
    """Usage and availability as two Markdown tables (readable as plain text too)."""
    if not rows and not availability:
        return "No requests in this period.\n"
    usage_lines = _table(
        (
            "agency",
            "role",
            "queries",
            "people viewed",
            "items disclosed",
            "items withheld",
            "withheld by reason",
            "break-glass",
        ),
        [
            (
                row.agency,
                row.role,
                str(row.queries),
                str(row.people_viewed),
                str(row.items_disclosed),
                str(row.items_withheld),
                _counts(row.items_withheld_by_reason),
                str(row.break_glass),
            )
            for row in rows
        ],
        numeric=(2, 3, 4, 5, 7),
    )
    availability_lines = _table(
        ("source agency", "calls", "ok", "failures", "availability"),
        [
            (
                entry.agency,
                str(entry.calls),
                str(entry.ok),
                _counts(entry.failures),
                f"{entry.availability:.1%}",
            )
            for entry in availability
        ],
        numeric=(1, 2, 4),
    )
    return (
        "## Usage by requesting agency and role\n\n"
        + "\n".join(usage_lines)
        + "\n\n## Source agency availability\n\n"
        + "\n".join(availability_lines)
        + "\n"
    )


def _counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{key} {value}" for key, value in sorted(counts.items())) or "-"


def _table(
    header: Sequence[str], body: Sequence[Sequence[str]], numeric: Sequence[int]
) -> list[str]:
    widths = [max([len(header[i]), *(len(line[i]) for line in body)]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        padded = [
            cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i])
            for i, cell in enumerate(cells)
        ]
        return "| " + " | ".join(padded) + " |"

    rule = [
        "-" * (widths[i] + 1) + ":" if i in numeric else "-" * (widths[i] + 2)
        for i in range(len(header))
    ]
    return [line(header), "|" + "|".join(rule) + "|", *[line(cells) for cells in body]]
