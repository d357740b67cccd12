"""GraphQL types of agency records, built from the catalogue so schema and plan agree."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import graphene

from connectors.base import DateRange, Row
from gateway.core.catalogue import Catalogue, RecordSetSpec, SectionSpec, ValueKind
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
        # The attribute is the row's key; the name is the catalogue's GraphQL spelling,
        # which the planner reads the selection by.
        attrs[item.field] = _SCALARS[item.kind](
            name=item.graphql_name,
            description=f"{item.description} Owned by {rs.owner}. Null when withheld or unknown.",
        )
    return type(rs.type_name, (graphene.ObjectType,), attrs)


def rows_resolver(record_set: str) -> Callable[..., object]:
    """A synchronous resolver reading a record set from the already assembled view."""

    def resolve(view: PersonView, _info: Any) -> object:
        return view.rows(record_set)

    return source_only(resolve)


def dated_rows_resolver(rs: RecordSetSpec) -> Callable[..., object]:
    """A resolver of a dated record set: its rows in date order, cut to the arguments'
    date range and agencies (the plan fetched the range covering every alias)."""
    assert rs.date_field is not None
    date_field = rs.date_field

    def resolve(
        view: PersonView,
        _info: Any,
        start: dt.date | None = None,
        end: dt.date | None = None,
        agencies: list[str] | None = None,
    ) -> list[Row] | None:
        rows = view.rows(rs.name)
        if rows is None:
            return None
        bounds = DateRange(start, end)
        wanted = set(agencies) if agencies is not None else None
        selected = [
            row
            for row in rows
            if (wanted is None or row["agency"].id in wanted)  # type: ignore[attr-defined]
            and (bounds.open or bounds.contains(row.get(date_field)))
        ]
        selected.sort(key=lambda row: str(row.get(date_field) or ""))
        return selected

    return source_only(resolve)


@dataclass(frozen=True)
class CatalogueTypes:
    """The GraphQL types one catalogue gives: a record type per record set, an object
    type per section (its record sets as fields)."""

    records: Mapping[str, type[graphene.ObjectType]]
    sections: Mapping[str, type[graphene.ObjectType]]

    def record_field(self, rs: RecordSetSpec) -> graphene.List:
        """A nullable list of one record set's records, from every agency holding them;
        a dated record set takes a date range and agencies to filter by."""
        of = graphene.NonNull(self.records[rs.name])
        if rs.date_field is None:
            return graphene.List(
                of,
                description=(
                    f"{rs.description} From {rs.owner}; each record names its agency. "
                    "Null when the agencies that hold it could not be reached."
                ),
                resolver=rows_resolver(rs.name),
            )
        return graphene.List(
            of,
            description=(
                f"{rs.description} Chronological, from every involved agency; "
                "filter by date range and agency."
            ),
            start=graphene.Argument(Date, name="from", description="Earliest date, inclusive."),
            end=graphene.Argument(Date, name="to", description="Latest date, inclusive."),
            agencies=graphene.Argument(
                graphene.List(graphene.NonNull(graphene.ID)),
                description="Only these agencies' events (agency ids).",
            ),
            resolver=dated_rows_resolver(rs),
        )


def catalogue_types(catalogue: Catalogue) -> CatalogueTypes:
    """New graphene types for ``catalogue`` (each schema gets its own classes)."""
    records = {rs.name: _record_type(rs) for rs in catalogue.record_sets}
    types = CatalogueTypes(records=records, sections={})
    sections = {
        section.name: _section_type(section, catalogue, types) for section in catalogue.sections
    }
    return CatalogueTypes(records=records, sections=sections)


def _section_type(
    section: SectionSpec, catalogue: Catalogue, types: CatalogueTypes
) -> type[graphene.ObjectType]:
    attrs: dict[str, Any] = {
        "Meta": type("Meta", (), {"name": section.type_name, "description": section.description})
    }
    for rs in catalogue.in_section(section.name):
        attrs[rs.graphql_field] = types.record_field(rs)
    return type(section.type_name, (graphene.ObjectType,), attrs)
