"""FHIR element paths: the small, strictly checked subset of FHIRPath a ``fhir`` agency file maps
catalogue items with, and the R4 resource types the connector reads.

A path starts with a resource type and names elements, as FHIRPath does over JSON::

    Patient.name.given                      every given name (the first is the value)
    Patient.name.where(use='official').family
    Condition.code.coding.where(system='http://snomed.info/sct').code
    Condition.onset                         a choice element, of whichever type it has
    Condition.onsetDateTime                 ... or only when it is a dateTime
    Patient.name.given.join(' ')            all the values, joined by the separator
    Encounter.participant.individual.display.first()

Steps are element names (``[a-z][A-Za-z0-9]*``), ``where(<element>='<text>')`` keeping
the nodes whose element equals the text, ``first()``, and at the end ``join('<sep>')``.
Lists are flattened at every step, as in FHIRPath; an item's value is the first value
the path reaches unless the path ends in ``join``. Nothing else of FHIRPath is accepted,
so that every path the gateway takes can be read, checked and evaluated without a
FHIRPath engine, and a typo is a configuration error rather than an empty column.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


#: Top-level elements per supported resource type (FHIR R4). A name listed in
#: ``CHOICES`` is a choice element (``onset[x]``), written in JSON with its type suffix.
#: ``contained`` is left out on purpose: references into contained resources are not followed.
ELEMENTS: Mapping[str, frozenset[str]] = {
    "Patient": _names(
        "id meta implicitRules language text extension modifierExtension identifier active "
        "name telecom gender birthDate deceased address maritalStatus multipleBirth photo "
        "contact communication generalPractitioner managingOrganization link"
    ),
    "Encounter": _names(
        "id meta implicitRules language text extension modifierExtension identifier status "
        "statusHistory class classHistory type serviceType priority subject episodeOfCare "
        "basedOn participant appointment period length reasonCode reasonReference diagnosis "
        "account hospitalization location serviceProvider partOf"
    ),
    "Condition": _names(
        "id meta implicitRules language text extension modifierExtension identifier "
        "clinicalStatus verificationStatus category severity code bodySite subject encounter "
        "onset abatement recordedDate recorder asserter stage evidence note"
    ),
    "Observation": _names(
        "id meta implicitRules language text extension modifierExtension identifier basedOn "
        "partOf status category code subject focus encounter effective issued performer value "
        "dataAbsentReason interpretation note bodySite method specimen device referenceRange "
        "hasMember derivedFrom component"
    ),
    "CarePlan": _names(
        "id meta implicitRules language text extension modifierExtension identifier "
        "instantiatesCanonical instantiatesUri basedOn replaces partOf status intent category "
        "title description subject encounter period created author contributor careTeam "
        "addresses supportingInfo goal activity note"
    ),
    "EpisodeOfCare": _names(
        "id meta implicitRules language text extension modifierExtension identifier status "
        "statusHistory type diagnosis patient managingOrganization period referralRequest "
        "careManager team account"
    ),
}

#: Choice elements at the top level: base name -> the type suffixes R4 allows.
CHOICES: Mapping[str, Mapping[str, tuple[str, ...]]] = {
    "Patient": {"deceased": ("Boolean", "DateTime"), "multipleBirth": ("Boolean", "Integer")},
    "Condition": {
        "onset": ("DateTime", "Age", "Period", "Range", "String"),
        "abatement": ("DateTime", "Age", "Period", "Range", "String"),
    },
    "Observation": {
        "effective": ("DateTime", "Period", "Timing", "Instant"),
        "value": (
            "Quantity",
            "CodeableConcept",
            "String",
            "Boolean",
            "Integer",
            "Range",
            "Ratio",
            "SampledData",
            "Time",
            "DateTime",
            "Period",
        ),
    },
}

#: The element of each non-Patient type that references its patient, and so links a
#: row to a person; the search parameter ``patient`` follows it.
PATIENT_ELEMENT: Mapping[str, str] = {
    "Encounter": "subject",
    "Condition": "subject",
    "Observation": "subject",
    "CarePlan": "subject",
    "EpisodeOfCare": "patient",
}

#: (resource type, top-level element) -> the R4 date search parameter over that element.
#: A date range is sent to the server only where the mapped date lies in such an element;
#: it is always applied again to the rows, so the server's filter only saves transfer.
DATE_PARAMS: Mapping[tuple[str, str], str] = {
    ("Encounter", "period"): "date",
    ("Observation", "effective"): "date",
    ("CarePlan", "period"): "date",
    ("EpisodeOfCare", "period"): "date",
    ("Condition", "onset"): "onset-date",
    ("Condition", "recordedDate"): "recorded-date",
}

#: Type suffixes a choice element deeper than the top level may carry in JSON.
_TYPE_SUFFIXES = _names(
    "Address Age Annotation Attachment Base64Binary Boolean Canonical Code CodeableConcept "
    "Coding ContactPoint Count Date DateTime Decimal Distance Duration HumanName Id "
    "Identifier Instant Integer Markdown Money Oid Period PositiveInt Quantity Range Ratio "
    "Reference SampledData Signature String Time Timing UnsignedInt Uri Url Uuid"
)

_NAME = re.compile(r"[a-z][A-Za-z0-9]*")
_TYPE = re.compile(r"[A-Z][A-Za-z]*")
_WHERE = re.compile(r"where\(([a-z][A-Za-z0-9]*)\s*=\s*'([^'\\]*)'\)")
_JOIN = re.compile(r"join\('([^'\\]*)'\)")


class PathError(ValueError):
    """A path the subset does not accept; the message says what to write instead."""


@dataclass(frozen=True)
class Step:
    """One step of a path: an element (``name``), a filter (``where``) or ``first()``."""

    kind: str  # "element", "where" or "first"
    name: str = ""
    value: str = ""


@dataclass(frozen=True)
class ElementPath:
    """A parsed path: its resource type, its steps and an optional ``join`` separator.

    ``element`` is the top-level element the path starts in, as ``_elements`` names it
    (a choice element by its base name, ``onset`` for ``onsetDateTime``).
    """

    raw: str
    resource_type: str
    element: str
    steps: tuple[Step, ...]
    join: str | None = None

    def value(self, resource: Mapping[str, Any]) -> object:
        """The path's value in one resource (a JSON object): its first value, or the join."""
        nodes = evaluate(resource, self)
        if self.join is not None:
            parts = [str(node) for node in nodes if not isinstance(node, dict | list)]
            return self.join.join(parts) if parts else None
        return nodes[0] if nodes else None


def _split(raw: str) -> list[str]:
    """Split on dots outside quotes and parentheses."""
    parts: list[str] = []
    depth, quoted, start = 0, False, 0
    for position, char in enumerate(raw):
        if char == "'":
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        elif not quoted and depth == 0 and char == ".":
            parts.append(raw[start:position])
            start = position + 1
    parts.append(raw[start:])
    if quoted or depth:
        raise PathError("has an unclosed quote or parenthesis")
    return parts


def parse_path(raw: str) -> ElementPath:
    """Parse and check one path; raise PathError saying what is wrong."""
    parts = _split(raw.strip())
    resource_type, steps_text = parts[0], parts[1:]
    if not _TYPE.fullmatch(resource_type):
        raise PathError("does not start with a resource type, e.g. Patient or Encounter")
    if resource_type not in ELEMENTS:
        raise PathError(
            f"starts with {resource_type!r}, which the fhir connector does not read "
            f"(it reads {', '.join(sorted(ELEMENTS))})"
        )
    if not steps_text:
        raise PathError(f"names no element of {resource_type}")
    first = steps_text[0]
    if not _NAME.fullmatch(first):
        raise PathError(f"must name an element of {resource_type} after the type, not {first!r}")
    element = _top_element(resource_type, first)
    steps: list[Step] = []
    join: str | None = None
    for position, text in enumerate(steps_text):
        last = position == len(steps_text) - 1
        if _NAME.fullmatch(text):
            steps.append(Step("element", name=text))
        elif match := _WHERE.fullmatch(text):
            if position == 0:
                raise PathError("starts with where(): name an element first")
            steps.append(Step("where", name=match[1], value=match[2]))
        elif text == "first()":
            steps.append(Step("first"))
        elif match := _JOIN.fullmatch(text):
            if not last:
                raise PathError("has join(...) before its end: join only the final values")
            join = match[1]
        else:
            raise PathError(
                f"has the step {text!r}, which is not an element name, where(<element>='<text>'), "
                "first() or a final join('<separator>')"
            )
    return ElementPath(
        raw=raw, resource_type=resource_type, element=element, steps=tuple(steps), join=join
    )


def _top_element(resource_type: str, name: str) -> str:
    if name in ELEMENTS[resource_type]:
        return name
    for base, suffixes in CHOICES.get(resource_type, {}).items():
        if name.startswith(base) and name[len(base) :] in suffixes:
            return base
    known = ", ".join(sorted(ELEMENTS[resource_type]))
    raise PathError(f"names {name!r}, which is not an element of {resource_type} (it has {known})")


def evaluate(resource: Mapping[str, Any], path: ElementPath) -> list[object]:
    """The collection a path reaches in one resource, lists flattened at every step."""
    nodes: list[object] = [resource]
    for step in path.steps:
        if step.kind == "element":
            nodes = [value for node in nodes for value in _child(node, step.name)]
        elif step.kind == "where":
            nodes = [
                node
                for node in nodes
                if isinstance(node, dict) and step.value in _as_strings(_child(node, step.name))
            ]
        else:
            nodes = nodes[:1]
    return nodes


def _child(node: object, name: str) -> list[object]:
    if not isinstance(node, dict):
        return []
    value = node.get(name)
    if value is None:
        # A choice element: FHIRPath names it by its base, JSON with the type suffix.
        for suffix in _TYPE_SUFFIXES:
            value = node.get(name + suffix)
            if value is not None:
                break
    if value is None:
        return []
    return [v for v in value if v is not None] if isinstance(value, list) else [value]


def _as_strings(values: list[object]) -> set[str]:
    return {str(value) for value in values if not isinstance(value, dict | list | bool)}
