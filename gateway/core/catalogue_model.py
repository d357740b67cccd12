"""What a catalogue is: sections, record sets and data items, as frozen values.

The values only; reading and validating catalogue files is ``catalogue_files`` and the
standard catalogue shipped with the gateway is ``catalogue``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from functools import cached_property


class ValueKind(Enum):
    """The scalar type of an item's value."""

    STRING = "String"
    DATE = "Date"
    INT = "Int"
    FLOAT = "Float"
    BOOLEAN = "Boolean"


@dataclass(frozen=True)
class ItemSpec:
    """One data item: its GraphQL field name, value kind and meaning."""

    record_set: str
    field: str
    graphql_name: str
    kind: ValueKind
    description: str

    @property
    def name(self) -> str:
        """The item's catalogue name, ``"<record set>.<field>"``."""
        return f"{self.record_set}.{self.field}"


@dataclass(frozen=True)
class RecordSetSpec:
    """A kind of record an agency holds about a person.

    ``many`` says whether an agency may hold several rows of it per person
    (alerts) or at most one (its involvement). ``date_field`` names the field a
    date-range filter applies to, where the record set can be filtered.
    """

    name: str
    type_name: str
    section: str | None
    graphql_field: str
    many: bool
    owner: str
    description: str
    items: tuple[ItemSpec, ...]
    date_field: str | None = None

    def item(self, field: str) -> ItemSpec:
        """The item of this record set called ``field``."""
        for spec in self.items:
            if spec.field == field:
                return spec
        raise KeyError(f"{self.name}.{field}")


@dataclass(frozen=True)
class SectionSpec:
    """A section of the Person type grouping record sets by domain (``health``)."""

    name: str
    type_name: str
    description: str

    @property
    def graphql_field(self) -> str:
        """The Person field of the section (``social_care`` -> ``socialCare``)."""
        return camel(self.name)


@dataclass(frozen=True)
class Catalogue:
    """Every section, record set and item the client view offers, in declared order.

    A value: two catalogues read from the same files are equal, so what is built from
    one (the GraphQL schema, the planner's maps) can be cached per catalogue.
    """

    sections: tuple[SectionSpec, ...]
    record_sets: tuple[RecordSetSpec, ...]

    # The lookups are derived once per value; cached_property writes the instance's
    # __dict__ directly, which a frozen dataclass allows.
    @cached_property
    def items(self) -> Mapping[str, ItemSpec]:
        """Every item by its catalogue name, in catalogue order."""
        return {item.name: item for rs in self.record_sets for item in rs.items}

    @cached_property
    def record_sets_by_name(self) -> Mapping[str, RecordSetSpec]:
        """Every record set by name, in catalogue order."""
        return {rs.name: rs for rs in self.record_sets}

    @cached_property
    def sections_by_name(self) -> Mapping[str, SectionSpec]:
        """Every section by name, in catalogue order."""
        return {section.name: section for section in self.sections}

    def in_section(self, section: str | None) -> tuple[RecordSetSpec, ...]:
        """The record sets of a section, or of Person itself for ``None``."""
        return tuple(rs for rs in self.record_sets if rs.section == section)

    def __hash__(self) -> int:
        # Computed once: a catalogue is hashed on every cache lookup of what it builds.
        found: int | None = self.__dict__.get("_hash")
        if found is None:
            found = hash((self.sections, self.record_sets))
            self.__dict__["_hash"] = found
        return found


def camel(snake: str) -> str:
    """A snake_case catalogue name as GraphQL spells it (``raised_on`` -> ``raisedOn``)."""
    head, *rest = snake.split("_")
    return head + "".join(part.title() for part in rest)


def record_set_of(item: str) -> str:
    """The record set an item name belongs to (the part before the dot)."""
    return item.partition(".")[0]


#: Section, record set and item names: lower-case words joined by underscores, each
#: word starting with a letter, so the camelCase GraphQL name is unambiguous.
SNAKE_NAME = re.compile(r"[a-z][a-z0-9]*(?:_[a-z][a-z0-9]*)*")
#: GraphQL type names the catalogue declares.
TYPE_NAME = re.compile(r"[A-Z][A-Za-z0-9]*")
#: GraphQL field names the catalogue declares (on Person or a section).
FIELD_NAME = re.compile(r"[a-z][A-Za-z0-9]*")

#: The types of the client view's schema that do not come from the catalogue, and the
#: GraphQL built-in scalars: a catalogue type must not take one of these names.
#: tests/gateway/test_catalogue.py checks this list against the live schema.
RESERVED_TYPE_NAMES: frozenset[str] = frozenset(
    {
        "AgencyDisclosure",
        "AgencyRef",
        "AgencyStatus",
        "BasisEnum",
        "Boolean",
        "BreakGlassReview",
        "BreakGlassTerms",
        "ConsentDecisionEnum",
        "ConsentForm",
        "ConsentInput",
        "ConsentRecord",
        "Date",
        "DateTime",
        "Described",
        "Disclosure",
        "Explanation",
        "Float",
        "Grant",
        "ID",
        "IndexChange",
        "IndexEntry",
        "IndexReview",
        "Int",
        "Me",
        "Mutation",
        "Person",
        "ProtocolClause",
        "Query",
        "ReasonCount",
        "RequesterInput",
        "SharingProtocol",
        "SourceAvailability",
        "String",
        "Usage",
        "UsageFigures",
        "WithheldEntry",
    }
)
#: Person's fields that come from the gateway itself, not from a record set or section.
RESERVED_PERSON_FIELDS: frozenset[str] = frozenset({"id", "knownTo"})
#: The field every record type has besides its items: the agency it came from.
RESERVED_ITEM_FIELDS: frozenset[str] = frozenset({"agency"})
