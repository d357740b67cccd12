"""Look ahead at a ``person``/``caseload`` selection and list the data items it needs.

The plan is made for each top-level field before any agency is called, so
that each agency can be asked once for everything, for everyone in the
request; it depends only on the selection, so it is made once per document
and the values of the variables the selection uses, and then shared.
Fragments, aliases and ``@skip``/``@include`` are honoured through
graphql-core's own field collection, so the plan is exactly what execution
will read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache, partial
from types import MappingProxyType
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLSchema,
    get_named_type,
)
from graphql.execution.collect_fields import collect_sub_fields
from graphql.execution.values import get_argument_values

from connectors.base import DateRange
from gateway.core.catalogue import Catalogue, RecordSetSpec
from gateway.pipeline.selections import SelectionCache


@dataclass(frozen=True)
class CatalogueFields:
    """Where a catalogue's record sets and items sit in the schema built from it."""

    #: Person field -> record set, for record sets directly on Person.
    person_records: Mapping[str, RecordSetSpec]
    #: Person field -> section name.
    person_sections: Mapping[str, str]
    #: Section name -> (section field -> record set).
    section_records: Mapping[str, Mapping[str, RecordSetSpec]]
    #: Record set -> (GraphQL field of its type -> item name).
    record_items: Mapping[str, Mapping[str, str]]


@lru_cache(maxsize=16)
def catalogue_fields(catalogue: Catalogue) -> CatalogueFields:
    """The field maps of a catalogue, made once per catalogue."""
    return CatalogueFields(
        person_records={rs.graphql_field: rs for rs in catalogue.in_section(None)},
        person_sections={s.graphql_field: s.name for s in catalogue.sections},
        section_records={
            s.name: {rs.graphql_field: rs for rs in catalogue.in_section(s.name)}
            for s in catalogue.sections
        },
        record_items={
            rs.name: {item.graphql_name: item.name for item in rs.items}
            for rs in catalogue.record_sets
        },
    )


@dataclass(frozen=True)
class Plan:
    """What a selection needs: the items, and per record set any date range and agency filter.

    ``agencies`` maps a record set to the agencies it may be read from; a
    record set not in it may be read from any agency.
    """

    items: frozenset[str]
    ranges: Mapping[str, DateRange] = field(default_factory=dict)
    agencies: Mapping[str, frozenset[str]] = field(default_factory=dict)
    #: item -> the response paths (below the person) where it is selected.
    paths: Mapping[str, tuple[tuple[str, ...], ...]] = field(default_factory=dict)

    def items_for(self, agency_id: str, mapped: frozenset[str]) -> frozenset[str]:
        """The planned items this agency maps and may be asked for."""
        wanted = self.items & mapped
        if not self.agencies:
            return wanted
        return frozenset(
            item
            for item in wanted
            if (allowed := self.agencies.get(item.partition(".")[0])) is None
            or agency_id in allowed
        )


class _Collector:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        variables: dict[str, Any],
        fields: CatalogueFields,
    ) -> None:
        self.fields = fields
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.items: set[str] = set()
        self.paths: dict[str, list[tuple[str, ...]]] = {}
        self.range_parts: dict[str, list[DateRange]] = {}
        self.agency_parts: dict[str, list[frozenset[str] | None]] = {}

    def sub_fields(
        self, parent: GraphQLObjectType, nodes: list[FieldNode]
    ) -> dict[str, list[FieldNode]]:
        return collect_sub_fields(self.schema, self.fragments, self.variables, parent, nodes)

    def person(self, person_type: GraphQLObjectType, nodes: list[FieldNode]) -> None:
        for key, sub_nodes in self.sub_fields(person_type, nodes).items():
            name = sub_nodes[0].name.value
            rs = self.fields.person_records.get(name)
            if rs is not None:
                self.record_set(person_type, name, rs, sub_nodes, (key,))
                continue
            section = self.fields.person_sections.get(name)
            if section is not None:
                section_type = _object_type(person_type, name)
                for rs_key, rs_nodes in self.sub_fields(section_type, sub_nodes).items():
                    rs_name = rs_nodes[0].name.value
                    spec = self.fields.section_records[section].get(rs_name)
                    if spec is not None:
                        self.record_set(section_type, rs_name, spec, rs_nodes, (key, rs_key))

    def record_set(
        self,
        parent: GraphQLObjectType,
        field_name: str,
        rs: RecordSetSpec,
        nodes: list[FieldNode],
        prefix: tuple[str, ...],
    ) -> None:
        record_type = _object_type(parent, field_name)
        item_fields = self.fields.record_items[rs.name]
        selected = self.sub_fields(record_type, nodes)
        for key, sub_nodes in selected.items():
            item = item_fields.get(sub_nodes[0].name.value)
            if item is not None:
                self.items.add(item)
                self.paths.setdefault(item, []).append((*prefix, key))
        if rs.date_field is None:
            return
        # A dated record set is ordered and filtered by its date, so the date
        # is part of what the selection asks for.
        self.items.add(f"{rs.name}.{rs.date_field}")
        field_def = parent.fields[field_name]
        for node in nodes:
            args = get_argument_values(field_def, node, self.variables)
            self.range_parts.setdefault(rs.name, []).append(
                DateRange(args.get("start"), args.get("end"))
            )
            agencies = args.get("agencies")
            self.agency_parts.setdefault(rs.name, []).append(
                frozenset(agencies) if agencies is not None else None
            )

    def plan(self) -> Plan:
        ranges = {name: _enclosing(parts) for name, parts in self.range_parts.items()}
        agencies: dict[str, frozenset[str]] = {}
        for name, parts in self.agency_parts.items():
            if all(part is not None for part in parts):
                agencies[name] = frozenset().union(*(p for p in parts if p is not None))
        # Read-only: one plan serves every request with the same selection.
        return Plan(
            items=frozenset(self.items),
            ranges=MappingProxyType({k: v for k, v in ranges.items() if not v.open}),
            agencies=MappingProxyType(agencies),
            paths=MappingProxyType({item: tuple(paths) for item, paths in self.paths.items()}),
        )


#: Plans are read-only once made: every request with the same selection shares one.
_PLANS: SelectionCache[Plan] = SelectionCache()


def plan_people(info: GraphQLResolveInfo, catalogue: Catalogue) -> Plan:
    """The plan of the field being resolved, whose type is Person or a list of Person
    of the schema built from ``catalogue``; made once per document and variable values."""
    person_type = get_named_type(info.return_type)
    assert isinstance(person_type, GraphQLObjectType)
    return _PLANS.get(
        info.schema,
        info.fragments,
        info.variable_values,
        info.field_nodes,
        (person_type, catalogue),
        partial(
            _plan,
            info.schema,
            info.fragments,
            info.variable_values,
            person_type,
            list(info.field_nodes),
            catalogue,
        ),
    )


def _plan(
    schema: GraphQLSchema,
    fragments: dict[str, FragmentDefinitionNode],
    variables: dict[str, Any],
    person_type: GraphQLObjectType,
    field_nodes: list[FieldNode],
    catalogue: Catalogue,
) -> Plan:
    collector = _Collector(schema, fragments, variables, catalogue_fields(catalogue))
    collector.person(person_type, field_nodes)
    return collector.plan()


def _object_type(parent: GraphQLObjectType, field_name: str) -> GraphQLObjectType:
    named = get_named_type(parent.fields[field_name].type)
    assert isinstance(named, GraphQLObjectType)
    return named


def _enclosing(parts: list[DateRange]) -> DateRange:
    # Several aliased timelines are fetched once, over the range that covers
    # them all; each alias is cut back to its own range when it resolves.
    starts: list[dt.date | None] = [part.start for part in parts]
    ends: list[dt.date | None] = [part.end for part in parts]
    start = None if any(s is None for s in starts) else min(s for s in starts if s is not None)
    end = None if any(e is None for e in ends) else max(e for e in ends if e is not None)
    return DateRange(start, end)
