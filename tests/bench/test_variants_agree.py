"""The benchmark's Python variants answer the workloads' views with the same data.

Tiny and untimed: three people known to all four agencies and two known only to the
HTTP agencies, real PostgreSQL and MariaDB databases and real HTTP agencies on
127.0.0.1 (with their injected latency), and the gateway, the lower bound, the naive
variant and the graphene + DataLoader peer driven in-process through their ASGI apps.
What the HTTP agencies answer for the peer person, read as Hive's supergraph would
give it, normalises to what the gateway answers.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiohttp import web
from sqlalchemy.engine import make_url
from starlette.applications import Starlette

from bench import lower_bound, naive
from bench.config import gateway_environment, peer_token, prepare_gateway, tokens, write_config
from bench.peers import dataloader, hive, normalise
from bench.sources import HttpAgency, SqlSources
from bench.world import (
    AGENCIES,
    CASELOAD_QUERY,
    PEER_AGENCIES,
    PEER_QUERY,
    PERSON_QUERY,
    REQUESTERS,
    World,
    people,
)
from gateway.app import create_app
from gateway.service import Gateway
from tests.conftest import server_url

pytestmark = [pytest.mark.postgres, pytest.mark.mariadb]


@contextlib.asynccontextmanager
async def http_agencies(population: list[Any]) -> AsyncIterator[dict[str, str]]:
    runners = []
    urls = {}
    try:
        for agency in AGENCIES:
            if agency.kind != "http":
                continue
            runner = web.AppRunner(HttpAgency(agency, population).app, shutdown_timeout=0.5)
            await runner.setup()
            runners.append(runner)
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            urls[agency.id] = f"http://127.0.0.1:{runner.addresses[0][1]}"
        yield urls
    finally:
        for runner in runners:
            await runner.cleanup()


@contextlib.asynccontextmanager
async def asgi_client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://v") as client,
    ):
        yield client


async def data_of(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any], **kw: Any
) -> Any:
    response = await client.post(
        "/graphql",
        content=orjson.dumps({"query": query, "variables": variables}),
        headers={"Content-Type": "application/json", **kw.get("headers", {})},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert not body.get("errors"), body
    return body["data"]


async def agencies_answer(http_urls: dict[str, str], person: Any) -> dict[str, Any]:
    """What Hive's root fields would hold: each HTTP agency's answer under its alias."""
    answer = {}
    async with httpx.AsyncClient() as client:
        for agency in AGENCIES:
            if agency.id not in PEER_AGENCIES:
                continue
            response = await client.get(
                http_urls[agency.id] + agency.path,
                params={"ids": person.local_ids[agency.id], "fields": hive.projection(agency)},
            )
            answer[hive.subgraph_name(agency)] = response.json()
    return answer


async def test_variants_return_the_gateways_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    urls = {
        "postgresql": make_url(
            server_url(
                "FAME_TEST_POSTGRES_URL",
                "PostgreSQL",
                "FAME_TEST_POSTGRES_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/postgres",
            )
        ),
        "mariadb": make_url(
            server_url(
                "FAME_TEST_MARIADB_URL",
                "MariaDB",
                "FAME_TEST_MARIADB_URL=mysql+aiomysql://root@127.0.0.1:3306/test",
            )
        ),
    }
    population = people(3, peers=2)
    sql = SqlSources(urls, uuid.uuid4().hex[:8])
    await sql.create(population)
    try:
        async with http_agencies(population) as http_urls:
            world = World(dsns=sql.dsns, urls=http_urls, people=population)
            for name, value in gateway_environment(world).items():
                monkeypatch.setenv(name, value)
            settings = await prepare_gateway(write_config(tmp_path, world), world)
            token = tokens(settings)[REQUESTERS[0][0]]
            nurse = peer_token(settings)
            peer = population[-1]
            gateway = Gateway(settings)
            await gateway.start()
            try:
                async with (
                    asgi_client(create_app(gateway)) as gw,
                    asgi_client(lower_bound.create_app(world)) as lb,
                    asgi_client(naive.create_app(world)) as nv,
                    asgi_client(dataloader.create_app(world)) as dl,
                ):
                    for query, variables, bearer in (
                        (PERSON_QUERY, {"id": population[0].id}, token),
                        (CASELOAD_QUERY, {"first": 3}, token),
                        (PEER_QUERY, {"id": peer.id}, nurse),
                    ):
                        expected = await data_of(
                            gw, query, variables, headers={"Authorization": f"Bearer {bearer}"}
                        )
                        assert expected and all(expected.values())
                        assert await data_of(lb, query, variables) == expected
                        assert await data_of(nv, query, variables) == expected
                        assert await data_of(dl, query, variables) == expected
                    # The caseload holds the four-agency people only.
                    caseload = await data_of(
                        gw,
                        CASELOAD_QUERY,
                        {"first": 5},
                        headers={"Authorization": f"Bearer {token}"},
                    )
                    assert len(caseload["caseload"]) == 3
                    peer_view = await data_of(
                        gw,
                        PEER_QUERY,
                        {"id": peer.id},
                        headers={"Authorization": f"Bearer {nurse}"},
                    )
                    normalised = normalise.from_view(peer_view["person"])
                    assert normalise.from_agencies(await agencies_answer(http_urls, peer)) == (
                        normalised
                    )
                    assert {agency for rows in normalised.values() for agency, _ in rows} == set(
                        PEER_AGENCIES
                    )
            finally:
                await gateway.stop()
    finally:
        await sql.drop()
