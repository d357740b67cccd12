"""Grants in the client view: break-glass for an emergency, and safeguarding established by
recording the enquiry or referral it serves. Each carries a reason a guardian can review."""

from __future__ import annotations

from typing import Any

import graphene

from gateway.config.protocol import Establishment, Purpose
from gateway.core.errors import GovernanceError
from gateway.decide.policy import SAFEGUARDING
from gateway.governance.grants import GrantReview
from gateway.governance.reasons import MIN_LENGTH, meaningful
from gateway.pipeline.context import RequestContext
from resolvers.consent import related_to
from resolvers.errors import from_governance, governance_error
from resolvers.scalars import DateTime


class GrantType(graphene.ObjectType):  # type: ignore[misc]
    """Time-limited access to one person for one practitioner, establishing a purpose:
    ``emergency`` (break-glass, standing in for a relationship) or ``safeguarding``
    (a recorded enquiry or referral, alongside a relationship)."""

    class Meta:
        name = "Grant"

    id = graphene.ID(required=True)
    person_id = graphene.ID(required=True)
    purpose = graphene.String(required=True, description="emergency or safeguarding")
    reason_category = graphene.String(
        description="Break-glass: the protocol's reason category chosen."
    )
    reference = graphene.String(
        description="Safeguarding: the enquiry or referral reference the grant serves."
    )
    reason = graphene.String(required=True)
    granted_at = DateTime(required=True)
    expires_at = DateTime(required=True)
    ended_at = DateTime()
    ended_by = graphene.String(
        description="Who ended it early: its holder, or a guardian (practitioner@agency)."
    )
    end_reason = graphene.String()


def grant_out(review: GrantReview) -> dict[str, Any]:
    """A grant shaped for the Grant type."""
    grant = review.grant
    return {
        "id": grant.id,
        "person_id": grant.person_id,
        "purpose": grant.purpose,
        "reason_category": review.reason_category,
        "reference": review.reference,
        "reason": grant.reason,
        "granted_at": grant.granted_at,
        "expires_at": grant.expires_at,
        "ended_at": grant.ended_at,
        "ended_by": review.ended_by,
        "end_reason": review.end_reason,
    }


async def _stored(context: RequestContext, grant_id: str) -> dict[str, Any]:
    review = await context.gateway.governance.reviews.get(grant_id)
    assert review is not None
    return grant_out(review)


async def _reason(context: RequestContext, reason: str) -> str:
    stated = " ".join(reason.split())
    previous = await context.gateway.governance.grants.last_reason(context.requester)
    problem = meaningful(stated, previous)
    if problem is not None:
        raise governance_error(problem, "BAD_USER_INPUT")
    return stated


def _reason_argument() -> graphene.String:
    return graphene.String(
        required=True,
        description=f"What is happening, in your own words (at least {MIN_LENGTH} "
        "characters, not the same as your last grant's).",
    )


class BreakGlass(graphene.Mutation):  # type: ignore[misc]
    """Emergency access to one person, with a stated reason, for a short time; loudly audited."""

    class Arguments:
        person_id = graphene.ID(required=True)
        reason_category = graphene.String(
            required=True, description="One of the protocol's break-glass reason categories."
        )
        reason = _reason_argument()

    Output = GrantType

    @staticmethod
    async def mutate(
        _root: None, info: Any, person_id: str, reason_category: str, reason: str
    ) -> dict[str, Any]:
        """Check role, reason category and reason, grant."""
        context: RequestContext = info.context
        gateway = context.gateway
        protocol = gateway.settings.protocol
        if not protocol.break_glass_roles & context.requester.roles:
            raise governance_error(
                "your role may not break glass; the protocol allows: "
                + ", ".join(sorted(protocol.break_glass_roles)),
                "FORBIDDEN",
            )
        if reason_category not in protocol.break_glass_reasons:
            raise governance_error(
                f"{reason_category!r} is not a break-glass reason category; choose one of: "
                + "; ".join(
                    f"{name} ({description})"
                    for name, description in protocol.break_glass_reasons.items()
                ),
                "BAD_USER_INPUT",
            )
        stated = await _reason(context, reason)
        # No look-up of the id first: answering "no such person" would tell anyone who
        # may break glass which ids exist, without a grant to review. A grant on an id
        # the index does not hold opens nothing, and is reviewed like any other.
        grant = await gateway.governance.grants.grant(
            context.requester,
            person_id,
            stated,
            gateway.governance.clock(),
            protocol.break_glass_hours,
            reason_category=reason_category,
        )
        return await _stored(context, grant.id)


def _safeguarding(context: RequestContext) -> Purpose:
    purpose = context.gateway.settings.protocol.purposes.get(SAFEGUARDING)
    if purpose is None or purpose.established is not Establishment.REASONED:
        raise governance_error(
            "the sharing protocol does not let safeguarding be claimed by a recorded reason",
            "FORBIDDEN",
        )
    if not purpose.roles & context.requester.roles:
        raise governance_error(
            "your role may not claim safeguarding; the protocol allows: "
            + ", ".join(sorted(purpose.roles)),
            "FORBIDDEN",
        )
    return purpose


class ClaimSafeguarding(graphene.Mutation):  # type: ignore[misc]
    """Establish safeguarding as the purpose of your queries about one person, by recording
    the enquiry or referral it serves and what is happening; time-limited and reviewed."""

    class Arguments:
        person_id = graphene.ID(required=True)
        reference = graphene.String(
            required=True, description="The safeguarding enquiry or referral reference."
        )
        reason = _reason_argument()

    Output = GrantType

    @staticmethod
    async def mutate(
        _root: None, info: Any, person_id: str, reference: str, reason: str
    ) -> dict[str, Any]:
        """Check role, reference, reason and relationship, grant."""
        context: RequestContext = info.context
        gateway = context.gateway
        purpose = _safeguarding(context)
        if not purpose.reference_ok(reference):
            raise governance_error(
                f"the reference {reference.strip()!r} is not a safeguarding enquiry or referral "
                f"reference; give {purpose.reference_hint}",
                "BAD_USER_INPUT",
            )
        stated = await _reason(context, reason)
        # An unknown person and one the requester has no relationship with answer alike.
        if not await related_to(context, person_id):
            raise governance_error(
                "safeguarding is claimed by a practitioner with a current involvement with the "
                "person; ask a practitioner who works with them, or break glass if it cannot wait",
                "FORBIDDEN",
            )
        grant = await gateway.governance.grants.grant(
            context.requester,
            person_id,
            stated,
            gateway.governance.clock(),
            purpose.hours,
            SAFEGUARDING,
            reference=reference.strip(),
        )
        return await _stored(context, grant.id)


class EndBreakGlass(graphene.Mutation):  # type: ignore[misc]
    """End one's own grant (break-glass or safeguarding) before it expires."""

    class Arguments:
        id = graphene.ID(required=True)

    Output = GrantType

    @staticmethod
    async def mutate(_root: None, info: Any, id: str) -> dict[str, Any]:
        """End the grant now."""
        context: RequestContext = info.context
        governance = context.gateway.governance
        try:
            grant = await governance.grants.end(id, context.requester, governance.clock())
        except GovernanceError as exc:
            raise from_governance(exc) from exc
        return await _stored(context, grant.id)


class GrantMutation(graphene.ObjectType):  # type: ignore[misc]
    """Establishing and ending one's own grants."""

    break_glass = BreakGlass.Field()
    claim_safeguarding = ClaimSafeguarding.Field()
    end_break_glass = EndBreakGlass.Field()
