"""The resources a demo FHIR R4 server holds, and the searches it answers over them.

Every resource is validated with ``fhir.resources`` (its R4B models, which agree with
R4 for the types served here) when the store is built, so a test cannot pass on a
resource a real server would refuse. Searches are strict, as a server in
``handling=strict`` mode is: an unknown parameter or ``_elements`` name is a 400.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fhir.resources.R4B import get_fhir_model_class

#: The resource types the demo server holds and searches.
RESOURCE_TYPES = ("Patient", "Encounter", "Condition", "Observation", "CarePlan", "EpisodeOfCare")

#: The element holding each type's patient reference (search parameter ``patient``).
PATIENT_REFERENCE = {
    "Encounter": "subject",
    "Condition": "subject",
    "Observation": "subject",
    "CarePlan": "subject",
    "EpisodeOfCare": "patient",
}

#: Date search parameters: (type, parameter) -> the element (choice base) it searches.
DATE_SEARCHES = {
    ("Encounter", "date"): "period",
    ("Observation", "date"): "effective",
    ("CarePlan", "date"): "period",
    ("EpisodeOfCare", "date"): "period",
    ("Condition", "onset-date"): "onset",
    ("Condition", "recorded-date"): "recordedDate",
}

_ALWAYS = ("resourceType", "id", "meta")
#: The type suffixes of R4's choice elements in the types served, longest first.
_CHOICE_SUFFIXES = (
    "CodeableConcept",
    "SampledData",
    "DateTime",
    "Quantity",
    "Boolean",
    "Instant",
    "Integer",
    "Period",
    "Timing",
    "String",
    "Range",
    "Ratio",
    "Time",
    "Age",
)
_SUBSETTED = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "SUBSETTED",
}


class SearchError(ValueError):
    """A search the server refuses with 400 (the message goes in an OperationOutcome)."""


def validate(resource: Mapping[str, Any]) -> None:
    """Raise if ``resource`` is not a valid R4 resource of a type the server holds."""
    resource_type = resource.get("resourceType")
    if resource_type not in RESOURCE_TYPES:
        raise ValueError(f"the demo FHIR server does not hold {resource_type!r} resources")
    if not isinstance(resource.get("id"), str):
        raise ValueError(f"a {resource_type} needs an id")
    get_fhir_model_class(str(resource_type)).model_validate(dict(resource))


def element_names(resource_type: str) -> frozenset[str]:
    """The top-level element names of a type, as ``_elements`` may name them (choice
    elements by base name as well as by their typed names)."""
    names = set(get_fhir_model_class(resource_type).elements_sequence())
    for name in list(names):
        for suffix in _CHOICE_SUFFIXES:
            if name.endswith(suffix) and len(name) > len(suffix):
                names.add(name[: -len(suffix)])
                break
    return frozenset(names)


@dataclass(frozen=True)
class Page:
    """One page of a search: the matching resources (projected) and the next page's query."""

    resources: tuple[dict[str, Any], ...]
    total: int
    next_query: str | None


class FhirStore:
    """Validated resources by type and id, searched the way the fhir connector searches."""

    def __init__(self, resources: Iterable[Mapping[str, Any]]) -> None:
        self._by_type: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in RESOURCE_TYPES}
        for resource in resources:
            validate(resource)
            self._by_type[str(resource["resourceType"])][str(resource["id"])] = dict(resource)
        self._elements = {t: element_names(t) for t in RESOURCE_TYPES}

    def all(self, resource_type: str) -> list[dict[str, Any]]:
        """Every resource of a type, in insertion order."""
        return list(self._by_type[resource_type].values())

    def search(self, resource_type: str, params: Sequence[tuple[str, str]]) -> Page:
        """Answer ``GET [base]/<type>?params``; raise SearchError for what it cannot answer."""
        if resource_type not in self._by_type:
            raise SearchError(f"this server holds no {resource_type} resources")
        count, offset, elements = 100, 0, None
        matches = self.all(resource_type)
        for name, value in params:
            if name == "_count":
                count = _whole(name, value)
            elif name == "_offset":
                offset = _whole(name, value)
            elif name == "_elements":
                elements = self._check_elements(resource_type, value)
            else:
                keep = self._predicate(resource_type, name, value)
                matches = [r for r in matches if keep(r)]
        page = matches[offset : offset + count]
        following = None
        if offset + count < len(matches):
            kept = [(n, v) for n, v in params if n != "_offset"]
            following = urlencode([*kept, ("_offset", str(offset + count))], safe=",|:/")
        return Page(
            resources=tuple(_project(r, elements) for r in page),
            total=len(matches),
            next_query=following,
        )

    def _check_elements(self, resource_type: str, value: str) -> frozenset[str]:
        names = frozenset(part.strip() for part in value.split(",") if part.strip())
        unknown = sorted(names - self._elements[resource_type])
        if unknown:
            raise SearchError(
                f"_elements names {', '.join(unknown)}, not elements of {resource_type}"
            )
        return names

    def _predicate(
        self, resource_type: str, name: str, value: str
    ) -> Callable[[Mapping[str, Any]], bool]:
        """Which resources one search parameter keeps (repeated parameters are ANDed)."""
        if resource_type == "Patient" and name == "identifier":
            tokens = _tokens(value)
            return lambda r: bool(_identifiers(r) & tokens)
        if resource_type == "Patient" and name == "_id":
            ids = set(value.split(","))
            return lambda r: r["id"] in ids
        if resource_type != "Patient" and name in {"patient", "subject"}:
            wanted = {ref if "/" in ref else f"Patient/{ref}" for ref in value.split(",")}
            return lambda r: _patient_of(resource_type, r) in wanted
        if resource_type != "Patient" and name in {"patient.identifier", "subject.identifier"}:
            # Chained: the resources of the patients holding one of these identifiers.
            tokens = _tokens(value)
            owners = {f"Patient/{p['id']}" for p in self.all("Patient") if _identifiers(p) & tokens}
            return lambda r: _patient_of(resource_type, r) in owners
        element = DATE_SEARCHES.get((resource_type, name))
        if element is not None:
            _date_matches({}, element, value)  # refuses a malformed value even with no resources
            return lambda r: _date_matches(r, element, value)
        raise SearchError(f"{name} is not a search parameter of {resource_type} on this server")


def _whole(name: str, value: str) -> int:
    if not value.isdigit():
        raise SearchError(f"{name} must be a whole number")
    return int(value)


def _tokens(value: str) -> set[tuple[str | None, str]]:
    tokens: set[tuple[str | None, str]] = set()
    for part in value.split(","):
        system, bar, code = part.partition("|")
        tokens.add((system, code) if bar else (None, part))
    return tokens


def _identifiers(resource: Mapping[str, Any]) -> set[tuple[str | None, str]]:
    held: set[tuple[str | None, str]] = set()
    for identifier in resource.get("identifier") or []:
        held.add((identifier.get("system"), identifier.get("value")))
        held.add((None, identifier.get("value")))
    return held


def _patient_of(resource_type: str, resource: Mapping[str, Any]) -> str | None:
    reference = (resource.get(PATIENT_REFERENCE[resource_type]) or {}).get("reference")
    return str(reference) if reference else None


def _interval(resource: Mapping[str, Any], element: str) -> tuple[str, str] | None:
    """The element's dates as (earliest, latest) ISO days; open ends are far away."""
    value = resource.get(element)
    for suffix in ("DateTime", "Period"):
        if value is None:
            value = resource.get(element + suffix)
    if isinstance(value, str):
        return value[:10], value[:10]
    if isinstance(value, dict) and (value.get("start") or value.get("end")):
        return str(value.get("start") or "0001-01-01")[:10], str(value.get("end") or "9999-12-31")[
            :10
        ]
    return None


def _date_matches(resource: Mapping[str, Any], element: str, value: str) -> bool:
    prefix, day = (value[:2], value[2:]) if value[:2].isalpha() else ("eq", value)
    day = day[:10]
    if len(day) != 10 or not day[:4].isdigit():
        raise SearchError(f"{value!r} is not a date search value (e.g. ge2025-01-31)")
    if prefix not in {"ge", "gt", "le", "lt", "eq"}:
        raise SearchError(f"date prefix {prefix!r} is not supported (use ge, gt, le, lt or eq)")
    interval = _interval(resource, element)
    if interval is None:
        return False
    low, high = interval
    tests = {
        "ge": high >= day,
        "gt": high > day,
        "le": low <= day,
        "lt": low < day,
        "eq": low <= day <= high,
    }
    return tests[prefix]


def _project(resource: Mapping[str, Any], elements: frozenset[str] | None) -> dict[str, Any]:
    if elements is None:
        return dict(resource)
    kept: dict[str, Any] = {}
    for key, value in resource.items():
        base = next(
            (
                key[: -len(s)]
                for s in _CHOICE_SUFFIXES
                if key.endswith(s) and key[: -len(s)] in elements
            ),
            None,
        )
        if key in _ALWAYS or key in elements or base is not None:
            kept[key] = value
    meta = dict(kept.get("meta") or {})
    meta["tag"] = [*meta.get("tag", []), _SUBSETTED]
    kept["meta"] = meta
    return kept
