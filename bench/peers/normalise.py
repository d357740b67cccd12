"""One shape for answers of differently shaped schemas: records by record set and agency.

The gateway's view (and the lower bound's, naive's and the DataLoader peer's, which
copy it) lists each record set's rows with the agency they came from; Hive's
supergraph answers each agency's own JSON under that agency's root field. Both become
``{record set: [(agency id, ((catalogue field, value), ...)), ...]}``, rows in the
order each agency gave them, agencies in id order. What only one shape has (the
gateway's person id, agency names) is left out; a field the normaliser does not know
is an error, so nothing is skipped silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bench.world import AGENCIES, Agency
from gateway.core.catalogue import RECORD_SETS, SECTIONS, RecordSetSpec

#: One record: the agency it came from and its (catalogue field, value) pairs, sorted.
Record = tuple[str, tuple[tuple[str, Any], ...]]
Normalised = dict[str, list[Record]]


class UnknownField(ValueError):
    """The answer holds a field the normaliser cannot place."""


def _camel(text: str) -> str:
    head, *rest = text.split("_")
    return head + "".join(p.title() for p in rest)


_BY_FIELD: dict[str, RecordSetSpec] = {rs.graphql_field: rs for rs in RECORD_SETS}
_SECTIONS = {_camel(section) for section in SECTIONS}


def _view_rows(rs: RecordSetSpec, value: Any, out: dict[str, list[Record]]) -> None:
    if value is None:
        return
    fields = {item.graphql_name: item.field for item in rs.items}
    for row in value if isinstance(value, list) else [value]:
        agency: str | None = None
        pairs = []
        for key, cell in row.items():
            if key == "agency":
                agency = cell["id"]
            elif key in fields:
                pairs.append((fields[key], cell))
            else:
                raise UnknownField(f"{rs.type_name}.{key}")
        if agency is None:
            raise UnknownField(f"{rs.type_name} rows must name their agency to be compared")
        out.setdefault(rs.name, []).append((agency, tuple(sorted(pairs))))


def _sorted(records: dict[str, list[Record]]) -> Normalised:
    # Stable: each agency's rows keep the order the agency gave them.
    return {name: sorted(rows, key=lambda r: r[0]) for name, rows in sorted(records.items())}


def from_view(person: Mapping[str, Any]) -> Normalised:
    """A Person of the gateway's view (``data["person"]``) in the common shape."""
    records: dict[str, list[Record]] = {}
    for key, value in person.items():
        if key == "id":
            continue
        if key in _SECTIONS:
            for sub_key, sub_value in (value or {}).items():
                if sub_key not in _BY_FIELD:
                    raise UnknownField(f"{key}.{sub_key}")
                _view_rows(_BY_FIELD[sub_key], sub_value, records)
        elif key in _BY_FIELD:
            _view_rows(_BY_FIELD[key], value, records)
        else:
            raise UnknownField(f"Person.{key}")
    return _sorted(records)


def _agency_of(alias: str) -> Agency:
    for agency in AGENCIES:
        if agency.id.removeprefix("bench-").replace("-", "_") == alias:
            return agency
    raise UnknownField(f"root field {alias!r} names no agency")


def from_agencies(data: Mapping[str, Any]) -> Normalised:
    """Hive's answer (each agency's JSON under its subgraph's alias) in the common shape."""
    records: dict[str, list[Record]] = {}
    for alias, answer in data.items():
        agency = _agency_of(alias)
        parts = {part.key: part for part in agency.documents}
        for document in (answer or {}).get(agency.results_key) or []:
            for key, value in document.items():
                if key == agency.id_field:
                    continue
                if key not in parts:
                    raise UnknownField(f"{alias}.{key}")
                part = parts[key]
                items = {field: item for field, item in part.fields if item is not None}
                if value is None:
                    continue
                for element in value if part.many else [value]:
                    pairs = []
                    for field, cell in element.items():
                        if field not in items:
                            raise UnknownField(f"{alias}.{key}.{field}")
                        pairs.append((items[field].partition(".")[2], cell))
                    records.setdefault(part.record_set, []).append(
                        (agency.id, tuple(sorted(pairs)))
                    )
    return _sorted(records)


def values(normalised: Normalised) -> int:
    """How many values the normalised answer holds (what an equality check compared)."""
    return sum(len(pairs) for rows in normalised.values() for _, pairs in rows)
