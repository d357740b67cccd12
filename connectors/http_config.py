"""The ``[source]`` and ``[items]`` of an http agency file, as a model.

Each catalogue item maps to a JSON path in the agency's person object: ``care_team.lead``
for a single record, ``flags[].level`` for a field of each element of a list. The token
is only named (``token_env``): it is read when the connector opens, so that commands
that never call the agency run where it is not set.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, Field, ValidationInfo

from connectors.source_models import (
    EnvName,
    NonEmpty,
    http_url,
    item_target,
    many_rows,
    named_items,
    refused,
    same_place,
)
from gateway.core.catalogue import record_set_of
from gateway.core.config_models import ConfigModel, Fix, Invalid, validate
from gateway.core.errors import Problems

_SEGMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class JsonPath:
    """Where an item lives in the agency's person object.

    ``list_key`` is set for many-row record sets (``flags`` in ``flags[].level``);
    ``path`` is then relative to each element.
    """

    raw: str
    list_key: str | None
    path: tuple[str, ...]


@dataclass(frozen=True)
class HttpSource:
    """The validated ``[source]`` and ``[items]`` of an http agency."""

    base_url: str
    path: str
    ids_param: str
    fields_param: str
    results_key: str
    id_field: str
    date_from_param: str | None
    date_to_param: str | None
    token_env: str | None
    max_response_bytes: int
    items: Mapping[str, JsonPath]

    @property
    def endpoint(self) -> str:
        """The full URL of the people endpoint."""
        return self.base_url.rstrip("/") + self.path


def _api_url(value: str) -> str:
    parts = urlsplit(http_url(value))
    if parts.password or parts.username:
        raise Invalid(
            "holds credentials written inline",
            'Remove them; write token_env = "FAME_<AGENCY>_TOKEN" and set that variable.',
        )
    if parts.query or parts.fragment:
        raise Invalid("has a query or fragment", "Write only scheme, host and path.")
    return value


def _absolute(value: str) -> str:
    if not value.startswith("/"):
        raise Invalid(f"is {value!r}", f'Start it with a slash: "/{value}".')
    return value


_Text = Annotated[NonEmpty, Fix("Write a non-empty string.")]


class HttpSourceTable(ConfigModel):
    """``[source]`` of an http agency: where its API is and how it is asked."""

    unknown_key_problem: ClassVar[str] = "is not a key an http source takes"
    secret_keys: ClassVar[frozenset[str]] = frozenset({"token", "password", "api_key", "secret"})
    secret_fix: ClassVar[str] = (
        'Secrets never go in agency files: write token_env = "FAME_<AGENCY>_TOKEN" and '
        "set that variable."
    )

    base_url: Annotated[
        str,
        AfterValidator(_api_url),
        Fix('Write e.g. base_url = "https://api.agency.example".'),
    ]
    path: Annotated[
        str, AfterValidator(_absolute), Fix('Write the people endpoint, e.g. path = "/people".')
    ] = "/people"
    ids_param: _Text = "ids"
    fields_param: _Text = "fields"
    results_key: _Text = "results"
    id_field: _Text = "id"
    date_from_param: _Text | None = None
    date_to_param: _Text | None = None
    token_env: Annotated[
        EnvName | None, Fix('Write the variable\'s name, e.g. token_env = "FAME_TRUST_TOKEN".')
    ] = None
    max_response_bytes: Annotated[
        int, Field(ge=1024), Fix("Write a whole number of bytes >= 1024.")
    ] = 10 * 1024 * 1024


def parse_json_path(raw: str) -> JsonPath | None:
    """``care_team.lead`` or ``flags[].level`` as a path; None when it is neither."""
    list_key: str | None = None
    rest = raw
    if "[]" in raw:
        head, sep, tail = raw.partition("[].")
        if not sep or "[]" in tail or not _SEGMENT.match(head):
            return None
        list_key, rest = head, tail
    segments = tuple(rest.split("."))
    if not all(_SEGMENT.match(segment) for segment in segments):
        return None
    return JsonPath(raw=raw, list_key=list_key, path=segments)


def _json_path(item: str, target: str, info: ValidationInfo) -> JsonPath:
    parsed = parse_json_path(target)
    if parsed is None:
        raise Invalid(f"is {target!r}, which is not a JSON path")
    rs = record_set_of(item)
    if many_rows(item) and parsed.list_key is None:
        raise Invalid(
            f"belongs to {rs!r}, which has many rows per person",
            'Point it into a list, e.g. "flags[].level".',
        )
    if not many_rows(item) and parsed.list_key is not None:
        raise Invalid(
            f"belongs to {rs!r}, which has one row per person",
            'Point it at a single value, e.g. "care_team.lead".',
        )
    same_place(
        info,
        item,
        parsed.list_key,
        lambda other, there: f"reads list {parsed.list_key!r} but {other!r} reads {there!r}",
        "Map every item of one record set into the same list.",
    )
    return parsed


class HttpFile(ConfigModel, extra="ignore"):
    """The http kind's part of an agency file (the rest is the agency file model's)."""

    source: Annotated[
        HttpSourceTable,
        Fix('Add [source] with base_url = "https://api.agency.example" and path = "/people".'),
    ]
    tables: Annotated[
        Any, refused("is for sql agencies", "Remove it; an http agency maps JSON paths.")
    ] = None
    items: Annotated[
        dict[str, Annotated[JsonPath, item_target(_json_path)]],
        BeforeValidator(named_items),
        Fix('Write dotted keys, e.g. "care_team.lead", or "flags[].level" for lists.'),
    ] = {}


def parse_http_source(doc: Mapping[str, Any], problems: Problems) -> HttpSource | None:
    """Validate the http-specific parts of an agency file."""
    part = validate(HttpFile, doc, problems)
    if part is None:
        return None
    return HttpSource(**part.source.model_dump(), items=part.items)
