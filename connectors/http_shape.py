"""What one set of items asks of an http agency, and how its answer is read into rows.

Worked out once per set of items (a request's projection is normally the same from one
request to the next) rather than on every call: the ``fields`` parameter, and per record
set the JSON paths, catalogue fields and value conversions to apply to each person.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from connectors.base import ConnectorError, DateRange, FetchResult, Row, outside
from connectors.http_config import HttpSource
from connectors.values import coercer
from gateway.core.catalogue import Catalogue, record_set_of

#: A catalogue field, the function bringing its non-null values to its kind (None: as
#: they are), and its path in the person object (or in each element of a list).
Field = tuple[str, Callable[[object], object] | None, tuple[str, ...]]


@dataclass(frozen=True)
class RecordSetReading:
    """How one record set is read from each person of an answer."""

    name: str
    #: The list holding its rows (``flags`` of ``flags[].level``); None for a single record.
    list_key: str | None
    fields: tuple[Field, ...]
    date_field: str | None
    #: One row from the person (a single record: None when none of its paths is there) or
    #: from one element of the list; see ``_reader``.
    read: Callable[[Any], Row | None]


@dataclass(frozen=True)
class Shape:
    """The projection sent for a set of items and how the answer to it is read."""

    fields_param: str
    record_sets: tuple[RecordSetReading, ...]
    #: The record sets whose rows a date range narrows, in the order of the items.
    dated: tuple[str, ...]


def shape_of(source: HttpSource, catalogue: Catalogue, wanted: Sequence[str]) -> Shape:
    """The shape of a call for ``wanted`` (items the agency maps, sorted)."""
    by_set: dict[str, list[Field]] = {}
    list_keys: dict[str, str | None] = {}
    for item in wanted:
        spec = catalogue.items[item]
        path = source.items[item]
        rs_name = record_set_of(item)
        by_set.setdefault(rs_name, []).append((spec.field, coercer(spec.kind), path.path))
        list_keys.setdefault(rs_name, path.list_key)
    sets = catalogue.record_sets_by_name
    return Shape(
        fields_param=",".join(dict.fromkeys(source.items[item].raw for item in wanted)),
        record_sets=tuple(
            RecordSetReading(
                name,
                list_keys[name],
                tuple(fields),
                sets[name].date_field,
                _reader(fields, single=list_keys[name] is None),
            )
            for name, fields in by_set.items()
        ),
        dated=tuple(name for name in by_set if sets[name].date_field is not None),
    )


def date_range(shape: Shape, ranges: Mapping[str, DateRange]) -> DateRange | None:
    """The first closed range asked for a dated record set of the call, if any."""
    for name in shape.dated:
        bounds = ranges.get(name)
        if bounds is not None and not bounds.open:
            return bounds
    return None


_MISSING = object()


def _reader(fields: Sequence[Field], *, single: bool) -> Callable[[Any], Row | None]:
    """A function reading one row, (field, coercer, path) each, from a JSON object.

    Straight-line code generated per record set, as the projector is: no loop over the
    fields or the path's segments per value. A path leading nowhere (a missing key, or
    something other than an object on the way) reads as null; for a ``single`` record,
    when no path leads anywhere there is no row (None). Field names and path segments
    reach the code only as bound constants (f0, p0_0, ...), never as source text.
    """
    namespace: dict[str, Any] = {"M": _MISSING, "isinstance": isinstance}
    lines = ["def read(value):"]
    for n, (field, _, path) in enumerate(fields):
        namespace[f"f{n}"] = field
        source = "value"
        for m, segment in enumerate(path):
            namespace[f"p{n}_{m}"] = segment
            lines.append(
                f"    v{n} = {source}.get(p{n}_{m}, M) if isinstance({source}, dict) else M"
            )
            source = f"v{n}"
        if not path:  # the object itself
            lines.append(f"    v{n} = value")
    if single and fields:
        lines.append(
            "    if " + " and ".join(f"v{n} is M" for n in range(len(fields))) + ": return None"
        )
    for n, (_, convert, _) in enumerate(fields):
        lines.append(f"    if v{n} is M: v{n} = None")
        if convert is not None:
            namespace[f"c{n}"] = convert
            lines.append(f"    elif v{n} is not None: v{n} = c{n}(v{n})")
    lines.append("    return {" + ", ".join(f"f{n}: v{n}" for n in range(len(fields))) + "}")
    exec("\n".join(lines), namespace)
    read: Callable[[Any], Row | None] = namespace["read"]
    return read


def read_people(
    body: Any,
    shape: Shape,
    asked: set[str],
    ranges: Mapping[str, DateRange],
    source: HttpSource,
    agency_id: str,
    name: str,
) -> FetchResult:
    """The rows of each person asked about in ``body``, under catalogue field names; anyone
    not asked about is ignored. A malformed answer is a ConnectorError."""
    people = body.get(source.results_key) if isinstance(body, dict) else None
    if not isinstance(people, list):
        raise ConnectorError(agency_id, f"{name}'s answer has no {source.results_key!r} list")
    id_field = source.id_field
    result: FetchResult = {}
    for person in people:
        if not isinstance(person, dict):
            raise ConnectorError(agency_id, f"{name}'s answer holds a non-object person")
        local_id = person.get(id_field)
        if local_id is None or str(local_id) not in asked:
            # Only ids we asked for are accepted: an agency cannot push other people at us.
            continue
        records: dict[str, list[Row]] = {}
        for reading in shape.record_sets:
            if reading.list_key is None:
                row = reading.read(person)
                if row is not None:
                    records[reading.name] = [row]
                continue
            elements = person.get(reading.list_key)
            if elements is None:
                continue
            if not isinstance(elements, list):
                raise ConnectorError(agency_id, f"{name}'s {reading.list_key!r} is not a list")
            records[reading.name] = _rows(elements, reading, ranges.get(reading.name))
        result[str(local_id)] = records
    return result


def _rows(elements: list[Any], reading: RecordSetReading, bounds: DateRange | None) -> list[Row]:
    read = reading.read
    rows = [row for row in map(read, elements) if row is not None]
    if bounds is None or reading.date_field is None:
        return rows
    date_field = reading.date_field
    return [row for row in rows if not outside(row, date_field, bounds)]
