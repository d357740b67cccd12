"""The Person type: one person's picture, assembled from every agency holding them."""

from __future__ import annotations

from typing import Any

import graphene

from gateway.core.catalogue import Catalogue
from gateway.pipeline.execution import source_only
from gateway.pipeline.fanout import AgencyRef as AgencyRefValue
from gateway.pipeline.fanout import PersonView
from resolvers.records import AgencyRef, catalogue_types


def _resolve_known_to(view: PersonView, info: Any) -> list[AgencyRefValue]:
    # Which agencies know the person is index information: the audit records it as a lookup.
    info.context.looked_up((view.id,))
    return [info.context.gateway.agency_ref(agency_id) for agency_id in view.agencies]


@source_only
def _resolve_section(view: PersonView, _info: Any) -> PersonView:
    return view


@source_only
def _resolve_demographics(view: PersonView, _info: Any) -> object:
    return view.demographics


def person_type(catalogue: Catalogue) -> type[graphene.ObjectType]:
    """A new Person type for ``catalogue``: its record sets without a section as fields,
    and one field per section."""
    types = catalogue_types(catalogue)
    attrs: dict[str, Any] = {
        "Meta": type(
            "Meta",
            (),
            {
                "name": "Person",
                "description": (
                    "One person's picture, assembled at query time from each agency holding "
                    "them. Every agency-sourced field is nullable: a withheld item or an agency "
                    "that failed nulls only its own part."
                ),
            },
        ),
        "id": graphene.ID(required=True, description="The gateway's person id."),
        "known_to": graphene.List(
            graphene.NonNull(AgencyRef),
            required=True,
            description="The registered agencies whose records are linked to this person.",
            resolver=_resolve_known_to,
        ),
        "demographics": graphene.Field(
            types.records["demographics"],
            description=(
                "Who the person is, from the most authoritative agency holding them "
                "(the GP practice where registered)."
            ),
            resolver=_resolve_demographics,
        ),
    }
    for rs in catalogue.in_section(None):
        if rs.name == "demographics":
            continue  # one record, from the agency ranked first, not a list
        attrs[rs.graphql_field] = types.record_field(rs)
    for section in catalogue.sections:
        attrs[section.graphql_field] = graphene.Field(
            types.sections[section.name],
            description=section.description,
            resolver=_resolve_section,
        )
    return type("Person", (graphene.ObjectType,), attrs)
