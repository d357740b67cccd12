"""The person index in the client view: index administrators link, unlink and review.

Only the roles the protocol names under ``[governance] index_roles`` may ask any of
this, each for their own agency's records (``gateway.governance.index_admin``). Every
change is recorded with its method, score, who and when, and chained in the disclosure
audit as an ``index`` record before the answer leaves.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import graphene

from gateway.core.errors import GovernanceError
from gateway.governance.index_admin import IndexAdministrator, index_administrator
from gateway.governance.linkage import Linkage, LinkEvent
from gateway.governance.linkage_reviews import STATUSES, ReviewItem
from gateway.pipeline.context import RequestContext
from resolvers.errors import from_governance, governance_error
from resolvers.scalars import Date, DateTime


def _administrator(context: RequestContext) -> IndexAdministrator:
    protocol = context.gateway.settings.protocol
    found = index_administrator(context.requester, protocol)
    if found is None:
        roles = ", ".join(sorted(protocol.index_roles)) or "none are named in the protocol"
        raise governance_error(
            f"only index administrators ({roles}) may change or review the person index; "
            "ask your agency's index administrator",
            "FORBIDDEN",
        )
    return found


def _may_change(who: IndexAdministrator, agency_id: str) -> None:
    problem = who.may_change(agency_id)
    if problem is not None:
        raise governance_error(problem, "FORBIDDEN")


def _linkage(context: RequestContext) -> Linkage:
    gateway = context.gateway
    return Linkage(gateway.index.state, gateway.governance.clock)


def _changed(context: RequestContext, events: Sequence[LinkEvent]) -> dict[str, Any]:
    # Audited with the request: the answer leaves only once these records are chained.
    context.index_events.extend(events)
    first = events[0]
    return {
        "action": first.action,
        "person_id": first.person_id,
        "agency": first.agency_id,
        "local_id": first.local_id,
        "teams": [event.team for event in events if event.team is not None],
        "method": first.method,
        "score": first.score,
        "by": first.actor,
        "review_id": first.review_id,
    }


class IndexChange(graphene.ObjectType):  # type: ignore[misc]
    """A change made to the person index."""

    action = graphene.String(
        required=True, description="link, unlink, review_accepted or review_rejected"
    )
    person_id = graphene.ID(required=True)
    agency = graphene.ID(required=True)
    local_id = graphene.String(required=True, description="The agency's own id of the record.")
    teams = graphene.List(graphene.NonNull(graphene.String), required=True)
    method = graphene.String(
        required=True, description="deterministic, probabilistic, manual, or new (a new person)"
    )
    score = graphene.Float(description="The matching score, when a score decided.")
    by = graphene.String(required=True, description="Who made the change (practitioner@agency).")
    review_id = graphene.ID(description="The review decided, for a review decision.")


class IndexReview(graphene.ObjectType):  # type: ignore[misc]
    """An agency's record whose best match was uncertain, waiting for (or given) a decision."""

    id = graphene.ID(required=True)
    agency = graphene.ID(required=True)
    local_id = graphene.String(required=True)
    team = graphene.String()
    given_name = graphene.String()
    family_name = graphene.String()
    date_of_birth = Date()
    postcodes = graphene.List(graphene.NonNull(graphene.String), required=True)
    nhs_number = graphene.String(description="The record's NHS number, when valid.")
    candidate_person_id = graphene.ID(required=True)
    score = graphene.Float(required=True)
    explanation = graphene.String(required=True, description="How each field compared.")
    status = graphene.String(required=True, description="pending, accepted, rejected, superseded")
    created_at = DateTime(required=True)
    created_by = graphene.String(required=True)
    decided_at = DateTime()
    decided_by = graphene.String()
    decided_person_id = graphene.ID()


def _review_out(item: ReviewItem) -> dict[str, Any]:
    record = item.record
    return {
        "id": item.id,
        "agency": record.agency_id,
        "local_id": record.local_id,
        "team": record.team,
        "given_name": record.given_name,
        "family_name": record.family_name,
        "date_of_birth": record.date_of_birth,
        "postcodes": list(record.postcodes),
        "nhs_number": record.nhs_valid,
        "candidate_person_id": item.candidate_person_id,
        "score": item.score,
        "explanation": item.explanation,
        "status": item.status,
        "created_at": item.created_at,
        "created_by": item.created_by,
        "decided_at": item.decided_at,
        "decided_by": item.decided_by,
        "decided_person_id": item.decided_person_id,
    }


class PersonIndexQuery(graphene.ObjectType):  # type: ignore[misc]
    """The review queue, for index administrators."""

    person_index_reviews = graphene.List(
        graphene.NonNull(IndexReview),
        required=True,
        status=graphene.String(
            default_value="pending", description=f"One of: {', '.join(STATUSES)}."
        ),
        description="Index administrators: your agency's records whose match is uncertain, "
        "oldest first.",
    )

    @staticmethod
    async def resolve_person_index_reviews(
        _root: None, info: Any, status: str
    ) -> list[dict[str, Any]]:
        """The queue, as far as the administrator's agency goes."""
        context: RequestContext = info.context
        who = _administrator(context)
        try:
            items = await _linkage(context).reviews(status)
        except GovernanceError as exc:
            raise from_governance(exc) from exc
        return [_review_out(item) for item in items if item.record.agency_id == who.agency]


class LinkPerson(graphene.Mutation):  # type: ignore[misc]
    """Index administrators: link one of your agency's records to a person."""

    class Arguments:
        person_id = graphene.ID(required=True)
        agency = graphene.ID(required=True)
        local_id = graphene.String(required=True, description="The agency's own id of the record.")
        team = graphene.String(description="The team holding the record.")
        note = graphene.String(description="Why; kept in the link history.")

    Output = IndexChange

    @staticmethod
    async def mutate(
        _root: None,
        info: Any,
        person_id: str,
        agency: str,
        local_id: str,
        team: str | None = None,
        note: str | None = None,
    ) -> dict[str, Any]:
        """Check the role and agency, link, audit."""
        context: RequestContext = info.context
        who = _administrator(context)
        _may_change(who, agency)
        try:
            event = await _linkage(context).link(person_id, agency, local_id, who.key, team, note)
        except GovernanceError as exc:
            raise from_governance(exc) from exc
        return _changed(context, [event])


class UnlinkPerson(graphene.Mutation):  # type: ignore[misc]
    """Index administrators: remove the link of one of your agency's records to a person."""

    class Arguments:
        person_id = graphene.ID(required=True)
        agency = graphene.ID(required=True)
        local_id = graphene.String(required=True)
        reason = graphene.String(required=True, description="Why; kept in the link history.")

    Output = IndexChange

    @staticmethod
    async def mutate(
        _root: None, info: Any, person_id: str, agency: str, local_id: str, reason: str
    ) -> dict[str, Any]:
        """Check the role and agency, unlink, audit."""
        context: RequestContext = info.context
        who = _administrator(context)
        _may_change(who, agency)
        if not reason.strip():
            raise governance_error("say why the link is removed (reason)", "BAD_USER_INPUT")
        try:
            events = await _linkage(context).unlink(
                person_id, agency, local_id, who.key, reason.strip()
            )
        except GovernanceError as exc:
            raise from_governance(exc) from exc
        return _changed(context, events)


async def _decide(info: Any, review_id: str, note: str | None, accept: bool) -> dict[str, Any]:
    context: RequestContext = info.context
    who = _administrator(context)
    linkage = _linkage(context)
    try:
        items = {item.id: item for item in await linkage.reviews("all")}
        item = items.get(review_id)
        if item is None or item.record.agency_id != who.agency:
            # Another agency's review answers as one that does not exist.
            raise governance_error(
                f"no review {review_id} of your agency's records; list them with "
                "personIndexReviews",
                "NOT_FOUND",
            )
        decide = linkage.accept if accept else linkage.reject
        event = await decide(review_id, who.key, note)
    except GovernanceError as exc:
        raise from_governance(exc) from exc
    return _changed(context, [event])


class AcceptPersonIndexReview(graphene.Mutation):  # type: ignore[misc]
    """Index administrators: the record is its candidate; link them."""

    class Arguments:
        id = graphene.ID(required=True)
        note = graphene.String()

    Output = IndexChange

    @staticmethod
    async def mutate(_root: None, info: Any, id: str, note: str | None = None) -> dict[str, Any]:
        """Link the record to the candidate."""
        return await _decide(info, id, note, accept=True)


class RejectPersonIndexReview(graphene.Mutation):  # type: ignore[misc]
    """Index administrators: the record is not its candidate; it becomes a new person."""

    class Arguments:
        id = graphene.ID(required=True)
        note = graphene.String()

    Output = IndexChange

    @staticmethod
    async def mutate(_root: None, info: Any, id: str, note: str | None = None) -> dict[str, Any]:
        """Make the record a new person."""
        return await _decide(info, id, note, accept=False)


class PersonIndexMutation(graphene.ObjectType):  # type: ignore[misc]
    """What index administrators do to the person index."""

    link_person = LinkPerson.Field()
    unlink_person = UnlinkPerson.Field()
    accept_person_index_review = AcceptPersonIndexReview.Field()
    reject_person_index_review = RejectPersonIndexReview.Field()
