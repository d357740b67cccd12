"""Shared by the FAME pilot scenarios: what the synthetic population holds, in the shape
the gateway's GraphQL answers take, and readers of an answer's extensions."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Iterable, Mapping
from typing import Any

from aiohttp import web

from fame_demo.runner import demo_person_id
from fame_demo.synthetic import Population, SyntheticPerson
from tests.support import World

Record = dict[str, Any]

#: The GraphQL selection of every field the population holds, per record set.
FIELDS: Mapping[str, str] = {
    "involvement": "agency { id } team worker role since status",
    "alerts": "agency { id } category severity raisedOn summary",
    "assessments": "agency { id } kind completedOn assessor summary outcome",
    "timeline": "agency { id } occurredOn kind summary practitioner",
    "care_packages": "agency { id } service provider hoursPerWeek startedOn",
    "adaptations": "agency { id } kind status completedOn",
    "tenancies": "agency { id } address tenure landlord startedOn rentArrearsWeeks",
    "community_episodes": "agency { id } service clinician startedOn endedOn nextVisit",
    "medications": "agency { id } name dose startedOn",
    "assessment_domains": "agency { id } domain summary needs assessor assessedOn",
    "address_history": "agency { id } address postcode movedIn movedOut",
    "child_protection_plans": "agency { id } category startedOn reviewDue keyWorker",
    "childrens_cases": "agency { id } status plan reason openedOn",
    "concerns": "agency { id } raisedOn raisedBy category summary action",
    "benefit_claims": "agency { id } benefit status weeklyAmount submittedOn decidedOn",
    "ed_attendances": "agency { id } arrivedOn reason clinician outcome",
    "therapy_plans": "agency { id } therapy therapist goals nextReview",
    "enrolments": "agency { id } school yearGroup startedOn attendancePercent",
    "special_needs": "agency { id } ehcp primaryNeed reviewDue",
    "social_care_cases": "agency { id } status primaryNeed eligible reviewDue",
}

#: Every reason the gateway may give for withholding an item (gateway.decide.policy.Reason).
REASONS = frozenset(
    {
        "NOT_IN_PROTOCOL",
        "SEALED",
        "NO_RELATIONSHIP",
        "ROLE_NOT_PERMITTED",
        "PURPOSE_NOT_PERMITTED",
        "NO_CONSENT",
        "OBJECTION",
    }
)


def camel(name: str) -> str:
    """A catalogue field name as GraphQL spells it (``raised_on`` -> ``raisedOn``)."""
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def as_json(value: object) -> object:
    """A population value as it travels in a JSON answer."""
    return value.isoformat() if isinstance(value, dt.date) else value


def expected(
    population: Population,
    person: SyntheticPerson,
    agency: str,
    record_set: str,
    fields: Iterable[str] | None = None,
) -> list[Record]:
    """The agency's rows of a record set about the person, shaped like the GraphQL records
    (each naming its agency), keeping only ``fields`` (catalogue names) when given."""
    local_id = population.local_id(agency, person.nhs_number)
    if local_id is None:
        return []
    wanted = set(fields) if fields is not None else None
    return [
        {
            "agency": {"id": agency},
            **{
                camel(name): as_json(value)
                for name, value in row.items()
                if wanted is None or name in wanted
            },
        }
        for row in population.rows(agency, local_id, record_set)
    ]


def expected_from(
    population: Population,
    person: SyntheticPerson,
    agencies: Iterable[str],
    record_set: str,
    fields: Iterable[str] | None = None,
) -> list[Record]:
    """The rows of one record set from several agencies, together."""
    field_list = list(fields) if fields is not None else None
    return [
        record
        for agency in agencies
        for record in expected(population, person, agency, record_set, field_list)
    ]


def canonical(records: Iterable[Mapping[str, Any]] | None) -> list[str]:
    """Records as a sorted list of canonical JSON texts, to compare regardless of order."""
    assert records is not None
    return sorted(json.dumps(record, sort_keys=True) for record in records)


def withheld(result: Mapping[str, Any]) -> dict[tuple[str, str], str]:
    """``extensions.withheld`` as (agency, item) -> reason."""
    found: dict[tuple[str, str], str] = {}
    for entry in result.get("extensions", {}).get("withheld", []):
        key = (entry["agency"], entry["item"])
        assert found.get(key, entry["reason"]) == entry["reason"], entry
        found[key] = entry["reason"]
    return found


def withheld_agencies(result: Mapping[str, Any], record_set: str) -> dict[str, set[str]]:
    """Per agency, the reasons its items of ``record_set`` were withheld for."""
    by_agency: dict[str, set[str]] = {}
    for (agency, item), reason in withheld(result).items():
        if item.partition(".")[0] == record_set:
            by_agency.setdefault(agency, set()).add(reason)
    return by_agency


def agencies_in(records: Iterable[Mapping[str, Any]] | None) -> set[str]:
    """The agencies some records came from."""
    return {record["agency"]["id"] for record in records or ()}


CLAIM_SAFEGUARDING = """mutation { claimSafeguarding(personId: "%s", reference: "%s",
  reason: "%s") { id purpose expiresAt } }"""
REFERRAL_REASON = "Referral from school: bruising seen at PE, child reluctant to go home"


async def claim_safeguarding(
    world: World,
    practitioner: str,
    person_id: str,
    reference: str = "SGR-2026-0456",
    reason: str = REFERRAL_REASON,
) -> str:
    """Record the enquiry or referral that establishes safeguarding; the grant's id."""
    result = await world.query(
        CLAIM_SAFEGUARDING % (person_id, reference, reason), as_=practitioner
    )
    assert "errors" not in result, result
    grant = result["data"]["claimSafeguarding"]
    assert grant["purpose"] == "safeguarding"
    return str(grant["id"])


def assert_not_available(result: Mapping[str, Any], field: str = "person") -> None:
    """The answer for a person the requester may not see: as for an unknown id, null with
    one NOT_FOUND error, nothing withheld to list and no agency asked."""
    assert result["data"] == {field: None}, result["data"]
    (error,) = result["errors"]
    assert error["path"] == [field] and error["extensions"] == {"code": "NOT_FOUND"}
    assert "withheld" not in result["extensions"]
    assert result["extensions"]["sources"] == {}


def cast_member(population: Population, part: str) -> tuple[SyntheticPerson, str]:
    """The one person playing ``part`` in a pilot's story, and their gateway id."""
    (person,) = population.cast_as(part)
    return person, demo_person_id(person.nhs_number)


def parent_of(population: Population, child: SyntheticPerson) -> SyntheticPerson:
    """The parent who consents for the child."""
    (parent,) = population.parents[child.nhs_number]
    return population.person_by_nhs(parent)


async def clause_for(world: World, agency: str, item: str) -> dict[str, Any]:
    """The protocol clause that lists an agency's item, as the gateway publishes it."""
    protocol = await world.query(
        "{ sharingProtocol { clauses { id title agencies items basis purposes roles } } }"
    )
    record_set = item.partition(".")[0]
    (clause,) = [
        c
        for c in protocol["data"]["sharingProtocol"]["clauses"]
        if agency in c["agencies"] and (item in c["items"] or f"{record_set}.*" in c["items"])
    ]
    return dict(clause)


async def record_consent(
    world: World,
    as_: str,
    person_id: str,
    *,
    reference: str,
    decision: str = "PERMIT",
    category: str | None = None,
    item: str | None = None,
    agency: str | None = None,
    role: str | None = None,
) -> dict[str, Any]:
    """Record a consent (or, with DENY, an objection) through the gateway; the record."""
    scope = f'category: "{category}"' if category is not None else f'item: "{item}"'
    recipient = f'recipientAgency: "{agency}"' if agency is not None else f'recipientRole: "{role}"'
    result = await world.query(
        """mutation { recordConsent(input: {personId: "%s", %s, %s, decision: %s,
        reference: "%s"}) { id scope recipient decision recordedBy withdrawnAt } }"""
        % (person_id, scope, recipient, decision, reference),
        as_=as_,
    )
    assert "errors" not in result, result
    consent: dict[str, Any] = result["data"]["recordConsent"]
    return consent


async def withdraw_consent(world: World, as_: str, consent_id: str) -> None:
    """Withdraw a consent through the gateway."""
    result = await world.query(
        'mutation { withdrawConsent(id: "%s") { withdrawnAt } }' % consent_id, as_=as_
    )
    assert result["data"]["withdrawConsent"]["withdrawnAt"], result


class NoticeReceiver:
    """An agency's own endpoint for the gateway's notices, on 127.0.0.1: what it received."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._arrived = asyncio.Event()

    async def _notice(self, request: web.Request) -> web.Response:
        self.received.append(await request.json())
        self._arrived.set()
        return web.json_response({"received": True})

    async def start(self) -> str:
        """Serve on a free port; the URL notices are posted to."""
        app = web.Application()
        app.router.add_post("/notices", self._notice)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/notices"
        return self.url

    async def first(self, seconds: float = 10.0) -> dict[str, Any]:
        """The first notice received, waiting for it (the gateway posts in the background)."""
        await asyncio.wait_for(self._arrived.wait(), seconds)
        return self.received[0]

    async def stop(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()
