"""The ``[source]`` and ``[items]`` of a ``fhir`` agency file, validated: every problem
reported at once, the key file only named (it is read when the connector opens).
The format is described in connectors/fhir.py and docs/fhir-agencies.md."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from connectors.fhir_auth import SmartAuth, parse_auth
from connectors.fhir_paths import ElementPath, PathError, parse_path
from gateway.core.catalogue import parsing_catalogue, record_set_of
from gateway.core.errors import Problems

_SOURCE_KEYS = {"base_url", "search", "page_size", "max_response_bytes", "auth"}


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
    source = doc.get("source")
    if not isinstance(source, dict):
        problems.add(
            "source",
            "is missing",
            'Add [source] with base_url = "https://fhir.agency.example/R4".',
        )
        return None
    if "tables" in doc:
        problems.add(
            "tables", "is for sql agencies", "Remove it; a fhir agency maps element paths."
        )
    ok = True
    for key in sorted(set(source) - _SOURCE_KEYS):
        hint = (
            "Secrets never go in agency files: use [source.auth] with a private_key_file."
            if key in {"token", "password", "api_key", "secret", "token_env"}
            else f"Remove it; a fhir source takes: {', '.join(sorted(_SOURCE_KEYS))}."
        )
        problems.add(f"source.{key}", "is not a key a fhir source takes", hint)
        ok = False
    base_url = source.get("base_url")
    parts = urlsplit(base_url) if isinstance(base_url, str) else None
    if parts is None or parts.scheme not in {"http", "https"} or not parts.hostname:
        problems.add(
            "source.base_url",
            f"is {base_url!r}, which is not an http(s) URL",
            'Write the FHIR base URL, e.g. base_url = "https://fhir.agency.example/R4".',
        )
        ok = False
    elif parts.username or parts.password or parts.query or parts.fragment:
        problems.add(
            "source.base_url",
            "holds credentials, a query or a fragment",
            "Write only scheme, host and path; credentials go in [source.auth].",
        )
        ok = False
    search = source.get("search", "batch")
    if search not in {"batch", "get"}:
        problems.add(
            "source.search",
            f"is {search!r}",
            'Write "batch" (one batch Bundle per fetch, the default) or "get" (one GET per '
            "search, sent concurrently) for servers without batch.",
        )
        ok = False
    page_size = source.get("page_size", 500)
    if not _whole(page_size) or not 1 <= page_size <= 5000:
        problems.add(
            "source.page_size", f"is {page_size!r}", "Write a whole number from 1 to 5000."
        )
        ok = False
    cap = source.get("max_response_bytes", 10 * 1024 * 1024)
    if not _whole(cap) or cap < 1024:
        problems.add(
            "source.max_response_bytes", f"is {cap!r}", "Write a whole number of bytes >= 1024."
        )
        ok = False
    auth = None
    if "auth" in source:
        auth = parse_auth(source["auth"], config_dir, problems)
        ok = ok and auth is not None
    items = _parse_items(doc.get("items"), problems)
    if not ok or items is None:
        return None
    assert isinstance(base_url, str)
    return FhirSource(
        base_url=base_url.rstrip("/"),
        search=str(search),
        page_size=int(page_size),
        max_response_bytes=int(cap),
        auth=auth,
        items=items,
    )


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_PATH_FIX = (
    'Write a resource type and element names, e.g. "Patient.name.given", '
    '"Encounter.period.start" or '
    "\"Condition.code.coding.where(system='http://snomed.info/sct').code\" "
    "(docs/fhir-agencies.md lists what a path may hold)."
)


def _parse_items(raw: Any, problems: Problems) -> dict[str, ElementPath] | None:
    if not isinstance(raw, dict):
        return None
    items: dict[str, ElementPath] = {}
    type_of_set: dict[str, tuple[str, str]] = {}
    ok = True
    for item, target in raw.items():
        if item not in parsing_catalogue().items:
            ok = False  # the agency loader reports unknown items
            continue
        where = f'items."{item}"'
        if not isinstance(target, str):
            problems.add(where, f"is {target!r}, which is not a path", _PATH_FIX)
            ok = False
            continue
        try:
            path = parse_path(target)
        except PathError as exc:
            problems.add(where, f"is {target!r}, which {exc}", _PATH_FIX)
            ok = False
            continue
        rs = record_set_of(item)
        many = parsing_catalogue().record_sets_by_name[rs].many
        if not many and path.resource_type != "Patient":
            problems.add(
                where,
                f"belongs to {rs!r}, which has one row per person, but reads {path.resource_type}",
                'Map one-row record sets to Patient elements, e.g. "Patient.birthDate".',
            )
            ok = False
            continue
        if many and path.resource_type == "Patient":
            problems.add(
                where,
                f"belongs to {rs!r}, which has a row per resource, but reads Patient",
                "Map it to the resource type whose resources are its rows, e.g. "
                '"Encounter.period.start".',
            )
            ok = False
            continue
        first = type_of_set.setdefault(rs, (path.resource_type, item))
        if first[0] != path.resource_type:
            problems.add(
                where,
                f"reads {path.resource_type} but {first[1]!r} reads {first[0]}",
                "Map every item of one record set to the same resource type.",
            )
            ok = False
            continue
        items[item] = path
    return items if ok else None
