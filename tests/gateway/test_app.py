"""The HTTP face: bad and hostile requests get precise errors, and the gateway stays up."""

from __future__ import annotations

import json
from pathlib import Path

from gateway.governance.state_db import StateDatabase
from tests.support import World

PERSON = '{ person(id: "%s") { demographics { familyName } } }'


async def _post_raw(
    world: World, content: bytes, content_type: str = "application/json"
) -> tuple[int, dict]:  # type: ignore[type-arg]
    assert world.client is not None
    response = await world.client.post(
        "/graphql",
        content=content,
        headers={
            "Authorization": f"Bearer {world.token('sw-patel')}",
            "Content-Type": content_type,
        },
    )
    return response.status_code, response.json()


async def _still_serving(world: World) -> None:
    result = await world.query(PERSON % world.person_id(0))
    assert result["data"]["person"]["demographics"]["familyName"]


async def test_malformed_requests_get_400s_with_a_reason(world: World) -> None:
    cases = [
        (b"{not json", "application/json", 400, "not valid JSON"),
        (b"[1, 2]", "application/json", 400, "must be a JSON object"),
        (b"{}", "application/json", 400, 'no "query"'),
        (
            json.dumps({"query": "{ me { agency } }", "variables": [1]}).encode(),
            "application/json",
            400,
            '"variables"',
        ),
        (b"query=1", "application/x-www-form-urlencoded", 415, "application/json"),
        (json.dumps({"query": "{ me { "}).encode(), "application/json", 400, "Syntax Error"),
        (
            json.dumps({"query": "{ nobody }"}).encode(),
            "application/json",
            400,
            "Cannot query field 'nobody'",
        ),
    ]
    for content, content_type, status, text in cases:
        got_status, body = await _post_raw(world, content, content_type)
        assert got_status == status, (content, body)
        assert any(text in error["message"] for error in body["errors"]), (text, body)
    await _still_serving(world)


async def test_an_oversized_body_is_refused_before_parsing(world: World) -> None:
    assert world.client is not None
    padding = " " * 70_000
    response = await world.client.post(
        "/graphql",
        content=json.dumps({"query": "{ me { agency } }" + padding}),
        headers={
            "Authorization": f"Bearer {world.token('sw-patel')}",
            "Content-Type": "application/json",
        },
    )
    assert response.status_code == 413
    assert response.text == "Content Too Large"
    await _still_serving(world)


async def test_hostile_documents_are_rejected_by_limits(world: World) -> None:
    deep = "{ " + "person(id: 1) { " * 12 + "id" + " }" * 12 + " }"
    aliases = "{ " + " ".join(f"a{i}: me {{ agency }}" for i in range(40)) + " }"
    fragments = (
        'query Q { person(id: "x") { ...A } } '
        "fragment A on Person { ...B ...B ...B ...B ...B ...B ...B ...B } "
        "fragment B on Person { ...C ...C ...C ...C ...C ...C ...C ...C } "
        "fragment C on Person { ...D ...D ...D ...D ...D ...D ...D ...D } "
        "fragment D on Person { id knownTo { id name } demographics { familyName } }"
    )
    cycle = (
        'query Q { person(id: "x") { ...A } } '
        "fragment A on Person { ...B } fragment B on Person { ...A }"
    )
    for query, code in (
        (deep, "QUERY_TOO_DEEP"),
        (aliases, "TOO_MANY_ALIASES"),
        (fragments, "QUERY_TOO_COSTLY"),
    ):
        status, body = await _post_raw(world, json.dumps({"query": query}).encode())
        assert status == 400, body
        assert body["errors"][0]["extensions"]["code"] == code, body
    status, body = await _post_raw(world, json.dumps({"query": cycle}).encode())
    assert status == 400
    assert body["errors"][0]["extensions"]["code"] == "FRAGMENT_CYCLE", body
    assert "fragment A spreads itself" in body["errors"][0]["message"]
    await _still_serving(world)


async def test_a_pathologically_nested_document_is_an_error_not_a_crash(world: World) -> None:
    status, body = await _post_raw(
        world, json.dumps({"query": "{ a " * 5000 + "}" * 5000}).encode()
    )
    assert status == 400
    assert body["errors"]
    await _still_serving(world)


async def test_an_unknown_person_is_null_with_one_not_found_error(world: World) -> None:
    result = await world.query(PERSON % "no-such-person")
    assert result["data"] == {"person": None}
    (error,) = result["errors"]
    assert error["path"] == ["person"] and error["extensions"] == {"code": "NOT_FOUND"}


async def test_caseload_paging_is_bounded(world: World) -> None:
    result = await world.query("{ caseload(first: 100000) { id } }")
    assert result["data"] is None
    assert "first must be from 1 to" in result["errors"][0]["message"]
    first = await world.query("{ caseload(first: 4) { id } }")
    second = await world.query("{ caseload(first: 4, offset: 4) { id } }")
    ids = [p["id"] for p in first["data"]["caseload"] + second["data"]["caseload"]]
    assert len(ids) == len(set(ids)) == 8


async def test_health_and_graphiql(world: World) -> None:
    assert world.client is not None
    health = await world.client.get("/healthz")
    assert health.json() == {"status": "ok"}
    page = await world.client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "GraphiQL" in page.text
    no_query = await world.client.get(
        "/graphql", headers={"Authorization": f"Bearer {world.token('sw-patel')}"}
    )
    assert no_query.status_code == 400
    assert 'no "query"' in no_query.json()["errors"][0]["message"]


async def test_readyz_needs_the_state_database_not_every_agency(
    world: World, tmp_path: Path
) -> None:
    assert world.client is not None and world.gateway is not None
    await world.trust.stop()
    ready = await world.client.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ready" and body["stateDatabase"] == {"ok": True}
    assert set(body["agencies"]) == {a.id for a in world.gateway.settings.agencies}
    assert body["agencies"]["riverside-gp"] == {"status": "ok", "circuit": "closed", "inFlight": 0}

    working = world.gateway.state
    world.gateway.state = StateDatabase(
        f"sqlite+aiosqlite:///{tmp_path / 'no-such-directory' / 'state.sqlite'}"
    )
    try:
        down = await world.client.get("/readyz")
    finally:
        await world.gateway.state.dispose()
        world.gateway.state = working
    assert down.status_code == 503
    assert down.json()["status"] == "not_ready"
    assert down.json()["stateDatabase"]["ok"] is False
    assert "did not answer" in down.json()["stateDatabase"]["detail"]
    health = await world.client.get("/healthz")
    assert health.status_code == 200, "the process itself is alive"


async def test_sources_extension_reports_each_agency(world: World) -> None:
    result = await world.query(
        '{ person(id: "%s") { involvements { team agency { id } } } }' % world.person_id(0)
    )
    sources = result["extensions"]["sources"]
    assert set(sources) == {
        "shire-adult-social-care",
        "shire-community-health",
        "shire-housing",
        "riverside-gp",
    }
    for entry in sources.values():
        assert entry["status"] == "ok" and entry["calls"] == 1 and entry["ms"] >= 0
