"""The ``[source]`` and ``[items]`` of a ``fhir`` agency file, validated: every problem
reported at once, the key file only named (it is read when the connector opens).
The format is described in connectors/fhir.py and docs/fhir-agencies.md."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints, ValidationInfo

from connectors.fhir_auth import Algorithm, SmartAuth
from connectors.fhir_paths import ElementPath, PathError, parse_path
from connectors.source_models import (
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


@dataclass(frozen=True)
class FhirSource:
    """The validated ``[source]`` and ``[items]`` of a fhir agency."""

    base_url: str
    search: str
    page_size: int
    max_response_bytes: int
    auth: SmartAuth | None
    items: Mapping[str, ElementPath]

    @property
    def resource_types(self) -> frozenset[str]:
        """Every resource type the connector searches (Patient always: it links people)."""
        return frozenset({"Patient", *(path.resource_type for path in self.items.values())})


def parse_fhir_source(
    doc: Mapping[str, Any], config_dir: Path, problems: Problems
) -> FhirSource | None:
    """Validate the fhir-specific parts of an agency file (the key file is not read)."""
    part = validate(FhirFile, doc, problems)
    if part is None:
        return None
    source, auth = part.source, part.source.auth
    return FhirSource(
        base_url=source.base_url.rstrip("/"),
        search=source.search,
        page_size=source.page_size,
        max_response_bytes=source.max_response_bytes,
        auth=None
        if auth is None
        else SmartAuth(
            **auth.model_dump() | {"private_key_file": config_dir / auth.private_key_file}
        ),
        items=part.items,
    )


_AUTH_SECRET = (
    "Secrets never go in agency files: the gateway signs with the private key in "
    "private_key_file instead."
)
_Stripped = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class SmartAuthTable(ConfigModel):
    """``[source.auth]``: the gateway as a SMART Backend Services client of the agency."""

    unknown_key_problem: ClassVar[str] = "is not a key [source.auth] takes"
    secret_keys: ClassVar[frozenset[str]] = frozenset(
        {"client_secret", "secret", "password", "token", "private_key"}
    )
    secret_fix: ClassVar[str] = _AUTH_SECRET

    token_url: Annotated[
        _Stripped,
        AfterValidator(http_url),
        Fix('Write e.g. token_url = "https://auth.agency.example/oauth2/token".'),
    ]
    client_id: Annotated[_Stripped, Fix('Write e.g. client_id = "fame-gateway".')]
    private_key_file: Annotated[
        _Stripped, Fix('Write e.g. private_key_file = "keys/fame-gateway-fhir.pem".')
    ]
    key_id: Annotated[_Stripped, Fix('Write e.g. key_id = "fame-gateway-2026-1".')]
    scope: Annotated[
        _Stripped, Fix('Write e.g. scope = "system/Patient.read system/Encounter.read".')
    ]
    algorithm: Annotated[
        Algorithm,
        Fix(
            'Write "RS384" (an RSA key) or "ES384" (an EC key on P-384), the algorithms '
            "SMART Backend Services servers accept."
        ),
    ] = "RS384"


def _server_url(value: str) -> str:
    parts = urlsplit(http_url(value))
    if parts.username or parts.password or parts.query or parts.fragment:
        raise Invalid(
            "holds credentials, a query or a fragment",
            "Write only scheme, host and path; credentials go in [source.auth].",
        )
    return value


class FhirSourceTable(ConfigModel):
    """``[source]`` of a fhir agency: its server, how it is searched, how the gateway signs in."""

    unknown_key_problem: ClassVar[str] = "is not a key a fhir source takes"
    secret_keys: ClassVar[frozenset[str]] = frozenset(
        {"token", "password", "api_key", "secret", "token_env"}
    )
    secret_fix: ClassVar[str] = (
        "Secrets never go in agency files: use [source.auth] with a private_key_file."
    )

    base_url: Annotated[
        str,
        AfterValidator(_server_url),
        Fix('Write the FHIR base URL, e.g. base_url = "https://fhir.agency.example/R4".'),
    ]
    search: Annotated[
        Literal["batch", "get"],
        Fix(
            'Write "batch" (one batch Bundle per fetch, the default) or "get" (one GET per '
            "search, sent concurrently) for servers without batch."
        ),
    ] = "batch"
    page_size: Annotated[int, Field(ge=1, le=5000), Fix("Write a whole number from 1 to 5000.")] = (
        500
    )
    max_response_bytes: Annotated[
        int, Field(ge=1024), Fix("Write a whole number of bytes >= 1024.")
    ] = 10 * 1024 * 1024
    auth: Annotated[
        SmartAuthTable | None,
        Fix("Write [source.auth] with token_url, client_id, private_key_file, key_id, scope."),
    ] = None


_PATH_FIX = (
    'Write a resource type and element names, e.g. "Patient.name.given", '
    '"Encounter.period.start" or '
    "\"Condition.code.coding.where(system='http://snomed.info/sct').code\" "
    "(docs/fhir-agencies.md lists what a path may hold)."
)


def _element_path(item: str, target: str, info: ValidationInfo) -> ElementPath:
    try:
        path = parse_path(target)
    except PathError as exc:
        raise Invalid(f"is {target!r}, which {exc}") from None
    rs = record_set_of(item)
    if not many_rows(item) and path.resource_type != "Patient":
        raise Invalid(
            f"belongs to {rs!r}, which has one row per person, but reads {path.resource_type}",
            'Map one-row record sets to Patient elements, e.g. "Patient.birthDate".',
        )
    if many_rows(item) and path.resource_type == "Patient":
        raise Invalid(
            f"belongs to {rs!r}, which has a row per resource, but reads Patient",
            "Map it to the resource type whose resources are its rows, e.g. "
            '"Encounter.period.start".',
        )
    same_place(
        info,
        item,
        path.resource_type,
        lambda other, there: f"reads {path.resource_type} but {other!r} reads {there}",
        "Map every item of one record set to the same resource type.",
    )
    return path


class FhirFile(ConfigModel, extra="ignore"):
    """The fhir kind's part of an agency file (the rest is the agency file model's)."""

    source: Annotated[
        FhirSourceTable, Fix('Add [source] with base_url = "https://fhir.agency.example/R4".')
    ]
    tables: Annotated[
        Any, refused("is for sql agencies", "Remove it; a fhir agency maps element paths.")
    ] = None
    items: Annotated[
        dict[str, Annotated[ElementPath, item_target(_element_path)]],
        BeforeValidator(named_items),
        Fix(_PATH_FIX),
    ] = {}
