"""Consent in the client view: a person's consents and objections, recorded and withdrawn
by practitioners involved with them, each citing evidence of a form the protocol names."""

from __future__ import annotations

from typing import Any

import graphene

from gateway.config.protocol import ConsentForm, SharingProtocol
from gateway.core.errors import GovernanceError
from gateway.decide.policy import Consent, ConsentDecision, relationship
from gateway.governance.consents import ConsentEvidence
from gateway.governance.person_index import person_facts
from gateway.pipeline.context import RequestContext
from resolvers.errors import from_governance, governance_error, person_not_available, utc
from resolvers.scalars import DateTime

#: The answer for a consent id that is unknown or about a person not available to you.
CONSENT_NOT_AVAILABLE = (
    "no consent record with this id is available to you: there is none, or it is about a "
    "person you have no current involvement with"
)


async def related_to(context: RequestContext, person_id: str) -> bool:
    """Whether the requester has a current relationship with the person (the policy's test,
    on the person index as it is now); False for an unknown id."""
    links = await context.gateway.index.links([person_id])
    facts = person_facts(person_id, links.get(person_id, {}))
    return relationship(context.requester, facts, context.gateway.settings.protocol) is not None


async def require_relationship(context: RequestContext, person_id: str) -> None:
    """Refuse, as for an unknown id, a person the requester has no relationship with."""
    if not await related_to(context, person_id):
        raise person_not_available()


class ConsentDecisionEnum(graphene.Enum):  # type: ignore[misc]
    """What the person said: permit sharing, or object to it."""

    PERMIT = "permit"
    DENY = "deny"


class ConsentRecord(graphene.ObjectType):  # type: ignore[misc]
    """A consent or objection the person gave, as recorded."""

    id = graphene.ID(required=True)
    person_id = graphene.ID(required=True)
    scope_kind = graphene.String(required=True, description="category or item")
    scope = graphene.String(required=True)
    recipient_kind = graphene.String(required=True, description="agency or role")
    recipient = graphene.String(required=True)
    decision = graphene.Field(ConsentDecisionEnum, required=True)
    valid_from = DateTime(required=True)
    valid_until = DateTime()
    withdrawn_at = DateTime()
    recorded_by = graphene.String(required=True)
    reference = graphene.String(
        required=True, description="Where the person's signed form or stated words are kept."
    )
    reference_form = graphene.String(
        description="The protocol's consent form the reference cites (see sharingProtocol)."
    )
    withdrawn_by = graphene.String()
    withdrawn_reference = graphene.String(
        description="The evidence cited for the withdrawal (the person's own words, for an "
        "objection)."
    )


class ConsentInput(graphene.InputObjectType):  # type: ignore[misc]
    """A consent or objection to record. Name one scope and one recipient."""

    person_id = graphene.ID(required=True)
    category = graphene.String(description="A protocol category, e.g. health.mental.")
    item = graphene.String(description='A single item, e.g. "conditions.name", or "conditions.*".')
    recipient_agency = graphene.ID(description='An agency id, or "*" for every agency.')
    recipient_role = graphene.String(description="A role, e.g. housing_officer.")
    decision = graphene.Field(ConsentDecisionEnum, required=True)
    valid_from = DateTime(description="Default: now.")
    valid_until = DateTime(description="Default: until withdrawn.")
    reference = graphene.String(
        required=True,
        description="The evidence: an identifier of one of the protocol's consent forms "
        "(a signed form's number, the dated note of the person's words, ...).",
    )


def consent_out(consent: Consent, evidence: ConsentEvidence | None) -> dict[str, Any]:
    """A consent record shaped for the ConsentRecord type."""
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
        "reference_form": evidence.form if evidence else None,
        "withdrawn_by": evidence.withdrawn_by if evidence else None,
        "withdrawn_reference": evidence.withdrawn_reference if evidence else None,
    }


def cited_form(
    protocol: SharingProtocol, reference: str, *, own_words: bool = False
) -> ConsentForm:
    """The protocol form (of the person's own words, when ``own_words``) whose identifier
    ``reference`` contains; the refusal lists the forms that would do."""
    forms = [f for f in protocol.consent_forms.values() if f.own_words or not own_words]
    for form in forms:
        if form.matches(reference):
            return form
    listed = "; ".join(
        f"{f.name}: {f.description} (an identifier matching {f.pattern})" for f in forms
    )
    if own_words:
        raise governance_error(
            "lifting an objection needs the person's own words: cite in the reference an "
            f"identifier of one of these forms: {listed}",
            "BAD_USER_INPUT",
        )
    raise governance_error(
        f"the reference must cite the evidence by an identifier of one of these forms: {listed}",
        "BAD_USER_INPUT",
    )


def _scope(protocol: SharingProtocol, category: str | None, item: str | None) -> tuple[str, str]:
    if (category is None) == (item is None):
        raise governance_error("name exactly one of category or item", "BAD_USER_INPUT")
    if category is not None:
        known = set(protocol.categories)
        if category not in known and not any(k.startswith(category + ".") for k in known):
            raise governance_error(
                f"{category!r} is not a protocol category; use one of: {', '.join(sorted(known))}",
                "BAD_USER_INPUT",
            )
        return "category", category
    assert item is not None
    catalogue = protocol.catalogue
    if item not in catalogue.items and not (
        item.endswith(".*") and item[:-2] in catalogue.record_sets_by_name
    ):
        raise governance_error(
            f"{item!r} is not a catalogue item; see `fame-gateway items`", "BAD_USER_INPUT"
        )
    return "item", item


def _recipient(context: RequestContext, agency: str | None, role: str | None) -> tuple[str, str]:
    if (agency is None) == (role is None):
        raise governance_error(
            "name exactly one of recipientAgency or recipientRole", "BAD_USER_INPUT"
        )
    settings = context.gateway.settings
    if agency is not None:
        if agency != "*" and agency not in {a.id for a in settings.agencies}:
            raise governance_error(f"{agency!r} is not a registered agency", "BAD_USER_INPUT")
        return "agency", agency
    assert role is not None
    if role not in settings.protocol.roles:
        raise governance_error(
            f"{role!r} is not a protocol role; use one of: "
            + ", ".join(sorted(settings.protocol.roles)),
            "BAD_USER_INPUT",
        )
    return "role", role


class ConsentQuery(graphene.ObjectType):  # type: ignore[misc]
    """The person's consent records."""

    consents = graphene.List(
        graphene.NonNull(ConsentRecord),
        required=True,
        person_id=graphene.ID(required=True),
        description="The person's consent records (for practitioners involved with them).",
    )

    @staticmethod
    async def resolve_consents(_root: None, info: Any, person_id: str) -> list[dict[str, Any]]:
        """The person's consent records, for someone involved with them."""
        context: RequestContext = info.context
        await require_relationship(context, person_id)
        consents = context.gateway.governance.consents
        found = (await consents.for_people([person_id])).get(person_id, [])
        evidence = await consents.evidence(c.id for c in found)
        return [consent_out(c, evidence.get(c.id)) for c in found]


class RecordConsent(graphene.Mutation):  # type: ignore[misc]
    """Record a person's consent or objection; it applies from the very next query."""

    class Arguments:
        input = ConsentInput(required=True)

    Output = ConsentRecord

    @staticmethod
    async def mutate(_root: None, info: Any, input: Any) -> dict[str, Any]:
        """Validate, check the relationship and the evidence, store."""
        context: RequestContext = info.context
        gateway = context.gateway
        protocol = gateway.settings.protocol
        await require_relationship(context, input.person_id)
        scope_kind, scope = _scope(protocol, input.category, input.item)
        recipient_kind, recipient = _recipient(
            context, input.recipient_agency, input.recipient_role
        )
        reference = " ".join((input.reference or "").split())
        form = cited_form(protocol, reference)
        now = gateway.governance.clock()
        valid_from = utc(input.valid_from) or now
        valid_until = utc(input.valid_until)
        if valid_until is not None and valid_until <= valid_from:
            raise governance_error("validUntil must be after validFrom", "BAD_USER_INPUT")
        consents = gateway.governance.consents
        consent = await consents.record(
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
            reference_form=form.name,
            now=now,
        )
        return consent_out(consent, (await consents.evidence([consent.id])).get(consent.id))


class WithdrawConsent(graphene.Mutation):  # type: ignore[misc]
    """Withdraw a consent or objection; the very next query no longer relies on it.

    Lifting an objection opens the person's records again, so it needs evidence in
    the person's own words; withdrawing a consent only narrows sharing.
    """

    class Arguments:
        id = graphene.ID(required=True)
        reference = graphene.String(
            description="The evidence for the withdrawal; for an objection, an identifier "
            "of a consent form recording the person's own words."
        )

    Output = ConsentRecord

    @staticmethod
    async def mutate(
        _root: None, info: Any, id: str, reference: str | None = None
    ) -> dict[str, Any]:
        """Check the relationship and the evidence, mark withdrawn."""
        context: RequestContext = info.context
        governance = context.gateway.governance
        protocol = context.gateway.settings.protocol
        existing = await governance.consents.get(id)
        # An unknown record and one about a person the requester is not involved with are
        # refused alike: consent ids are no index of whose records exist.
        if existing is None or not await related_to(context, existing.person_id):
            raise governance_error(CONSENT_NOT_AVAILABLE, "NOT_FOUND")
        cited = " ".join((reference or "").split()) or None
        objection = existing.decision is ConsentDecision.DENY
        if objection or cited is not None:
            cited_form(protocol, cited or "", own_words=objection)
        try:
            consent = await governance.consents.withdraw(
                id,
                f"{context.requester.practitioner}@{context.requester.agency}",
                governance.clock(),
                cited,
            )
        except GovernanceError as exc:
            raise from_governance(exc) from exc
        evidence = await governance.consents.evidence([consent.id])
        return consent_out(consent, evidence.get(consent.id))


class ConsentMutation(graphene.ObjectType):  # type: ignore[misc]
    """Recording and withdrawing consent."""

    record_consent = RecordConsent.Field()
    withdraw_consent = WithdrawConsent.Field()
