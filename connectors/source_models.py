"""What the connector kinds' models of their part of an agency file share, built-in kinds
and plug-ins alike: the ``[items]`` table read target by target, one place per record set,
sections a kind does not take, http(s) URLs and environment variable names.

An ``[items]`` table is declared as::

    items: Annotated[
        dict[str, Annotated[Target, item_target(read)]],
        BeforeValidator(named_items),
        Fix('Write "table.column", e.g. "patients.forename".'),
    ] = {}

where ``read(item, target, info)`` turns one target (text, already checked) into the
kind's value or raises ``Invalid``. Items outside the catalogue are left to the agency
file's own model, which reports them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, PlainValidator, ValidationInfo

from gateway.core.catalogue import parsing_catalogue, record_set_of
from gateway.core.config_models import Invalid

T = TypeVar("T")

#: The name of an environment variable (where a secret or a URL with one is kept).
EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
#: Text with something in it.
NonEmpty = Annotated[str, Field(min_length=1)]


def in_catalogue(item: str) -> bool:
    """Whether ``item`` is an item of the catalogue the file is validated against."""
    return item in parsing_catalogue().items


def many_rows(item: str) -> bool:
    """Whether the record set of ``item`` has many rows per person."""
    return parsing_catalogue().record_sets_by_name[record_set_of(item)].many


def named_items(value: object) -> object:
    """Each target of an ``[items]`` table paired with its item, for ``item_target``;
    items outside the catalogue dropped (the agency file's model reports them)."""
    if not isinstance(value, dict):
        return value
    return {item: (item, target) for item, target in value.items() if in_catalogue(item)}


def item_target(read: Callable[[str, str, ValidationInfo], T]) -> PlainValidator:
    """The validator of one ``[items]`` target: text, read by ``read(item, target, info)``."""

    def one(pair: tuple[str, object], info: ValidationInfo) -> T:
        item, target = pair
        if not isinstance(target, str):
            shown = "a table" if isinstance(target, dict) else repr(target)
            raise Invalid(f"is {shown}, not text")
        return read(item, target, info)

    return PlainValidator(one)


def context(info: ValidationInfo) -> dict[str, Any]:
    """What ``validate`` was given to validate with (and validators' notes on the way)."""
    if not isinstance(info.context, dict):
        raise TypeError("validate agency files through gateway.core.config_models.validate")
    return info.context


def first_mapping(info: ValidationInfo, item: str, place: object) -> tuple[Any, str] | None:
    """Where the first item of ``item``'s record set was mapped, and that item, when it is
    not ``place``: every item of a record set comes from one place (a table, a file, a
    list, a resource type), since its rows are read together."""
    seen: dict[str, tuple[object, str]] = context(info).setdefault("first mapping", {})
    first = seen.setdefault(record_set_of(item), (place, item))
    return first if first[0] != place else None


def declared(info: ValidationInfo, section: str, name: str, noun: str, fix: str) -> None:
    """Refuse a target naming ``[section.name]`` when the file declares other sections
    but not that one (``noun`` is what a section is: "table", "file")."""
    sections = context(info)[section]
    # With no [section] at all, its own problem says so; one per item would be noise.
    if sections and name not in sections:
        raise Invalid(f"maps to {noun} {name!r}, which has no [{section}.{name}] section", fix)


def same_place(
    info: ValidationInfo,
    item: str,
    place: object,
    problem: Callable[[str, Any], str],
    fix: str,
) -> None:
    """Refuse ``item`` when an earlier item of its record set was mapped somewhere other
    than ``place``: ``problem(earlier_item, its_place)`` says so, ``fix`` what to do."""
    first = first_mapping(info, item, place)
    if first is not None:
        raise Invalid(problem(first[1], first[0]), fix)


def refused(problem: str, fix: str) -> AfterValidator:
    """A top-level section a kind does not take, refused whatever it holds."""

    def refuse(value: object) -> None:
        raise Invalid(problem, fix)

    return AfterValidator(refuse)


def http_url(value: str) -> str:
    """An http(s) URL with a host; the key's Fix says what to write."""
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise Invalid(f"is {value!r}, which is not an http(s) URL")
    return value
