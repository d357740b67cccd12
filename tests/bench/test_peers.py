"""The peers' pieces that need neither Node nor a database server.

The OpenAPI documents Hive is composed from describe what the HTTP agencies answer;
the Hive query asks for every item they map; the normaliser puts the gateway's view
and the agencies' own JSON in one shape (and refuses what it cannot place); the
graphene + DataLoader peer answers the peer workload as the lower bound does, with one
call per agency however many people a request names.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from aiohttp import web
from graphql import OperationDefinitionNode, parse

from bench import lower_bound
from bench.peers import dataloader, hive, normalise, openapi
from bench.sources import HttpAgency, parse_fields
from bench.world import (
    AGENCIES,
    PEER_AGENCIES,
    PEER_QUERY,
    PEER_SELECTION,
    World,
    http_documents,
    people,
)
from fame_demo.community_api import project
from gateway.core.catalogue import ITEMS

HTTP = tuple(a for a in AGENCIES if a.kind == "http")
_JSON_TYPES = {"string": str, "integer": int, "number": (int, float), "boolean": bool}


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    target: dict[str, Any] = document["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return target


def _conforms(document: dict[str, Any], schema: dict[str, Any], value: Any, where: str) -> None:
    schema = _resolve(document, schema)
    if value is None:
        assert schema.get("nullable"), f"{where} is null but not nullable"
        return
    kind = schema["type"]
    if kind == "object":
        assert isinstance(value, dict), where
        assert set(schema.get("required", [])) <= set(value), where
        for key, cell in value.items():
            assert key in schema["properties"], f"{where}.{key} is not in the document"
            _conforms(document, schema["properties"][key], cell, f"{where}.{key}")
    elif kind == "array":
        assert isinstance(value, list), where
        for index, cell in enumerate(value):
            _conforms(document, schema["items"], cell, f"{where}[{index}]")
    else:
        assert isinstance(value, _JSON_TYPES[kind]) and not (
            kind != "boolean" and isinstance(value, bool)
        ), f"{where} is {value!r}, not {kind}"


@pytest.mark.parametrize("agency", HTTP, ids=lambda a: a.id)
def test_the_openapi_documents_describe_what_the_agencies_answer(agency: Any) -> None:
    document = openapi.document(agency, "http://127.0.0.1:1")
    assert document["servers"] == [{"url": "http://127.0.0.1:1"}]
    operation = document["paths"][agency.path]["get"]
    assert operation["operationId"] == openapi.operation_id(agency)
    assert {p["name"] for p in operation["parameters"]} == {"ids", "fields"}
    answer_schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    # Every mapped field is described, typed as its catalogue item is ...
    for part in agency.documents:
        described = _resolve(
            document,
            _resolve(document, answer_schema)["properties"][agency.results_key]["items"],
        )["properties"][part.key]
        fields = _resolve(document, described.get("items", described))["properties"]
        assert set(fields) == {field for field, item in part.fields if item is not None}
        for field, item in part.fields:
            if item is not None:
                expected = openapi._TYPES[ITEMS[item].kind]["type"]
                assert fields[field]["type"] == expected, f"{part.key}.{field}"
    # ... and what the agency answers for its people, projected as Hive asks, conforms.
    population = people(30, peers=2)
    projection = {agency.id_field: None, **parse_fields(hive.projection(agency))}
    answer = {
        agency.results_key: [
            project(doc, projection) for doc in http_documents(agency, population).values()
        ]
    }
    _conforms(document, answer_schema, orjson.loads(orjson.dumps(answer)), agency.id)


def test_the_hive_query_asks_for_every_mapped_field_of_each_agency() -> None:
    agencies = [a for a in AGENCIES if a.id in PEER_AGENCIES]
    document = parse(hive.query(agencies))
    (operation,) = document.definitions
    assert isinstance(operation, OperationDefinitionNode)
    roots = {
        (f.alias.value if f.alias else "", f.name.value): f
        for f in operation.selection_set.selections  # type: ignore[misc]
    }
    assert {alias for alias, _ in roots} == {hive.subgraph_name(a) for a in agencies}
    person = people(0, peers=1)[0]
    variables = hive.variables(person, agencies)
    declared = {d.variable.name.value for d in operation.variable_definitions}
    assert declared == set(variables)
    asked = sum(len(a.items) for a in agencies)
    assert asked == 28  # the figure the comparison is about
    for agency in agencies:
        assert set(hive.projection(agency).split(",")) == set(agency.items.values())


def test_the_peer_view_asks_for_every_item_of_the_peer_agencies() -> None:
    items = {item for a in AGENCIES if a.id in PEER_AGENCIES for item in a.items}
    graphql_names = {ITEMS[item].graphql_name for item in items}
    words = set(PEER_SELECTION.replace("{", " ").replace("}", " ").split())
    assert graphql_names <= words


_VIEW = {
    "id": "p1",
    "involvements": [
        {"agency": {"id": "bench-housing", "name": "H"}, "team": "a", "worker": "w"},
        {"agency": {"id": "bench-community-health", "name": "C"}, "team": "b", "worker": None},
    ],
    "alerts": [
        {"agency": {"id": "bench-housing", "name": "H"}, "category": "x", "raisedOn": "2025-01-02"},
        {"agency": {"id": "bench-housing", "name": "H"}, "category": "y", "raisedOn": "2025-02-03"},
    ],
    "housing": {
        "tenancies": [{"agency": {"id": "bench-housing", "name": "H"}, "rentArrearsWeeks": 3}]
    },
}
_AGENCIES = {
    "community_health": {
        "people": [{"id": "CH-1", "care_team": {"team": "b", "lead": None}, "flags": []}]
    },
    "housing": {
        "results": [
            {
                "ref": "T1",
                "officer": {"patch": "a", "name": "w"},
                "alerts": [
                    {"code": "x", "raised": "2025-01-02"},
                    {"code": "y", "raised": "2025-02-03"},
                ],
                "tenancies": [{"arrears_weeks": 3}],
            }
        ]
    },
}


def test_the_normaliser_puts_both_shapes_in_one() -> None:
    view = normalise.from_view(_VIEW)
    assert view == normalise.from_agencies(_AGENCIES)
    assert normalise.values(view) == 4 + 4 + 1
    assert [agency for agency, _ in view["involvement"]] == [
        "bench-community-health",
        "bench-housing",
    ]


def test_the_normaliser_sees_a_different_value_or_order() -> None:
    changed = orjson.loads(orjson.dumps(_AGENCIES))
    changed["housing"]["results"][0]["tenancies"][0]["arrears_weeks"] = 4
    assert normalise.from_agencies(changed) != normalise.from_view(_VIEW)
    swapped = orjson.loads(orjson.dumps(_AGENCIES))
    swapped["housing"]["results"][0]["alerts"].reverse()
    assert normalise.from_agencies(swapped) != normalise.from_view(_VIEW)


def test_the_normaliser_refuses_what_it_cannot_place() -> None:
    with pytest.raises(normalise.UnknownField):
        normalise.from_view({**_VIEW, "knownTo": [{"id": "bench-housing"}]})
    with pytest.raises(normalise.UnknownField):
        normalise.from_view({"alerts": [{"agency": {"id": "a"}, "colour": "red"}]})
    with pytest.raises(normalise.UnknownField):
        normalise.from_agencies({"housing": {"results": [{"ref": "T1", "notes": {}}]}})
    with pytest.raises(normalise.UnknownField):
        normalise.from_agencies({"library": {}})


@contextlib.asynccontextmanager
async def http_agencies(
    population: list[Any],
) -> AsyncIterator[dict[str, tuple[HttpAgency, str]]]:
    """The HTTP agencies on 127.0.0.1: agency id -> (the agency, its base URL)."""
    runners = []
    served = {}
    try:
        for agency in HTTP:
            server = HttpAgency(agency, population)
            runner = web.AppRunner(server.app, shutdown_timeout=0.5)
            await runner.setup()
            runners.append(runner)
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            served[agency.id] = (server, f"http://127.0.0.1:{runner.addresses[0][1]}")
        yield served
    finally:
        for runner in runners:
            await runner.cleanup()


async def _data(client: httpx.AsyncClient, query: str, variables: dict[str, Any]) -> Any:
    response = await client.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    body = response.json()
    assert not body.get("errors"), body
    return body["data"]


async def test_the_dataloader_peer_answers_as_the_lower_bound_with_one_call_per_agency() -> None:
    population = people(0, peers=3)
    async with http_agencies(population) as served:
        world = World(dsns={}, urls={k: url for k, (_, url) in served.items()}, people=population)
        apps = [lower_bound.create_app(world), dataloader.create_app(world)]
        async with (
            apps[0].router.lifespan_context(apps[0]),
            apps[1].router.lifespan_context(apps[1]),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=apps[0]), base_url="http://l"
            ) as lb,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=apps[1]), base_url="http://d"
            ) as dl,
        ):
            for person in population:
                expected = await _data(lb, PEER_QUERY, {"id": person.id})
                assert expected["person"]["involvements"]
                assert await _data(dl, PEER_QUERY, {"id": person.id}) == expected
            # Three people in one request: still one call to each agency.
            selection = PEER_QUERY[PEER_QUERY.index("{ person") + len("{ person(id: $id) ") : -2]
            three = "query { %s }" % " ".join(
                f'p{i}: person(id: "{p.id}") {selection}' for i, p in enumerate(population)
            )
            before = {k: server.calls for k, (server, _) in served.items()}
            data = await _data(dl, three, {})
            assert [data[f"p{i}"]["id"] for i in range(3)] == [p.id for p in population]
            assert {k: server.calls - before[k] for k, (server, _) in served.items()} == {
                a.id: 1 for a in HTTP
            }
