"""Information governance in the client view: the protocol as data, consent,
break-glass, exact-identifier search and explanations of decisions."""

from __future__ import annotations

import datetime as dt
from typing import Any

import graphene
from graphql import GraphQLError

from gateway.audit_reports import disclosure_records
from gateway.catalogue import ITEMS, RECORD_SETS_BY_NAME
from gateway.context import RequestContext
from gateway.governance import GovernanceError, GrantReview, person_facts
from gateway.person_index import IndexEntry
from gateway.policy import Consent, ConsentDecision, Grant, decide, relationship
from gateway.protocol import Basis, SharingProtocol
from gateway.requester import Requester
from gateway.usage import usage as usage_figures
from resolvers.scalars import Date

_MIN_REASON = 20


def _error(message: str, code: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code})


async def _require_relationship(context: RequestContext, person_id: str) -> None:
    links = await context.gateway.index.links([person_id])
    if person_id not in links:
        raise _error(f"there is no person {person_id}", "NOT_FOUND")
    facts = person_facts(person_id, links[person_id])
    if relationship(context.requester, facts, context.gateway.settings.protocol) is None:
        raise _error(
            "you need a current involvement with the person to record or withdraw their "
            "consent; ask a practitioner who works with them",
            "FORBIDDEN",
        )


def _require_governance_role(context: RequestContext) -> None:
    roles = context.gateway.settings.protocol.governance_roles
    if not roles & context.requester.roles:
        raise _error(
            f"only information-governance roles ({', '.join(sorted(roles))}) may ask this",
            "FORBIDDEN",
        )


class BasisEnum(graphene.Enum):  # type: ignore[misc]
    """Why an item may be shared."""

    EXPLICIT = "explicit"
    IMPLIED = "implied"
    STATUTORY = "statutory"


class ConsentDecisionEnum(graphene.Enum):  # type: ignore[misc]
    """What the person said: permit sharing, or object to it."""

    PERMIT = "permit"
    DENY = "deny"


class ProtocolClause(graphene.ObjectType):  # type: ignore[misc]
    """A clause of the sharing protocol."""

    id = graphene.ID(required=True)
    title = graphene.String(required=True)
    agencies = graphene.List(graphene.NonNull(graphene.ID), required=True)
    items = graphene.List(graphene.NonNull(graphene.String), required=True)
    category = graphene.String(required=True)
    roles = graphene.List(graphene.NonNull(graphene.String), required=True)
    purposes = graphene.List(graphene.NonNull(graphene.String), required=True)
    basis = graphene.Field(BasisEnum, required=True)
    sealed = graphene.Boolean(
        required=True, description="No one outside the owning agency sees it."
    )
    note = graphene.String(required=True)


class BreakGlassTerms(graphene.ObjectType):  # type: ignore[misc]
    """Who may break glass, and for how long a grant lasts."""

    roles = graphene.List(graphene.NonNull(graphene.String), required=True)
    hours = graphene.Float(required=True)


class SharingProtocolType(graphene.ObjectType):  # type: ignore[misc]
    """The Information Sharing Protocol in force, as data."""

    class Meta:
        name = "SharingProtocol"

    title = graphene.String(required=True)
    version = graphene.String(required=True)
    clauses = graphene.List(graphene.NonNull(ProtocolClause), required=True)
    break_glass = graphene.Field(BreakGlassTerms, required=True)
    governance_roles = graphene.List(graphene.NonNull(graphene.String), required=True)


class IndexEntryType(graphene.ObjectType):  # type: ignore[misc]
    """A person-index entry: enough to confirm identity, with no detail."""

    class Meta:
        name = "IndexEntry"

    person_id = graphene.ID(required=True)
    given_name = graphene.String()
    family_name = graphene.String()
    date_of_birth = Date()
    agencies = graphene.List(
        graphene.NonNull(graphene.ID),
        required=True,
        description="The agencies currently involved with the person, without detail.",
    )


class ConsentRecord(graphene.ObjectType):  # type: ignore[misc]
    """A consent or objection the person gave, as recorded."""

    id = graphene.ID(required=True)
    person_id = graphene.ID(required=True)
    scope_kind = graphene.String(required=True, description="category or item")
    scope = graphene.String(required=True)
    recipient_kind = graphene.String(required=True, description="agency or role")
    recipient = graphene.String(required=True)
    decision = graphene.Field(ConsentDecisionEnum, required=True)
    valid_from = graphene.DateTime(required=True)
    valid_until = graphene.DateTime()
    withdrawn_at = graphene.DateTime()
    recorded_by = graphene.String(required=True)
    reference = graphene.String(
        required=True, description="Where the person's signed form or stated words are kept."
    )


class BreakGlassGrant(graphene.ObjectType):  # type: ignore[misc]
    """Emergency access to one person for one practitioner, for a short time."""

    id = graphene.ID(required=True)
    person_id = graphene.ID(required=True)
    reason = graphene.String(required=True)
    granted_at = graphene.DateTime(required=True)
    expires_at = graphene.DateTime(required=True)
    ended_at = graphene.DateTime()


class BreakGlassReviewType(graphene.ObjectType):  # type: ignore[misc]
    """A break-glass grant as the Caldicott guardian reviews it."""

    class Meta:
        name = "BreakGlassReview"

    grant = graphene.Field(BreakGlassGrant, required=True)
    practitioner = graphene.String(required=True)
    agency = graphene.ID(required=True, description="The practitioner's agency.")
    agencies_notified = graphene.List(
        graphene.NonNull(graphene.ID),
        required=True,
        description="The agencies whose data the grant disclosed; each has been notified.",
    )
    reviewed_at = graphene.DateTime()
    reviewed_by = graphene.String()
    outcome = graphene.String(description="appropriate, inappropriate or needs_follow_up")
    note = graphene.String()


def _review_out(review: GrantReview) -> dict[str, Any]:
    return {
        "grant": _grant_out(review.grant),
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

    by_agency_and_role = graphene.List(graphene.NonNull(UsageFigures), required=True)
    sources = graphene.List(graphene.NonNull(SourceAvailability), required=True)


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
    at = graphene.DateTime(required=True)
    practitioner = graphene.String(required=True)
    requester_agency = graphene.ID(required=True)
    roles = graphene.List(graphene.NonNull(graphene.String), required=True)
    purpose = graphene.String(required=True)
    agencies = graphene.List(graphene.NonNull(AgencyDisclosure), required=True)
    statutory = graphene.Boolean(required=True, description="Something was shared under a duty.")
    break_glass = graphene.ID(description="The break-glass grant relied on, if any.")
    break_glass_reason = graphene.String()


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


class ConsentInput(graphene.InputObjectType):  # type: ignore[misc]
    """A consent or objection to record. Name one scope and one recipient."""

    person_id = graphene.ID(required=True)
    category = graphene.String(description="A protocol category, e.g. health.mental.")
    item = graphene.String(description='A single item, e.g. "conditions.name", or "conditions.*".')
    recipient_agency = graphene.ID(description='An agency id, or "*" for every agency.')
    recipient_role = graphene.String(description="A role, e.g. housing_officer.")
    decision = graphene.Field(ConsentDecisionEnum, required=True)
    valid_from = graphene.DateTime(description="Default: now.")
    valid_until = graphene.DateTime(description="Default: until withdrawn.")
    reference = graphene.String(
        required=True, description="Where the signed form or the person's stated words are kept."
    )


def protocol_as_data(protocol: SharingProtocol) -> dict[str, Any]:
    """The protocol shaped for the SharingProtocol type."""
    return {
        "title": protocol.title,
        "version": protocol.version,
        "clauses": [
            {
                "id": c.id,
                "title": c.title,
                "agencies": sorted(c.agencies),
                "items": sorted(c.items),
                "category": c.category,
                "roles": sorted(c.roles),
                "purposes": sorted(c.purposes),
                "basis": c.basis.value,
                "sealed": c.sealed,
                "note": c.note,
            }
            for c in protocol.clauses
        ],
        "break_glass": {
            "roles": sorted(protocol.break_glass_roles),
            "hours": protocol.break_glass_hours,
        },
        "governance_roles": sorted(protocol.governance_roles),
    }


def _consent_out(consent: Consent) -> dict[str, Any]:
    return {
        "id": consent.id,
        "person_id": consent.person_id,
        "scope_kind": consent.scope_kind,
        "scope": consent.scope,
        "recipient_kind": consent.recipient_kind,
        "recipient": consent.recipient,
        "decision": consent.decision.value,
        "valid_from": consent.valid_from,
        "valid_until": consent.valid_until,
        "withdrawn_at": consent.withdrawn_at,
        "recorded_by": consent.recorded_by,
        "reference": consent.reference,
    }


def _grant_out(grant: Grant) -> dict[str, Any]:
    return {
        "id": grant.id,
        "person_id": grant.person_id,
        "reason": grant.reason,
        "granted_at": grant.granted_at,
        "expires_at": grant.expires_at,
        "ended_at": grant.ended_at,
    }


def _entry_out(entry: IndexEntry) -> dict[str, Any]:
    return {
        "person_id": entry.person_id,
        "given_name": entry.given_name,
        "family_name": entry.family_name,
        "date_of_birth": entry.date_of_birth,
        "agencies": list(entry.agencies),
    }


class GovernanceQuery(graphene.ObjectType):  # type: ignore[misc]
    """Queries about sharing rather than about people's records."""

    sharing_protocol = graphene.Field(
        SharingProtocolType, required=True, description="The sharing protocol in force."
    )
    find_people = graphene.List(
        graphene.NonNull(IndexEntryType),
        required=True,
        nhs_number=graphene.String(),
        surname=graphene.String(),
        date_of_birth=Date(),
        postcode=graphene.String(),
        description=(
            "Find a person by exact identifiers only: an NHS number, or surname, date of "
            "birth and postcode together. Partial details find no one. The answer is the "
            "index entry alone."
        ),
    )
    consents = graphene.List(
        graphene.NonNull(ConsentRecord),
        required=True,
        person_id=graphene.ID(required=True),
        description="The person's consent records (for practitioners involved with them).",
    )
    explain_access = graphene.Field(
        Explanation,
        required=True,
        person_id=graphene.ID(required=True),
        agency=graphene.ID(required=True),
        item=graphene.String(required=True),
        requester=graphene.Argument(RequesterInput, required=True),
        description="Information-governance roles: why this requester can or cannot see this item.",
    )

    break_glass_reviews = graphene.List(
        graphene.NonNull(BreakGlassReviewType),
        required=True,
        pending=graphene.Boolean(default_value=True, description="Only grants not yet reviewed."),
        description="Information-governance roles: break-glass grants to review, newest first.",
    )

    usage = graphene.Field(
        Usage,
        required=True,
        since=graphene.DateTime(),
        until=graphene.DateTime(),
        description="Information-governance roles: usage per agency and role, and availability.",
    )

    disclosures = graphene.List(
        graphene.NonNull(Disclosure),
        required=True,
        person_id=graphene.ID(required=True),
        start=graphene.Argument(graphene.DateTime, name="from"),
        end=graphene.Argument(graphene.DateTime, name="to"),
        description="Information-governance roles: who has seen this person's record.",
    )

    @staticmethod
    async def resolve_disclosures(
        _root: None,
        info: Any,
        person_id: str,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
    ) -> list[dict[str, Any]]:
        """The person's disclosure records, oldest first."""
        context: RequestContext = info.context
        _require_governance_role(context)
        records = await disclosure_records(
            context.gateway.state_engine, person_id=person_id, since=_utc(start), until=_utc(end)
        )
        return [
            {
                "seq": record.seq,
                "at": record.at,
                "practitioner": record.practitioner,
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
                    for agency in sorted(
                        set(record.disclosed) | set(record.withheld) | set(record.outcomes)
                    )
                ],
                "statutory": record.statutory,
                "break_glass": record.break_glass,
                "break_glass_reason": record.break_glass_reason,
            }
            for record in records
        ]

    @staticmethod
    async def resolve_usage(
        _root: None, info: Any, since: dt.datetime | None = None, until: dt.datetime | None = None
    ) -> dict[str, Any]:
        """Figures computed from the audit."""
        context: RequestContext = info.context
        _require_governance_role(context)
        rows, availability = await usage_figures(
            context.gateway.state_engine, _utc(since), _utc(until)
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
        """Grants for the Caldicott guardian."""
        context: RequestContext = info.context
        _require_governance_role(context)
        reviews = await context.gateway.governance.reviews.list(pending_only=pending)
        return [_review_out(review) for review in reviews]

    @staticmethod
    def resolve_sharing_protocol(_root: None, info: Any) -> dict[str, Any]:
        """The protocol as data."""
        return protocol_as_data(info.context.gateway.settings.protocol)

    @staticmethod
    async def resolve_find_people(
        _root: None,
        info: Any,
        nhs_number: str | None = None,
        surname: str | None = None,
        date_of_birth: dt.date | None = None,
        postcode: str | None = None,
    ) -> list[dict[str, Any]]:
        """Exact-identifier search; refuses partial details outright."""
        if nhs_number is None and not (surname and date_of_birth and postcode):
            raise _error(
                "findPeople needs an NHS number, or surname, date of birth and postcode together",
                "BAD_USER_INPUT",
            )
        entries = await info.context.gateway.index.find_exact(
            nhs_number=nhs_number,
            family_name=surname,
            date_of_birth=date_of_birth,
            postcode=postcode,
        )
        return [_entry_out(entry) for entry in entries]

    @staticmethod
    async def resolve_consents(_root: None, info: Any, person_id: str) -> list[dict[str, Any]]:
        """The person's consent records, for someone involved with them."""
        context: RequestContext = info.context
        await _require_relationship(context, person_id)
        found = await context.gateway.governance.consents.for_people([person_id])
        return [_consent_out(c) for c in found.get(person_id, [])]

    @staticmethod
    async def resolve_explain_access(
        _root: None, info: Any, person_id: str, agency: str, item: str, requester: Any
    ) -> dict[str, Any]:
        """Run the policy for the described requester, with today's consents and grants."""
        context: RequestContext = info.context
        _require_governance_role(context)
        gateway = context.gateway
        subject = Requester(
            practitioner=requester.practitioner,
            agency=requester.agency,
            team=requester.team,
            roles=frozenset(requester.roles),
            purpose=requester.purpose,
        )
        links = await gateway.index.links([person_id])
        if person_id not in links:
            raise _error(f"there is no person {person_id}", "NOT_FOUND")
        judge = await gateway.governance.judge(subject, [person_id])
        facts = person_facts(person_id, links[person_id])
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


def _scope(protocol: SharingProtocol, category: str | None, item: str | None) -> tuple[str, str]:
    if (category is None) == (item is None):
        raise _error("name exactly one of category or item", "BAD_USER_INPUT")
    if category is not None:
        known = set(protocol.categories)
        if category not in known and not any(k.startswith(category + ".") for k in known):
            raise _error(
                f"{category!r} is not a protocol category; use one of: {', '.join(sorted(known))}",
                "BAD_USER_INPUT",
            )
        return "category", category
    assert item is not None
    if item not in ITEMS and not (item.endswith(".*") and item[:-2] in RECORD_SETS_BY_NAME):
        raise _error(
            f"{item!r} is not a catalogue item; see `fame-gateway items`", "BAD_USER_INPUT"
        )
    return "item", item


def _recipient(context: RequestContext, agency: str | None, role: str | None) -> tuple[str, str]:
    if (agency is None) == (role is None):
        raise _error("name exactly one of recipientAgency or recipientRole", "BAD_USER_INPUT")
    settings = context.gateway.settings
    if agency is not None:
        if agency != "*" and agency not in {a.id for a in settings.agencies}:
            raise _error(f"{agency!r} is not a registered agency", "BAD_USER_INPUT")
        return "agency", agency
    assert role is not None
    if role not in settings.protocol.roles:
        raise _error(
            f"{role!r} is not a protocol role; use one of: "
            + ", ".join(sorted(settings.protocol.roles)),
            "BAD_USER_INPUT",
        )
    return "role", role


class RecordConsent(graphene.Mutation):  # type: ignore[misc]
    """Record a person's consent or objection; it applies from the very next query."""

    class Arguments:
        input = ConsentInput(required=True)

    Output = ConsentRecord

    @staticmethod
    async def mutate(_root: None, info: Any, input: Any) -> dict[str, Any]:
        """Validate, check the relationship, store."""
        context: RequestContext = info.context
        gateway = context.gateway
        await _require_relationship(context, input.person_id)
        scope_kind, scope = _scope(gateway.settings.protocol, input.category, input.item)
        recipient_kind, recipient = _recipient(
            context, input.recipient_agency, input.recipient_role
        )
        reference = (input.reference or "").strip()
        if not reference:
            raise _error(
                "say where the person's signed form or stated words are kept (reference)",
                "BAD_USER_INPUT",
            )
        now = gateway.governance.clock()
        valid_from = _utc(input.valid_from) or now
        valid_until = _utc(input.valid_until)
        if valid_until is not None and valid_until <= valid_from:
            raise _error("validUntil must be after validFrom", "BAD_USER_INPUT")
        consent = await gateway.governance.consents.record(
            person_id=input.person_id,
            scope_kind=scope_kind,
            scope=scope,
            recipient_kind=recipient_kind,
            recipient=recipient,
            decision=ConsentDecision(getattr(input.decision, "value", input.decision)),
            valid_from=valid_from,
            valid_until=valid_until,
            recorded_by=f"{context.requester.practitioner}@{context.requester.agency}",
            reference=reference,
            now=now,
        )
        return _consent_out(consent)


class WithdrawConsent(graphene.Mutation):  # type: ignore[misc]
    """Withdraw a consent or objection; the very next query no longer relies on it."""

    class Arguments:
        id = graphene.ID(required=True)

    Output = ConsentRecord

    @staticmethod
    async def mutate(_root: None, info: Any, id: str) -> dict[str, Any]:
        """Check the relationship, mark withdrawn."""
        context: RequestContext = info.context
        governance = context.gateway.governance
        existing = await governance.consents.get(id)
        if existing is None:
            raise _error(f"there is no consent record {id}", "NOT_FOUND")
        await _require_relationship(context, existing.person_id)
        try:
            consent = await governance.consents.withdraw(
                id,
                f"{context.requester.practitioner}@{context.requester.agency}",
                governance.clock(),
            )
        except GovernanceError as exc:
            raise _error(str(exc), exc.code) from exc
        return _consent_out(consent)


class BreakGlass(graphene.Mutation):  # type: ignore[misc]
    """Emergency access to one person, with a stated reason, for a short time; loudly audited."""

    class Arguments:
        person_id = graphene.ID(required=True)
        reason = graphene.String(required=True, description=f"At least {_MIN_REASON} characters.")

    Output = BreakGlassGrant

    @staticmethod
    async def mutate(_root: None, info: Any, person_id: str, reason: str) -> dict[str, Any]:
        """Check role and reason, grant."""
        context: RequestContext = info.context
        gateway = context.gateway
        protocol = gateway.settings.protocol
        if not protocol.break_glass_roles & context.requester.roles:
            raise _error(
                "your role may not break glass; the protocol allows: "
                + ", ".join(sorted(protocol.break_glass_roles)),
                "FORBIDDEN",
            )
        stated = " ".join(reason.split())
        if len(stated) < _MIN_REASON:
            raise _error(
                f"state the emergency in at least {_MIN_REASON} characters; it is recorded "
                "and reviewed",
                "BAD_USER_INPUT",
            )
        links = await gateway.index.links([person_id])
        if person_id not in links:
            raise _error(f"there is no person {person_id}", "NOT_FOUND")
        grant = await gateway.governance.grants.grant(
            context.requester,
            person_id,
            stated,
            gateway.governance.clock(),
            protocol.break_glass_hours,
        )
        return _grant_out(grant)


class EndBreakGlass(graphene.Mutation):  # type: ignore[misc]
    """End one's own break-glass grant before it expires."""

    class Arguments:
        id = graphene.ID(required=True)

    Output = BreakGlassGrant

    @staticmethod
    async def mutate(_root: None, info: Any, id: str) -> dict[str, Any]:
        """End the grant now."""
        context: RequestContext = info.context
        governance = context.gateway.governance
        try:
            grant = await governance.grants.end(id, context.requester, governance.clock())
        except GovernanceError as exc:
            raise _error(str(exc), exc.code) from exc
        return _grant_out(grant)


class ReviewBreakGlass(graphene.Mutation):  # type: ignore[misc]
    """Caldicott guardians: record the review of a break-glass grant."""

    class Arguments:
        id = graphene.ID(required=True)
        outcome = graphene.String(
            required=True, description="appropriate, inappropriate or needs_follow_up"
        )
        note = graphene.String(required=True)

    Output = BreakGlassReviewType

    @staticmethod
    async def mutate(_root: None, info: Any, id: str, outcome: str, note: str) -> dict[str, Any]:
        """Check the role, record the review once."""
        context: RequestContext = info.context
        _require_governance_role(context)
        governance = context.gateway.governance
        try:
            review = await governance.reviews.review(
                id,
                f"{context.requester.practitioner}@{context.requester.agency}",
                outcome,
                note,
                governance.clock(),
            )
        except GovernanceError as exc:
            raise _error(str(exc), exc.code) from exc
        return _review_out(review)


class Mutation(graphene.ObjectType):  # type: ignore[misc]
    """Changes to consent and break-glass grants; records are never changed by the gateway."""

    record_consent = RecordConsent.Field()
    withdraw_consent = WithdrawConsent.Field()
    break_glass = BreakGlass.Field()
    end_break_glass = EndBreakGlass.Field()
    review_break_glass = ReviewBreakGlass.Field()


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


__all__ = ["Basis", "GovernanceQuery", "Mutation"]
