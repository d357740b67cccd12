"""Oversight in the client view: what Caldicott guardians see and do.

A guardian sees grants, disclosures, usage figures and explanations for their
own agency's data and people only, unless the protocol names them a lead
guardian (``gateway.governance.oversight`` decides which). In a disclosure record a
guardian sees every agency's entry when the requester was their own agency's
practitioner (they answer for what their staff looked at), and otherwise only
the entry about their own agency's data. A person their agency does not hold
answers exactly as a person who does not exist.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import graphene

from gateway.audit.records import DisclosureRecord, disclosure_records
from gateway.audit.usage import usage as usage_figures
from gateway.core.errors import GovernanceError
from gateway.decide.policy import decide, relationship
from gateway.decide.requester import Requester
from gateway.governance.grants import INAPPROPRIATE, GrantReview
from gateway.governance.oversight import Guardian, guardian
from gateway.governance.person_index import person_facts
from gateway.governance.reasons import meaningful
from gateway.pipeline.context import RequestContext
from resolvers.break_glass import GrantType, grant_out
from resolvers.errors import from_governance, governance_error, utc
from resolvers.governance import BasisEnum
from resolvers.scalars import DateTime

#: Webhook events telling an owning agency that a guardian ended a grant that disclosed its data.
REVIEWED_EVENT = "break_glass_review"
REVOKED_EVENT = "break_glass_revoked"


def _guardian(context: RequestContext) -> Guardian:
    protocol = context.gateway.settings.protocol
    found = guardian(context.requester, protocol)
    if found is None:
        raise governance_error(
            "only information-governance roles "
            f"({', '.join(sorted(protocol.governance_roles))}) may ask this",
            "FORBIDDEN",
        )
    return found


async def _overseen_person(context: RequestContext, who: Guardian, person_id: str) -> None:
    links = await context.gateway.index.links([person_id])
    if not who.sees_person(links.get(person_id, {})):
        # The same answer for an unknown id and for a person of another agency.
        raise governance_error(
            "no person with this id is held by your agency; a lead guardian, or a guardian "
            "of an agency that holds the person, can answer for them",
            "NOT_FOUND",
        )


class GrantReviewType(graphene.ObjectType):  # type: ignore[misc]
    """A grant (break-glass or safeguarding) as the Caldicott guardian reviews it."""

    class Meta:
        name = "BreakGlassReview"

    grant = graphene.Field(GrantType, required=True)
    practitioner = graphene.String(required=True)
    agency = graphene.ID(required=True, description="The practitioner's agency.")
    agencies_notified = graphene.List(
        graphene.NonNull(graphene.ID),
        required=True,
        description="The agencies whose data the grant disclosed; each has been notified.",
    )
    reviewed_at = DateTime()
    reviewed_by = graphene.String()
    outcome = graphene.String(description="appropriate, inappropriate or needs_follow_up")
    note = graphene.String()


def _review_out(review: GrantReview) -> dict[str, Any]:
    return {
        "grant": grant_out(review),
        "practitioner": review.grant.practitioner,
        "agency": review.grant.agency,
        "agencies_notified": list(review.agencies_notified),
        "reviewed_at": review.reviewed_at,
        "reviewed_by": review.reviewed_by,
        "outcome": review.outcome,
        "note": review.note,
    }


class ReasonCount(graphene.ObjectType):  # type: ignore[misc]
    """How many items were withheld for one reason."""

    reason = graphene.String(required=True)
    count = graphene.Int(required=True)


class UsageFigures(graphene.ObjectType):  # type: ignore[misc]
    """One requesting agency's use of the gateway, by role."""

    agency = graphene.ID(required=True, description="The requesting agency.")
    role = graphene.String(required=True)
    queries = graphene.Int(required=True)
    people_viewed = graphene.Int(required=True)
    items_disclosed = graphene.Int(required=True)
    items_withheld = graphene.List(graphene.NonNull(ReasonCount), required=True)
    break_glass = graphene.Int(required=True, description="Distinct grants that opened data.")


class SourceAvailability(graphene.ObjectType):  # type: ignore[misc]
    """How an agency answered when asked."""

    agency = graphene.ID(required=True)
    calls = graphene.Int(required=True)
    ok = graphene.Int(required=True)
    availability = graphene.Float(required=True)


class Usage(graphene.ObjectType):  # type: ignore[misc]
    """Usage figures from the disclosure audit."""

    by_agency_and_role = graphene.List(
        graphene.NonNull(UsageFigures),
        required=True,
        description="Your own agency's practitioners' figures (every agency's for a lead "
        "guardian).",
    )
    sources = graphene.List(
        graphene.NonNull(SourceAvailability),
        required=True,
        description="Every agency's availability: figures about systems, not people.",
    )


class WithheldEntry(graphene.ObjectType):  # type: ignore[misc]
    """An item withheld, and why."""

    item = graphene.String(required=True)
    reason = graphene.String(required=True)


class AgencyDisclosure(graphene.ObjectType):  # type: ignore[misc]
    """What one agency's records gave, and kept back, in one disclosure."""

    agency = graphene.ID(required=True)
    outcome = graphene.String(required=True, description="ok, an error code, or not asked")
    disclosed = graphene.List(graphene.NonNull(graphene.String), required=True)
    withheld = graphene.List(graphene.NonNull(WithheldEntry), required=True)


class Disclosure(graphene.ObjectType):  # type: ignore[misc]
    """One audit record: who saw what about the person, when, why and on what basis."""

    seq = graphene.Int(required=True, description="The record's number in the audit chain.")
    kind = graphene.String(
        required=True,
        description=(
            "disclosure (records were asked for), or lookup (the person's index entry was "
            "shown by findPeople or knownTo; no agency's record)."
        ),
    )
    at = DateTime(required=True)
    practitioner = graphene.String(required=True, description="The practitioner's login id.")
    practitioner_name = graphene.String(description="Their name, when their token gave one.")
    requester_agency = graphene.ID(required=True)
    roles = graphene.List(graphene.NonNull(graphene.String), required=True)
    purpose = graphene.String(required=True)
    agencies = graphene.List(
        graphene.NonNull(AgencyDisclosure),
        required=True,
        description="Per agency whose data was asked for; a guardian sees every agency's "
        "entry for their own agency's practitioners' requests, otherwise their own agency's.",
    )
    statutory = graphene.Boolean(required=True, description="Something was shared under a duty.")
    break_glass = graphene.ID(description="The break-glass grant relied on, if any.")
    break_glass_reason = graphene.String()


def _disclosure_out(record: DisclosureRecord, who: Guardian) -> dict[str, Any] | None:
    agencies = [
        agency
        for agency in sorted(set(record.disclosed) | set(record.withheld) | set(record.outcomes))
        if who.sees_agency_entry(record.requester_agency, agency)
    ]
    # A lookup shows the index entry of a person the guardian's agency holds (which
    # agencies are involved, theirs among them): theirs to see, like the person's records.
    if not agencies and record.kind != "lookup":
        return None
    return {
        "seq": record.seq,
        "kind": record.kind,
        "at": record.at,
        "practitioner": record.practitioner,
        "practitioner_name": record.practitioner_name,
        "requester_agency": record.requester_agency,
        "roles": list(record.roles),
        "purpose": record.purpose,
        "agencies": [
            {
                "agency": agency,
                "outcome": record.outcomes.get(agency, "not asked"),
                "disclosed": sorted(record.disclosed.get(agency, {})),
                "withheld": [
                    {"item": item, "reason": entry.reason}
                    for item, entry in sorted(record.withheld.get(agency, {}).items())
                ],
            }
            for agency in agencies
        ],
        "statutory": record.statutory,
        "break_glass": record.break_glass,
        "break_glass_reason": record.break_glass_reason,
    }


class Explanation(graphene.ObjectType):  # type: ignore[misc]
    """Why a requester can or cannot see an item, and what decided it."""

    permitted = graphene.Boolean(required=True)
    reason = graphene.String(description="The withholding reason, when withheld.")
    rule = graphene.String(required=True, description="The clause or rule that decided.")
    basis = graphene.Field(BasisEnum)
    detail = graphene.String(required=True)
    consent = graphene.ID(description="The consent record that decided, if one did.")
    break_glass = graphene.ID(description="The break-glass grant relied on, if any.")
    relationship = graphene.String(
        description="The involvement that makes the relationship legitimate, if any."
    )


class RequesterInput(graphene.InputObjectType):  # type: ignore[misc]
    """A requester to explain a decision for."""

    practitioner = graphene.String(required=True)
    agency = graphene.ID(required=True)
    team = graphene.String()
    roles = graphene.List(graphene.NonNull(graphene.String), required=True)
    purpose = graphene.String(required=True)


class OversightQuery(graphene.ObjectType):  # type: ignore[misc]
    """Queries for information-governance roles."""

    explain_access = graphene.Field(
        Explanation,
        required=True,
        person_id=graphene.ID(required=True),
        agency=graphene.ID(required=True),
        item=graphene.String(required=True),
        requester=graphene.Argument(RequesterInput, required=True),
        description="Information-governance roles: why this requester can or cannot see this "
        "item, for a person your agency holds, about your agency's data or your agency's "
        "practitioner.",
    )
    break_glass_reviews = graphene.List(
        graphene.NonNull(GrantReviewType),
        required=True,
        pending=graphene.Boolean(
            required=True, default_value=True, description="Only grants not yet reviewed."
        ),
        description="Information-governance roles: break-glass and safeguarding grants to "
        "review, newest first: those that disclosed your agency's data or are held by your "
        "agency's practitioners (every grant for a lead guardian).",
    )
    usage = graphene.Field(
        Usage,
        required=True,
        since=DateTime(),
        until=DateTime(),
        description="Information-governance roles: usage per agency and role, and availability.",
    )
    disclosures = graphene.List(
        graphene.NonNull(Disclosure),
        required=True,
        person_id=graphene.ID(required=True),
        start=graphene.Argument(DateTime, name="from"),
        end=graphene.Argument(DateTime, name="to"),
        description="Information-governance roles: who has seen this person's record, for a "
        "person your agency holds.",
    )

    @staticmethod
    async def resolve_disclosures(
        _root: None,
        info: Any,
        person_id: str,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
    ) -> list[dict[str, Any]]:
        """The person's disclosure records, oldest first, as far as the guardian oversees."""
        context: RequestContext = info.context
        who = _guardian(context)
        await _overseen_person(context, who, person_id)
        records = await disclosure_records(
            context.gateway.state_engine,
            person_id=person_id,
            since=utc(start),
            until=utc(end),
            lookups=True,
        )
        shown = (_disclosure_out(record, who) for record in records)
        return [record for record in shown if record is not None]

    @staticmethod
    async def resolve_usage(
        _root: None, info: Any, since: dt.datetime | None = None, until: dt.datetime | None = None
    ) -> dict[str, Any]:
        """Figures computed from the audit."""
        context: RequestContext = info.context
        who = _guardian(context)
        rows, availability = await usage_figures(
            context.gateway.state_engine, utc(since), utc(until)
        )
        return {
            "by_agency_and_role": [
                {
                    "agency": row.agency,
                    "role": row.role,
                    "queries": row.queries,
                    "people_viewed": row.people_viewed,
                    "items_disclosed": row.items_disclosed,
                    "items_withheld": [
                        {"reason": reason, "count": count}
                        for reason, count in sorted(row.items_withheld_by_reason.items())
                    ],
                    "break_glass": row.break_glass,
                }
                for row in rows
                if who.sees_usage_of(row.agency)
            ],
            "sources": [
                {
                    "agency": a.agency,
                    "calls": a.calls,
                    "ok": a.ok,
                    "availability": a.availability,
                }
                for a in availability
            ],
        }

    @staticmethod
    async def resolve_break_glass_reviews(
        _root: None, info: Any, pending: bool
    ) -> list[dict[str, Any]]:
        """Grants the guardian oversees."""
        context: RequestContext = info.context
        who = _guardian(context)
        reviews = await context.gateway.governance.reviews.list(pending_only=pending, guardian=who)
        return [_review_out(review) for review in reviews]

    @staticmethod
    async def resolve_explain_access(
        _root: None, info: Any, person_id: str, agency: str, item: str, requester: Any
    ) -> dict[str, Any]:
        """Run the policy for the described requester, with today's consents and grants."""
        context: RequestContext = info.context
        who = _guardian(context)
        await _overseen_person(context, who, person_id)
        if not (who.lead or who.agency in (agency, requester.agency)):
            raise governance_error(
                "you may explain decisions about your own agency's data, or about requests of "
                "your own agency's practitioners; ask a guardian of "
                f"{agency} or {requester.agency}",
                "FORBIDDEN",
            )
        gateway = context.gateway
        subject = Requester(
            practitioner=requester.practitioner,
            agency=requester.agency,
            team=requester.team,
            roles=frozenset(requester.roles),
            purpose=requester.purpose,
        )
        judge = await gateway.governance.judge(subject, [person_id])
        facts = judge.facts.get(person_id) or person_facts(person_id, {})
        decision = decide(
            subject,
            facts,
            agency,
            item,
            gateway.settings.protocol,
            judge.consents.get(person_id, ()),
            judge.grants,
            judge.now,
        )
        related = relationship(subject, facts, gateway.settings.protocol)
        return {
            "permitted": decision.permitted,
            "reason": decision.reason.value if decision.reason else None,
            "rule": decision.rule,
            "basis": decision.basis.value if decision.basis else None,
            "detail": decision.detail or ("permitted under " + decision.rule),
            "consent": decision.consent,
            "break_glass": decision.break_glass,
            "relationship": (
                f"{related.agency}" + (f" ({related.team})" if related.team else "")
                if related
                else None
            ),
        }


async def _tell_owners(context: RequestContext, review: GrantReview, event: str) -> None:
    # The agencies whose data the grant disclosed hear that a guardian ended it, so their
    # own governance can follow up; the notice is recorded against each of them first.
    gateway = context.gateway
    grant = review.grant
    agencies = await gateway.governance.reviews.ended_notice(
        grant.id, event, gateway.governance.clock()
    )
    for agency_id in agencies:
        url = gateway.settings.agency(agency_id).break_glass_webhook
        if url is None:
            continue
        gateway.post_in_background(
            url,
            {
                "event": event,
                "grant": grant.id,
                "agency": agency_id,
                "personId": grant.person_id,
                "practitioner": grant.practitioner,
                "requesterAgency": grant.agency,
                "purpose": grant.purpose,
                "outcome": review.outcome,
                "endedAt": grant.ended_at.isoformat() if grant.ended_at else None,
                "endedBy": review.ended_by,
                "endReason": review.end_reason,
            },
        )


class ReviewBreakGlass(graphene.Mutation):  # type: ignore[misc]
    """Caldicott guardians: record the review of a grant; "inappropriate" ends it at once
    and tells the agencies whose data it disclosed."""

    class Arguments:
        id = graphene.ID(required=True)
        outcome = graphene.String(
            required=True, description="appropriate, inappropriate or needs_follow_up"
        )
        note = graphene.String(required=True)

    Output = GrantReviewType

    @staticmethod
    async def mutate(_root: None, info: Any, id: str, outcome: str, note: str) -> dict[str, Any]:
        """Check who may review, record the review once, end the grant if inappropriate."""
        context: RequestContext = info.context
        who = _guardian(context)
        governance = context.gateway.governance
        try:
            review = await governance.reviews.review(id, who, outcome, note, governance.clock())
        except GovernanceError as exc:
            raise from_governance(exc) from exc
        if review.outcome == INAPPROPRIATE:
            await _tell_owners(context, review, REVIEWED_EVENT)
        return _review_out(review)


class RevokeBreakGlass(graphene.Mutation):  # type: ignore[misc]
    """Caldicott guardians: end a grant now (its holder ends their own with endBreakGlass);
    the agencies whose data it disclosed are told."""

    class Arguments:
        id = graphene.ID(required=True)
        reason = graphene.String(required=True, description="Why it is revoked; recorded.")

    Output = GrantReviewType

    @staticmethod
    async def mutate(_root: None, info: Any, id: str, reason: str) -> dict[str, Any]:
        """Check who may revoke and why, end the grant, tell the owners."""
        context: RequestContext = info.context
        who = _guardian(context)
        stated = " ".join(reason.split())
        problem = meaningful(stated)
        if problem is not None:
            raise governance_error(problem, "BAD_USER_INPUT")
        governance = context.gateway.governance
        try:
            review = await governance.reviews.revoke(id, who, stated, governance.clock())
        except GovernanceError as exc:
            raise from_governance(exc) from exc
        await _tell_owners(context, review, REVOKED_EVENT)
        return _review_out(review)


class OversightMutation(graphene.ObjectType):  # type: ignore[misc]
    """What guardians do about grants."""

    review_break_glass = ReviewBreakGlass.Field()
    revoke_break_glass = RevokeBreakGlass.Field()
