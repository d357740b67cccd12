"""OpenAPI descriptions of the bench's HTTP agencies, written from ``bench.world``.

What an integrator composing the agencies into a supergraph would write from the
agencies' API documentation: the people endpoint, its ``ids`` and ``fields`` query
parameters, and the JSON it answers (only the fields the agency publishes, each typed
from the catalogue item it carries). Built from the same ``Agency`` declarations the
sources serve, so the documents cannot drift from the endpoints.
"""

from __future__ import annotations

from typing import Any

from bench.world import AGENCIES, Agency, JsonList
from gateway.core.catalogue import ITEMS, ValueKind

_TYPES: dict[ValueKind, dict[str, str]] = {
    ValueKind.STRING: {"type": "string"},
    # The agencies answer ISO dates as text; a plain string keeps them as they came.
    ValueKind.DATE: {"type": "string"},
    ValueKind.INT: {"type": "integer"},
    ValueKind.FLOAT: {"type": "number"},
    ValueKind.BOOLEAN: {"type": "boolean"},
}


def _camel(text: str) -> str:
    parts = [p for p in text.replace("-", "_").split("_") if p]
    return parts[0] + "".join(p.title() for p in parts[1:])


def _pascal(text: str) -> str:
    camel = _camel(text)
    return camel[:1].upper() + camel[1:]


def operation_id(agency: Agency) -> str:
    """The people operation's id, which becomes its query field in the supergraph."""
    return _camel(agency.id.removeprefix("bench-")) + "People"


def schema_name(agency: Agency, part: JsonList | None = None) -> str:
    """The component schema of the agency's answer, or of one part of its person document."""
    base = _pascal(agency.id.removeprefix("bench-"))
    if part is None:
        return base + "Answer"
    return base + _pascal(part.key) + ("Item" if part.many else "")


def _part_schema(part: JsonList) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for field, item in part.fields:
        if item is None:
            continue
        properties[field] = {**_TYPES[ITEMS[item].kind], "nullable": True}
    return {"type": "object", "properties": properties}


def document(agency: Agency, base_url: str) -> dict[str, Any]:
    """The OpenAPI 3.0 document of one HTTP agency served at ``base_url``."""
    if agency.kind != "http":
        raise ValueError(f"{agency.id} is not an HTTP agency")
    person = schema_name(agency) + "Person"
    person_properties: dict[str, Any] = {agency.id_field: {"type": "string"}}
    schemas: dict[str, Any] = {}
    for part in agency.documents:
        name = schema_name(agency, part)
        schemas[name] = _part_schema(part)
        ref = {"$ref": f"#/components/schemas/{name}"}
        person_properties[part.key] = {"type": "array", "items": ref} if part.many else ref
    schemas[person] = {
        "type": "object",
        "required": [agency.id_field],
        "properties": person_properties,
    }
    schemas[schema_name(agency)] = {
        "type": "object",
        "required": [agency.results_key],
        "properties": {
            agency.results_key: {
                "type": "array",
                "items": {"$ref": f"#/components/schemas/{person}"},
            }
        },
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": agency.name, "version": "1.0.0"},
        "servers": [{"url": base_url}],
        "paths": {
            agency.path: {
                "get": {
                    "operationId": operation_id(agency),
                    "summary": "The agency's records about the people asked for.",
                    "parameters": [
                        {
                            "name": "ids",
                            "in": "query",
                            "required": True,
                            "description": "The agency's own ids of the people, comma-separated.",
                            "schema": {"type": "string"},
                        },
                        {
                            "name": "fields",
                            "in": "query",
                            "required": True,
                            "description": "The fields to answer, comma-separated paths "
                            "(e.g. care_team.lead,flags[].level).",
                            "schema": {"type": "string"},
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "The people found, each with the fields asked for.",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "$ref": f"#/components/schemas/{schema_name(agency)}"
                                    }
                                }
                            },
                        }
                    },
                }
            }
        },
        "components": {"schemas": schemas},
    }


def documents(urls: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Agency id -> its OpenAPI document, for every HTTP agency in ``urls``."""
    return {a.id: document(a, urls[a.id]) for a in AGENCIES if a.kind == "http" and a.id in urls}
