"""GraphQL types of agency records, built from the catalogue so schema and plan agree."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import graphene

from gateway.core.catalogue import RECORD_SETS, SECTIONS, RecordSetSpec, ValueKind
from gateway.pipeline.execution import source_only
from gateway.pipeline.fanout import PersonView
from resolvers.scalars import Date

_SCALARS: Mapping[ValueKind, Any] = {
    ValueKind.STRING: graphene.String,
    ValueKind.DATE: Date,
    ValueKind.INT: graphene.Int,
    ValueKind.FLOAT: graphene.Float,
    ValueKind.BOOLEAN: graphene.Boolean,
}


class AgencyRef(graphene.ObjectType):  # type: ignore[misc]
    """The agency an item came from."""

    id = graphene.ID(required=True, description="The agency's id, as registered with the gateway.")
    name = graphene.String(required=True, description="The agency's name.")


def _record_type(rs: RecordSetSpec) -> type[graphene.ObjectType]:
    attrs: dict[str, Any] = {
        "Meta": type(
            "Meta",
            (),
            {"name": rs.type_name, "description": f"{rs.description} Held by {rs.owner}."},
        ),
        "agency": graphene.Field(
            AgencyRef, required=True, description="The agency this record came from."
        ),
    }
    for item in rs.items:
        attrs[item.field] = _SCALARS[item.kind](
            description=f"{item.description} Owned by {rs.owner}. Null when withheld or unknown."
        )
    return type(rs.type_name, (graphene.ObjectType,), attrs)


RECORD_TYPES: Mapping[str, type[graphene.ObjectType]] = {
    rs.name: _record_type(rs) for rs in RECORD_SETS
}


def rows_resolver(record_set: str) -> Callable[..., object]:
    """A synchronous resolver reading a record set from the already assembled view."""

    def resolve(view: PersonView, _info: Any) -> object:
        return view.rows(record_set)

    return source_only(resolve)


def record_list_field(rs: RecordSetSpec) -> graphene.List:
    """A nullable list of one record set's records, from every agency holding them."""
    return graphene.List(
        graphene.NonNull(RECORD_TYPES[rs.name]),
        description=(
            f"{rs.description} From {rs.owner}; each record names its agency. "
            "Null when the agencies that hold it could not be reached."
        ),
        resolver=rows_resolver(rs.name),
    )


def _section_type(section: str) -> type[graphene.ObjectType]:
    type_name, description = SECTIONS[section]
    attrs: dict[str, Any] = {
        "Meta": type("Meta", (), {"name": type_name, "description": description})
    }
    for rs in RECORD_SETS:
        if rs.section == section:
            attrs[rs.graphql_field] = record_list_field(rs)
    return type(type_name, (graphene.ObjectType,), attrs)


SECTION_TYPES: Mapping[str, type[graphene.ObjectType]] = {
    section: _section_type(section) for section in SECTIONS
}
