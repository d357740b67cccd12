"""The Person type: one person's picture, assembled from every agency holding them."""

from __future__ import annotations

import datetime as dt
from typing import Any

import graphene

from connectors.base import DateRange, Row
from gateway.core.catalogue import RECORD_SETS_BY_NAME, SECTIONS
from gateway.pipeline.execution import source_only
from gateway.pipeline.fanout import AgencyRef as AgencyRefValue
from gateway.pipeline.fanout import PersonView
from gateway.pipeline.planner import PERSON_RECORD_FIELDS, section_field_name
from resolvers.records import RECORD_TYPES, SECTION_TYPES, AgencyRef, record_list_field
from resolvers.scalars import Date

_TIMELINE = RECORD_SETS_BY_NAME["timeline"]


@source_only
def _resolve_timeline(
    view: PersonView,
    _info: Any,
    start: dt.date | None = None,
    end: dt.date | None = None,
    agencies: list[str] | None = None,
) -> list[Row] | None:
    rows = view.rows("timeline")
    if rows is None:
        return None
    bounds = DateRange(start, end)
    wanted = set(agencies) if agencies is not None else None
    selected = [
        row
        for row in rows
        if (wanted is None or row["agency"].id in wanted)  # type: ignore[attr-defined]
        and (bounds.open or bounds.contains(row.get("occurred_on")))
    ]
    selected.sort(key=lambda row: str(row.get("occurred_on") or ""))
    return selected


def _resolve_known_to(view: PersonView, info: Any) -> list[AgencyRefValue]:
    # Which agencies know the person is index information: the audit records it as a lookup.
    info.context.looked_up((view.id,))
    return [info.context.gateway.agency_ref(agency_id) for agency_id in view.agencies]


def _person_attrs() -> dict[str, Any]:
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
            RECORD_TYPES["demographics"],
            description=(
                "Who the person is, from the most authoritative agency holding them "
                "(the GP practice where registered)."
            ),
            resolver=source_only(lambda view, _info: view.demographics),
        ),
    }
    for field_name, rs in PERSON_RECORD_FIELDS.items():
        if rs.name == "demographics":
            continue
        if rs.name == "timeline":
            attrs[field_name] = graphene.List(
                graphene.NonNull(RECORD_TYPES["timeline"]),
                description=(
                    f"{_TIMELINE.description} Chronological, from every involved agency; "
                    "filter by date range and agency."
                ),
                start=graphene.Argument(Date, name="from", description="Earliest date, inclusive."),
                end=graphene.Argument(Date, name="to", description="Latest date, inclusive."),
                agencies=graphene.Argument(
                    graphene.List(graphene.NonNull(graphene.ID)),
                    description="Only these agencies' events (agency ids).",
                ),
                resolver=_resolve_timeline,
            )
            continue
        attrs[field_name] = record_list_field(rs)
    for section in SECTIONS:
        attrs[section_field_name(section)] = graphene.Field(
            SECTION_TYPES[section],
            description=SECTIONS[section][1],
            resolver=source_only(lambda view, _info: view),
        )
    return attrs


Person = type("Person", (graphene.ObjectType,), _person_attrs())
