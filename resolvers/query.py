"""The root Query: person, caseload, me, agencies."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import graphene
from graphql import GraphQLError

from gateway.core.catalogue import Catalogue
from gateway.pipeline.context import RequestContext
from gateway.pipeline.fanout import PersonView
from gateway.pipeline.planner import plan_people
from resolvers.errors import person_not_available
from resolvers.governance import GovernanceQuery
from resolvers.person import person_type


class Me(graphene.ObjectType):  # type: ignore[misc]
    """The practitioner making the request, as their agency's token says."""

    practitioner = graphene.String(required=True, description="The practitioner's id (token sub).")
    name = graphene.String(description="The practitioner's name, when the token carries it.")
    agency = graphene.ID(required=True, description="The practitioner's agency.")
    team = graphene.String(description="The practitioner's team, when the token carries it.")
    roles = graphene.List(graphene.NonNull(graphene.String), required=True)
    purpose = graphene.String(required=True, description="The purpose of use of this request.")


class AgencyStatus(graphene.ObjectType):  # type: ignore[misc]
    """A registered agency and how its connector is doing."""

    id = graphene.ID(required=True)
    name = graphene.String(required=True)
    kind = graphene.String(required=True, description="The connector kind: sql or http.")
    status = graphene.String(
        required=True,
        description=(
            "ok, degraded, unreachable, misconfigured, circuit_open or unknown: the outcome "
            "of its last call or check, circuit_open while the gateway is not asking it, or "
            "degraded while it answers from an older copy of its source (see detail)."
        ),
    )
    detail = graphene.String(
        description=(
            "Why the agency is degraded, e.g. which export no longer reads and since when; "
            "null otherwise."
        )
    )
    circuit = graphene.String(
        required=True,
        description=(
            "closed (calls pass), open (calls are refused at once after repeated failures) "
            "or half_open (one probe call is let through)."
        ),
    )
    in_flight = graphene.Int(required=True, description="Calls to the agency under way now.")
    waiting = graphene.Int(
        required=True, description="Calls waiting for one of the agency's connection slots."
    )
    max_concurrent_calls = graphene.Int(
        required=True, description="Calls the gateway lets be in flight to the agency at once."
    )
    timeout_seconds = graphene.Float(
        required=True, description="How long one call to the agency may take."
    )
    cache_seconds = graphene.Float(
        required=True,
        description="How long the agency's answers may be kept in memory; 0: never.",
    )
    items = graphene.List(
        graphene.NonNull(graphene.String),
        required=True,
        description="The catalogue items the agency maps.",
    )


def _resolve_me(_root: None, info: Any) -> dict[str, object]:
    """The requester, as validated from the token."""
    requester = info.context.requester
    return {
        "practitioner": requester.practitioner,
        "name": requester.name,
        "agency": requester.agency,
        "team": requester.team,
        "roles": sorted(requester.roles),
        "purpose": requester.purpose,
    }


def _resolve_agencies(_root: None, info: Any) -> list[dict[str, object]]:
    """Every registered agency with its connector's last known state."""
    gateway = info.context.gateway
    shown = []
    for agency in gateway.settings.agencies:
        state = gateway.guards[agency.id].state()
        shown.append(
            {
                "id": agency.id,
                "name": agency.name,
                "kind": agency.kind,
                "status": gateway.agency_status(agency.id),
                "detail": gateway.agency_detail(agency.id),
                "circuit": state.circuit.value,
                "in_flight": state.in_flight,
                "waiting": state.waiting,
                "max_concurrent_calls": agency.resilience.max_concurrent_calls,
                "timeout_seconds": agency.timeout_seconds,
                "cache_seconds": agency.cache_seconds,
                "items": sorted(agency.items),
            }
        )
    return shown


def _person_resolver(catalogue: Catalogue) -> Callable[..., Awaitable[PersonView]]:
    async def resolve_person(_root: None, info: Any, id: str) -> PersonView:
        """Plan the selection, ask each agency once, return the assembled view."""
        context: RequestContext = info.context
        plan = plan_people(info, catalogue)
        assembly = await context.gateway.fanout.assemble(
            context.requester, [id], plan, context.deadline, context.intent
        )
        context.record(tuple(info.path.as_list()), assembly, plan)
        view = assembly.views.get(id)
        if view is None:
            raise person_not_available()
        return view

    return resolve_person


def _caseload_resolver(catalogue: Catalogue) -> Callable[..., Awaitable[list[PersonView]]]:
    async def resolve_caseload(_root: None, info: Any, first: int, offset: int) -> list[PersonView]:
        """All of a caseload in one call per agency, however many people it holds."""
        context: RequestContext = info.context
        limit = context.gateway.settings.limits.max_batch
        if not 0 < first <= limit:
            raise GraphQLError(
                f"first must be from 1 to {limit}; page with offset",
                extensions={"code": "BAD_USER_INPUT"},
            )
        if offset < 0:
            raise GraphQLError("offset cannot be negative", extensions={"code": "BAD_USER_INPUT"})
        requester = context.requester
        visible = context.gateway.settings.protocol.services_of(requester.agency).visible_teams(
            requester.team
        )
        if visible is not None and requester.team is None:
            raise GraphQLError(
                "your agency's relationships are per team, and your token names no team"
            )
        # Only people held by the requester's team, or by services open to it.
        person_ids = await context.gateway.governance.caseload(
            requester.agency, first, offset, visible
        )
        plan = plan_people(info, catalogue)
        assembly = await context.gateway.fanout.assemble(
            requester, person_ids, plan, context.deadline, context.intent
        )
        shown = [p for p in person_ids if p in assembly.views]
        context.record(tuple(info.path.as_list()), assembly, plan, shown)
        return [assembly.views[p] for p in shown]

    return resolve_caseload


def records_query(catalogue: Catalogue) -> type[graphene.ObjectType]:
    """The root fields that ask for people's pictures, with a Person type for ``catalogue``.

    The resolvers plan with the catalogue the Person type was built from, so a plan always
    matches the schema that runs it.
    """
    person = person_type(catalogue)
    attrs: dict[str, Any] = {
        "__doc__": (
            "Ask for people's pictures; every answer is assembled from the agencies at query time."
        ),
        "person": graphene.Field(
            person,
            id=graphene.ID(required=True, description="The gateway's person id."),
            description=(
                "One person, assembled from every agency holding them. A person you have no "
                "current involvement with and no break-glass grant for is answered exactly as "
                "an unknown id is: null, with a NOT_FOUND error."
            ),
            resolver=_person_resolver(catalogue),
        ),
        "caseload": graphene.List(
            graphene.NonNull(person),
            required=True,
            first=graphene.Int(
                required=True, default_value=50, description="How many people, at most."
            ),
            offset=graphene.Int(required=True, default_value=0, description="How many to skip."),
            description="The people your agency holds a record for, each assembled like person.",
            resolver=_caseload_resolver(catalogue),
        ),
        "me": graphene.Field(
            Me, required=True, description="Who you are to the gateway.", resolver=_resolve_me
        ),
        "agencies": graphene.List(
            graphene.NonNull(AgencyStatus),
            required=True,
            description="The registered agencies and their connectors' state.",
            resolver=_resolve_agencies,
        ),
    }
    return type("RecordsQuery", (GovernanceQuery,), attrs)
