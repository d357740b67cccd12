"""Shared fixtures: the synthetic population, its agency stores, a running world, and the
community health trust's API for gateway processes to call."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from fame_demo.community_api import CommunityHealthApi
from fame_demo.synthetic import Population
from fame_demo.world import generate_world
from tests.support import ManualClock, Process, World, make_store_dir


@pytest.fixture(scope="session")
def population() -> Population:
    """The demo world: the base population and the pilots' cast (deterministic)."""
    return generate_world()


@pytest.fixture(scope="session")
def store_dir(tmp_path_factory: pytest.TempPathFactory, population: Population) -> Path:
    """The SQL agencies' SQLite stores, written once per session (tests only read them)."""
    return make_store_dir(tmp_path_factory.mktemp("agencies"), population)


@pytest.fixture
async def world(tmp_path: Path, population: Population, store_dir: Path) -> AsyncIterator[World]:
    """A started gateway over the demo agencies."""
    running = World(tmp_path, population, store_dir)
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def clocked(
    tmp_path: Path, population: Population, store_dir: Path
) -> AsyncIterator[tuple[World, ManualClock]]:
    """A started gateway whose clock the test moves forward."""
    clock = ManualClock()
    running = World(tmp_path, population, store_dir, clock=clock)
    await running.start()
    try:
        yield running, clock
    finally:
        await running.stop()


@pytest.fixture
async def postgres_state() -> AsyncIterator[str]:
    """A fresh PostgreSQL database for the gateways' shared state."""
    async with fresh_postgres_database() as url:
        yield url


def fresh_postgres_database() -> contextlib.AbstractAsyncContextManager[str]:
    """Create a PostgreSQL database for one test, yield its URL, drop it afterwards."""
    return _fresh_database(
        server_url(
            "FAME_TEST_POSTGRES_URL",
            "PostgreSQL",
            "FAME_TEST_POSTGRES_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/postgres",
        ),
        'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
    )


def fresh_mariadb_database() -> contextlib.AbstractAsyncContextManager[str]:
    """Create a MariaDB database for one test, yield its URL, drop it afterwards."""
    return _fresh_database(
        server_url(
            "FAME_TEST_MARIADB_URL",
            "MariaDB",
            "FAME_TEST_MARIADB_URL=mysql+aiomysql://root@127.0.0.1:3306/test",
        ),
        "DROP DATABASE IF EXISTS {name}",
    )


@contextlib.asynccontextmanager
async def _fresh_database(base: str, drop: str) -> AsyncIterator[str]:
    # The name needs no quoting on either server: letters, digits and underscores.
    name = f"fame_state_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(base, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(drop.format(name=name)))
        await admin.dispose()


@pytest.fixture
async def trust(population: Population) -> AsyncIterator[CommunityHealthApi]:
    """The community health trust's API on a port of 127.0.0.1, stopped after the test."""
    api = CommunityHealthApi(population)
    await api.start()
    try:
        yield api
    finally:
        await api.stop()


@pytest.fixture
def trust_url(trust: CommunityHealthApi) -> str:
    """Where :func:`trust` listens."""
    assert trust.base_url is not None
    return trust.base_url


@pytest.fixture
def processes_factory() -> Iterator[list[Process]]:
    started: list[Process] = []
    yield started
    for process in started:
        process.stop()


def server_url(variable: str, what: str, start: str) -> str:
    """The URL of a database server the tests may use, or a skip saying how to get one.

    In CI (FAME_TEST_REQUIRE_SERVERS=1) a missing server fails instead of skipping,
    so that the server-backed tests cannot silently stop running.
    """
    url = os.environ.get(variable)
    if url:
        return url
    message = f"{what} tests need {variable} (e.g. {start})"
    if os.environ.get("FAME_TEST_REQUIRE_SERVERS") == "1":
        pytest.fail(message)
    pytest.skip(message)
