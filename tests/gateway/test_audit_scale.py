"""The audit under load: two gateway processes over one PostgreSQL, 2,000 requests at
concurrency 32. The chain verifies, its numbers are contiguous, and the disclosures it
records are exactly what the agency's own server saw."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
from sqlalchemy import select

from fame_demo.community_api import CommunityHealthApi
from fame_demo.runner import demo_person_id
from fame_demo.synthetic import Population
from gateway.audit.chain import load_signing_key, verify_chain
from gateway.governance.state import create_state_engine, disclosures
from tests.support import Process, practitioner_token, prepare_shared_state

REQUESTS = 2000
CONCURRENCY = 32
QUERY = '{ person(id: "%s") { health { communityEpisodes { service } } } }'


async def test_two_processes_2000_requests_keep_one_whole_chain(
    tmp_path: Path,
    population: Population,
    store_dir: Path,
    postgres_state: str,
    processes_factory: list[Process],
    trust_url: str,
    trust: CommunityHealthApi,
) -> None:
    settings = await prepare_shared_state(
        tmp_path, population, store_dir, trust_url, postgres_state
    )
    config = settings.config_dir / "gateway.toml"
    gateways = [Process(config, tmp_path / f"gateway-{n}.log") for n in range(2)]
    processes_factory.extend(gateways)
    await asyncio.gather(*(g.ready() for g in gateways))
    token = practitioner_token(settings, "dn-hughes")
    # The people the district nurse's service holds: her relationship, need-to-know.
    visible = settings.protocol.services_of("shire-community-health").visible_teams(
        "District Nursing (Shirebridge)"
    )
    assert visible
    people = [
        demo_person_id(p.nhs_number)
        for p in population.people_of("shire-community-health")
        if visible & set(population.holding_teams("shire-community-health", p.nhs_number))
    ]
    trust.calls.clear()
    gate = asyncio.Semaphore(CONCURRENCY)
    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:

        async def one(n: int) -> None:
            async with gate:
                response = await client.post(
                    f"{gateways[n % 2].url}/graphql",
                    json={"query": QUERY % people[n % len(people)]},
                    headers={"Authorization": f"Bearer {token}"},
                )
            assert response.status_code == 200, response.text
            body = response.json()
            assert "errors" not in body, body
            assert body["data"]["person"]["health"]["communityEpisodes"] is not None

        await asyncio.gather(*(one(n) for n in range(REQUESTS)))

    engine = create_state_engine(settings.state_database)
    try:
        assert settings.audit_signing_key_file is not None
        key = load_signing_key(settings.audit_signing_key_file).public_key()
        report = await verify_chain(engine, key)
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(disclosures.c.seq, disclosures.c.kind, disclosures.c.agencies)
                )
            ).all()
    finally:
        await engine.dispose()
    assert report.ok, report
    seqs = sorted(row[0] for row in rows)
    assert seqs == list(range(1, len(seqs) + 1))
    assert sum(1 for row in rows if row[1] == "intent") == REQUESTS
    disclosed = sum(
        1
        for row in rows
        if row[1] == "disclosure"
        and json.loads(row[2]).get("shire-community-health", {}).get("disclosed")
    )
    # What the trust's own server saw: one call per request, one person per call.
    assert len(trust.calls) == REQUESTS
    assert disclosed == sum(len(call.ids) for call in trust.calls) == REQUESTS
