"""Two gateway processes over one PostgreSQL state database: a consent withdrawn
through one is honoured by the other on its very next query."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from gateway.audit import verify_chain
from gateway.demo.community_api import CommunityHealthApi
from gateway.demo.runner import demo_person_id, seed_person_index
from gateway.demo.synthetic import Population
from gateway.person_index import PersonIndex
from gateway.settings import Settings, load_settings
from gateway.state import create_schema, create_state_engine
from gateway.tokens import generate_demo_keys, mint_token
from tests.conftest import server_url
from tests.support import REPO, build_config

CONDITIONS = '{ person(id: "%s") { health { conditions { name } } } }'


@pytest.fixture
async def postgres_state() -> AsyncIterator[str]:
    """A fresh PostgreSQL database for the gateways' shared state."""
    base = server_url(
        "FAME_TEST_POSTGRES_URL",
        "PostgreSQL",
        "FAME_TEST_POSTGRES_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/postgres",
    )
    name = f"fame_state_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(base, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Process:
    """A gateway started as its own OS process with `fame-gateway serve`."""

    def __init__(self, config: Path, log: Path) -> None:
        self.port = _free_port()
        self.log = log
        self._log_file = log.open("w")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gateway.cli",
                "--config",
                str(config),
                "serve",
                "--port",
                str(self.port),
            ],
            cwd=REPO,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        self.url = f"http://127.0.0.1:{self.port}"

    async def ready(self) -> None:
        async with httpx.AsyncClient() as client:
            for _ in range(150):
                if self.proc.poll() is not None:
                    raise AssertionError(f"gateway exited: {self.log.read_text()}")
                try:
                    if (await client.get(f"{self.url}/healthz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError(f"gateway did not come up: {self.log.read_text()}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log_file.close()


@pytest.fixture
def processes_factory() -> Iterator[list[Process]]:
    started: list[Process] = []
    yield started
    for process in started:
        process.stop()


async def _post(url: str, token: str, query: str) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=20) as client:
        response = await client.post(
            f"{url}/graphql",
            json={"query": query},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _token(settings: Settings) -> str:
    return mint_token(
        settings,
        subject="sw-patel",
        agency="shire-adult-social-care",
        team="Older Adults North",
        roles=("social_worker",),
    )


async def test_a_withdrawal_through_one_process_is_honoured_by_the_other(
    tmp_path: Path,
    population: Population,
    store_dir: Path,
    postgres_state: str,
    processes_factory: list[Process],
) -> None:
    trust = CommunityHealthApi(population)
    trust_url = await trust.start()
    try:
        config = build_config(
            tmp_path, trust_url=trust_url, store_dir=store_dir, state_database=postgres_state
        )
        settings = load_settings(config)
        generate_demo_keys(settings)
        engine = create_state_engine(settings.state_database)
        await create_schema(engine)
        await seed_person_index(PersonIndex(engine), population, settings.agencies)
        await engine.dispose()
        first = Process(config, tmp_path / "first.log")
        processes_factory.append(first)
        second = Process(config, tmp_path / "second.log")
        processes_factory.append(second)
        await asyncio.gather(first.ready(), second.ready())

        token = _token(settings)
        roy = demo_person_id(population.people[0].nhs_number)
        recorded = await _post(
            first.url,
            token,
            """mutation { recordConsent(input: {personId: "%s", category: "health.physical",
            recipientAgency: "shire-adult-social-care", decision: PERMIT,
            reference: "Signed form SF-3001"}) { id } }"""
            % roy,
        )
        consent_id = recorded["data"]["recordConsent"]["id"]
        shown = await _post(second.url, token, CONDITIONS % roy)
        assert shown["data"]["person"]["health"]["conditions"], shown
        # Warm the second process once more, then withdraw through the first.
        assert (await _post(second.url, token, CONDITIONS % roy))["data"]["person"]["health"][
            "conditions"
        ]
        await _post(first.url, token, 'mutation { withdrawConsent(id: "%s") { id } }' % consent_id)
        after = await _post(second.url, token, CONDITIONS % roy)
        assert after["data"]["person"]["health"]["conditions"] is None
        reasons = {(e["agency"], e["item"]): e["reason"] for e in after["extensions"]["withheld"]}
        assert reasons[("riverside-gp", "conditions.name")] == "NO_CONSENT"
        # Both processes appended to one audit chain, concurrently: it still holds.
        await asyncio.gather(
            *(_post(p.url, token, CONDITIONS % roy) for p in (first, second) for _ in range(10))
        )
        engine = create_state_engine(settings.state_database)
        try:
            report = await verify_chain(engine)
        finally:
            await engine.dispose()
        assert report.ok, report
        # An intent for each of the 25 requests, and a disclosure for each of the 23 that
        # asked about the person (the two mutations disclose nothing).
        assert report.records == 25 + 23
    finally:
        await trust.stop()
