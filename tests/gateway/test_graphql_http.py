"""GraphQL over HTTP as the specification says: GET for queries, Accept negotiation and the
status codes that go with it, a code on every error, CORS for listed origins only, security
headers, and trusted documents registered by hash."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson
import pytest

from fame_demo.synthetic import Population
from gateway.cli import main
from gateway.edge.documents import read_manifest
from tests.support import World

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
ME = "{ me { agency } }"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


async def _post(
    world: World,
    body: dict[str, Any],
    *,
    accept: str | None = GRAPHQL_RESPONSE,
    token: bool = True,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    assert world.client is not None
    sent = {"Content-Type": JSON, **(headers or {})}
    if token:
        sent["Authorization"] = f"Bearer {world.token('sw-patel')}"
    request = world.client.build_request("POST", "/graphql", content=orjson.dumps(body))
    request.headers.update(sent)
    if accept is None:
        del request.headers["Accept"]
    else:
        request.headers["Accept"] = accept
    return await world.client.send(request)


async def _get(
    world: World, params: dict[str, str], *, accept: str = GRAPHQL_RESPONSE, token: bool = True
) -> httpx.Response:
    assert world.client is not None
    headers = {"Accept": accept}
    if token:
        headers["Authorization"] = f"Bearer {world.token('sw-patel')}"
    return await world.client.get(f"/graphql?{urlencode(params)}", headers=headers)


@contextlib.asynccontextmanager
async def _world(
    root: Path, population: Population, store_dir: Path, edits: dict[str, str]
) -> AsyncIterator[World]:
    running = World(root, population, store_dir)
    try:
        yield await running.start(settings_edits=edits)
    finally:
        await running.stop()


# --------------------------------------------------------------------------- GET


async def test_get_runs_a_query_with_url_encoded_variables_and_operation_name(
    world: World,
) -> None:
    person = world.person_id(0)
    response = await _get(
        world,
        {
            "query": "query Other { me { agency } } "
            "query Person($id: ID!) { person(id: $id) { demographics { familyName } } }",
            "variables": json.dumps({"id": person}),
            "operationName": "Person",
            "extensions": json.dumps({}),
        },
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == GRAPHQL_RESPONSE
    assert response.json()["data"]["person"]["demographics"]["familyName"]


async def test_get_never_runs_a_mutation(world: World) -> None:
    claim = (
        'mutation { claimSafeguarding(personId: "%s", reason: "neighbour reports bruising '
        'twice this week", reference: "S42-2026-00123") { purpose } }' % world.person_id(0)
    )
    response = await _get(world, {"query": claim})
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == "POST"
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "METHOD_NOT_ALLOWED"
    assert "POST" in error["message"]
    # Nothing was claimed: the same claim (a repeated reason is refused) is new to POST.
    posted = await _post(world, {"query": claim})
    assert posted.status_code == 200, posted.text
    assert posted.json()["data"]["claimSafeguarding"]["purpose"] == "safeguarding", posted.text


async def test_authentication_comes_before_anything_is_read(world: World) -> None:
    for response in (
        await _get(world, {"query": "{ me {"}, token=False),
        await _post(world, {"query": "{ me {"}, token=False),
        await _post(
            world,
            {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}},
            token=False,
        ),
    ):
        assert response.status_code == 401
        assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_the_page_still_answers_a_browser(world: World) -> None:
    assert world.client is not None
    page = await world.client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")


# --------------------------------------------------------------------------- Accept


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        (JSON, JSON),
        (f"{GRAPHQL_RESPONSE}, {JSON};q=0.9", GRAPHQL_RESPONSE),
        (f"{JSON}, {GRAPHQL_RESPONSE};q=0.5", GRAPHQL_RESPONSE),
        ("*/*", JSON),
        ("application/*", JSON),
        (None, JSON),
        (f"{JSON};q=0, */*", GRAPHQL_RESPONSE),
        ("text/html;q=0.9, application/json; charset=utf-8", JSON),
        ("text/plain", None),
        (f"{GRAPHQL_RESPONSE};q=0, {JSON};q=0", None),
    ],
)
async def test_accept_chooses_the_media_type(
    world: World, accept: str | None, chosen: str | None
) -> None:
    response = await _post(world, {"query": ME}, accept=accept)
    if chosen is None:
        assert response.status_code == 406
        assert response.json()["errors"][0]["extensions"]["code"] == "NOT_ACCEPTABLE"
        return
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == chosen
    assert response.json()["data"] == {"me": {"agency": "shire-adult-social-care"}}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"query": "{"}, "GRAPHQL_PARSE_FAILED"),
        ({"query": "{ nobody }"}, "GRAPHQL_VALIDATION_FAILED"),
        (
            {"query": "query($id: ID!) { person(id: $id) { id } }", "variables": {"id": None}},
            "BAD_USER_INPUT",
        ),
        ({"query": "query A { __typename } query B { __typename }"}, "BAD_REQUEST"),
        ({"query": "{ " + "__typename " * 9 + "}"}, "QUERY_TOO_COSTLY"),
        (
            {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}},
            "PERSISTED_QUERY_NOT_FOUND",
        ),
    ],
)
async def test_request_errors_are_400_for_new_clients_and_200_for_legacy_ones(
    world: World, body: dict[str, Any], code: str
) -> None:
    for accept, status in ((GRAPHQL_RESPONSE, 400), (JSON, 200)):
        response = await _post(world, body, accept=accept)
        assert response.status_code == status, (accept, response.text)
        assert response.headers["content-type"] == accept
        answer = response.json()
        assert "data" not in answer, answer
        assert answer["errors"][0]["extensions"]["code"] == code, answer


async def test_refusals_outside_graphql_keep_their_status_whatever_is_accepted(
    world: World,
) -> None:
    for accept in (GRAPHQL_RESPONSE, JSON):
        malformed = await _post(world, {"query": ME, "variables": [1]}, accept=accept)
        assert malformed.status_code == 400
        unauthenticated = await _post(world, {"query": ME}, accept=accept, token=False)
        assert unauthenticated.status_code == 401
        assert unauthenticated.headers["content-type"] == accept
        assert "www-authenticate" in unauthenticated.headers
        purpose = await _post(
            world, {"query": ME}, accept=accept, headers={"Fame-Purpose-Of-Use": "emergency"}
        )
        assert purpose.status_code in (400, 403)
        assert purpose.json()["errors"][0]["extensions"]["code"].startswith("PURPOSE_")


async def test_a_field_error_with_data_is_200_under_either_type(world: World) -> None:
    for accept in (GRAPHQL_RESPONSE, JSON):
        response = await _post(world, {"query": "{ caseload(first: 0) { id } }"}, accept=accept)
        assert response.status_code == 200
        answer = response.json()
        assert "data" in answer
        assert answer["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


# --------------------------------------------------------------------------- headers


async def test_security_headers_on_json_and_html(world: World) -> None:
    assert world.client is not None
    answer = await _post(world, {"query": ME})
    page = await world.client.get("/graphql", headers={"Accept": "text/html"})
    refused = await _post(world, {"query": ME}, token=False)
    for response in (answer, page, refused):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert response.headers["cache-control"] == "no-store"
    assert answer.headers["content-security-policy"].startswith("default-src 'none'")


async def test_no_cors_headers_without_configured_origins(world: World) -> None:
    assert world.client is not None
    preflight = await world.client.options(
        "/graphql",
        headers={"Origin": "https://care.example.org", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers
    answer = await _post(world, {"query": ME}, headers={"Origin": "https://care.example.org"})
    assert answer.status_code == 200
    assert "access-control-allow-origin" not in answer.headers


async def test_cors_answers_listed_origins_only(
    tmp_path: Path, population: Population, store_dir: Path
) -> None:
    edits = {"cors_origins = []": 'cors_origins = ["https://care.example.org"]'}
    async with _world(tmp_path, population, store_dir, edits) as world:
        assert world.client is not None
        preflight = await world.client.options(
            "/graphql",
            headers={
                "Origin": "https://care.example.org",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type, "
                "fame-purpose-of-use",
            },
        )
        assert preflight.status_code == 200, preflight.text
        assert preflight.headers["access-control-allow-origin"] == "https://care.example.org"
        allowed = preflight.headers["access-control-allow-headers"].lower()
        assert {"authorization", "content-type", "fame-purpose-of-use"} <= {
            h.strip() for h in allowed.split(",")
        }
        assert "access-control-allow-credentials" not in preflight.headers
        answer = await _post(world, {"query": ME}, headers={"Origin": "https://care.example.org"})
        assert answer.headers["access-control-allow-origin"] == "https://care.example.org"
        assert "fame-correlation-id" in answer.headers["access-control-expose-headers"]

        stranger = await world.client.options(
            "/graphql",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        assert stranger.status_code == 400
        assert "access-control-allow-origin" not in stranger.headers
        answer = await _post(world, {"query": ME}, headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in answer.headers


# --------------------------------------------------------------------------- trusted documents


def _register(world: World, *documents: str) -> list[str]:
    """Register documents with the command an operator runs; returns their hashes."""
    assert world.settings is not None
    files = []
    for index, text in enumerate(documents):
        file = world.root / f"document-{index}.graphql"
        file.write_bytes(text.encode())
        files.append(str(file))
    config = world.settings.config_dir / "gateway.toml"
    assert main(["--config", str(config), "documents", "add", *files]) == 0
    return [_sha(text) for text in documents]


async def test_documents_add_registers_each_file_by_the_sha256_of_its_exact_text(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    assert world.settings is not None
    text = "query Me {\r\n  me { agency }\r\n}\r\n"
    (digest,) = _register(world, text)
    manifest = world.settings.http.documents_manifest
    assert manifest is not None
    assert read_manifest(manifest) == {digest: text}
    assert digest in capsys.readouterr().out
    config = world.settings.config_dir / "gateway.toml"
    assert main(["--config", str(config), "documents", "list"]) == 0
    assert f"{digest}  query Me" in capsys.readouterr().out

    broken = world.root / "broken.graphql"
    broken.write_text("{ nobody }")
    fine = world.root / "fine.graphql"
    fine.write_text("{ me { name } }")
    assert main(["--config", str(config), "documents", "add", str(fine), str(broken)]) == 1
    assert "Cannot query field 'nobody'" in capsys.readouterr().err
    assert read_manifest(manifest) == {digest: text}, "all or nothing"


async def test_a_registered_document_runs_by_its_hash_alone(world: World) -> None:
    (digest,) = _register(world, ME)  # after start: the gateway reads the manifest again
    persisted = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
    by_post = await _post(world, {"extensions": persisted})
    assert by_post.status_code == 200, by_post.text
    assert by_post.json()["data"] == {"me": {"agency": "shire-adult-social-care"}}
    by_get = await _get(world, {"extensions": json.dumps(persisted)})
    assert by_get.status_code == 200, by_get.text
    assert by_get.json()["data"] == {"me": {"agency": "shire-adult-social-care"}}


async def test_a_persisted_hash_sent_with_its_query_must_match_it(world: World) -> None:
    good = {"persistedQuery": {"version": 1, "sha256Hash": _sha(ME)}}
    response = await _post(world, {"query": ME, "extensions": good})
    assert response.status_code == 200, response.text
    wrong = {"persistedQuery": {"version": 1, "sha256Hash": _sha(ME + " ")}}
    response = await _post(world, {"query": ME, "extensions": wrong})
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_HASH_MISMATCH"


async def test_an_unknown_hash_is_persisted_query_not_found(world: World) -> None:
    unknown = {"persistedQuery": {"version": 1, "sha256Hash": _sha("{ me { name } }")}}
    response = await _post(world, {"extensions": unknown})
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    assert "fame-gateway documents add" in error["message"]


async def test_trusted_only_refuses_every_document_not_registered(
    tmp_path: Path, population: Population, store_dir: Path
) -> None:
    edits = {"trusted_only = false": "trusted_only = true"}
    async with _world(tmp_path, population, store_dir, edits) as world:
        refused = await _post(world, {"query": ME})
        assert refused.status_code == 400
        (error,) = refused.json()["errors"]
        assert error["extensions"]["code"] == "DOCUMENT_NOT_TRUSTED"
        assert "registered (trusted) documents only" in error["message"]
        legacy = await _post(world, {"query": ME}, accept=JSON)
        assert legacy.status_code == 200 and "data" not in legacy.json()

        (digest,) = _register(world, ME)
        sent = await _post(world, {"query": ME})
        assert sent.status_code == 200, sent.text
        by_hash = await _post(
            world, {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}}}
        )
        assert by_hash.status_code == 200, by_hash.text
        other = await _post(world, {"query": "{ me { name } }"})
        assert other.json()["errors"][0]["extensions"]["code"] == "DOCUMENT_NOT_TRUSTED"
        by_get = await _get(world, {"query": "{ me { team } }"})
        assert by_get.json()["errors"][0]["extensions"]["code"] == "DOCUMENT_NOT_TRUSTED"


async def test_a_manifest_whose_hashes_do_not_match_is_refused_at_start(
    tmp_path: Path, population: Population, store_dir: Path
) -> None:
    running = World(tmp_path, population, store_dir)
    try:
        await running.start()
        assert running.settings is not None and running.gateway is not None
        manifest = running.settings.http.documents_manifest
        assert manifest is not None
        manifest.write_text(json.dumps({_sha(ME): "{ me { name } }"}))
        from gateway.app import create_app
        from gateway.core.errors import ConfigError

        with pytest.raises(ConfigError, match="is not the sha256 of its document"):
            create_app(running.gateway)
    finally:
        await running.stop()
