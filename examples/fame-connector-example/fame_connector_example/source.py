"""The ``jsonl`` kind's part of an agency file, and reading the export it names.

An agency file for this kind::

    kind = "jsonl"

    [source]
    path = "exports/clients.jsonl"   # relative to the agency file
    id_field = "client_ref"          # the member holding the agency's local id

    [items]
    "involvement.team" = "team.name"             # one-row record sets: a dotted path
    "timeline.occurred_on" = "contacts[].date"   # many-row record sets: list[].path

Every line of the export is one JSON object: one person, as the agency's case
system writes them. Reading keeps only the mapped paths of each person, already
turned into the catalogue's kinds; everything else in the file is dropped as it
is read.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar

import orjson
from pydantic import BeforeValidator, Field, ValidationInfo

from connectors.base import Row
from connectors.source_models import item_target, many_rows, named_items, same_place
from gateway.core.catalogue import ValueKind, parsing_catalogue, record_set_of
from gateway.core.config_models import ConfigModel, Fix, Invalid, validate
from gateway.core.errors import Problems

_SEGMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")

#: A person's records as kept in memory: record set -> rows of mapped fields.
Records = dict[str, list[Row]]
#: What identifies one version of the export: device, inode, size, modification time.
Signature = tuple[int, int, int, int]


@dataclass(frozen=True)
class Target:
    """Where an item lives in a person's object: an optional list, then a dotted path."""

    list_key: str | None
    path: tuple[str, ...]


@dataclass(frozen=True)
class JsonLinesSource:
    """The validated ``[source]`` and ``[items]`` of a jsonl agency."""

    path: Path
    id_field: str
    items: Mapping[str, Target]


@dataclass(frozen=True)
class Export:
    """One good version of the export: each person's mapped records, by local id."""

    signature: Signature
    people: Mapping[str, Records]


class ExportProblem(Exception):
    """The export cannot be read, or a line of it is not what the mapping expects."""


class ExportUnreadable(ExportProblem):
    """The export cannot be opened at all (missing, permissions)."""


class JsonLinesSourceTable(ConfigModel):
    """``[source]``: where the export is and which member holds the agency's id."""

    unknown_key_problem: ClassVar[str] = "is not a key a jsonl source takes"

    path: Annotated[str, Field(pattern=r"\S"), Fix('Write path = "exports/clients.jsonl".')]
    id_field: Annotated[
        str, Field(pattern=_SEGMENT.pattern), Fix("Name the member holding your id.")
    ] = "id"


def _target(item: str, text: str, info: ValidationInfo) -> Target:
    many = many_rows(item)
    target = _path(text)
    if target is None or (target.list_key is not None) != many:
        shape = '"contacts[].date"' if many else '"team.name"'
        raise Invalid(
            f"is {text!r}",
            f"Write a path like {shape}: record set {record_set_of(item)!r} has "
            f"{'many rows' if many else 'one row'} per person.",
        )
    same_place(
        info,
        item,
        target.list_key,
        lambda other, there: f"reads list {target.list_key!r}, but {other!r} reads {there!r}",
        "Map every item of one record set into the same list.",
    )
    return target


class JsonLinesFile(ConfigModel, extra="ignore"):
    """The jsonl kind's part of an agency file (the gateway validates the rest)."""

    source: Annotated[
        JsonLinesSourceTable,
        Fix('Add [source] with path = "exports/<file>.jsonl" and id_field = "<id member>".'),
    ]
    items: Annotated[
        dict[str, Annotated[Target, item_target(_target)]],
        BeforeValidator(named_items),
        Fix('Write a path like "team.name", or "contacts[].date" for many rows.'),
    ] = {}


def parse_source(doc: Mapping[str, Any], problems: Problems) -> JsonLinesSource | None:
    """Validate ``[source]`` and ``[items]``; problems go to ``problems``."""
    part = validate(JsonLinesFile, doc, problems)
    if part is None:
        return None
    where = Path(part.source.path)
    if not where.is_absolute():
        where = (problems.file.parent / where).resolve()
    return JsonLinesSource(path=where, id_field=part.source.id_field, items=part.items)


def _path(text: str) -> Target | None:
    list_key, marker, rest = text.partition("[].")
    if not marker:
        list_key, rest = "", text
    parts = tuple(rest.split("."))
    if not all(_SEGMENT.match(part) for part in parts):
        return None
    if marker and not _SEGMENT.match(list_key):
        return None
    return Target(list_key=list_key or None, path=parts)


def signature(path: Path) -> Signature:
    """The export's version now; raises ExportProblem when it cannot be stat'ed."""
    try:
        stat = path.stat()
    except OSError as exc:
        raise ExportUnreadable(f"{path} cannot be read ({exc.strerror})") from exc
    return (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)


def read_export(source: JsonLinesSource) -> Export:
    """Read the whole export, keeping only mapped values (blocking: run it in a thread)."""
    try:
        with source.path.open("rb") as handle:
            stat = os.fstat(handle.fileno())
            lines = handle.read().splitlines()
    except OSError as exc:
        raise ExportUnreadable(f"{source.path} cannot be read ({exc.strerror})") from exc
    people: dict[str, Records] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{source.path.name} line {number}"
        try:
            person = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise ExportProblem(f"{where} is not JSON ({exc})") from exc
        local_id = person.get(source.id_field) if isinstance(person, dict) else None
        if not isinstance(local_id, str | int) or isinstance(local_id, bool) or local_id == "":
            raise ExportProblem(f"{where} has no {source.id_field!r} id")
        people[str(local_id)] = _records(person, source, where)
    return Export(
        signature=(stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns), people=people
    )


def _records(person: Mapping[str, Any], source: JsonLinesSource, where: str) -> Records:
    records: Records = {}
    lists: dict[str, list[Row]] = {}
    for item, target in source.items.items():
        spec = parsing_catalogue().items[item]
        if target.list_key is None:
            row = records.setdefault(spec.record_set, [{}])[0]
            row[spec.field] = _value(_walk(person, target.path), spec.kind, f"{where}: {item}")
            continue
        elements = person.get(target.list_key) or []
        if not isinstance(elements, list):
            raise ExportProblem(f"{where}: {target.list_key!r} is not a list")
        rows = lists.setdefault(spec.record_set, [{} for _ in elements])
        for row, element in zip(rows, elements, strict=True):
            row[spec.field] = _value(_walk(element, target.path), spec.kind, f"{where}: {item}")
    records.update({name: rows for name, rows in lists.items() if rows})
    return records


def _walk(value: object, path: tuple[str, ...]) -> object:
    for part in path:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _value(value: object, kind: ValueKind, where: str) -> object:
    if value is None:
        return None
    if kind is ValueKind.DATE and isinstance(value, str):
        try:
            return dt.date.fromisoformat(value[:10])
        except ValueError as exc:
            raise ExportProblem(f"{where} holds text that is not an ISO date") from exc
    expected: dict[ValueKind, tuple[type, ...]] = {
        ValueKind.STRING: (str,),
        ValueKind.INT: (int,),
        ValueKind.FLOAT: (int, float),
        ValueKind.BOOLEAN: (bool,),
    }
    wanted = expected.get(kind, ())
    if isinstance(value, bool) != (kind is ValueKind.BOOLEAN) or not isinstance(value, wanted):
        # The type, never the value: problems are logged, and values about people never are.
        raise ExportProblem(f"{where} holds {type(value).__name__} where {kind.value} is expected")
    return float(value) if kind is ValueKind.FLOAT else value  # type: ignore[arg-type]
