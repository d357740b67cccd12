"""Shared fixtures: the synthetic population, its agency stores, and a running world."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.demo.synthetic import Population, generate_population
from tests.support import ManualClock, World, make_store_dir


@pytest.fixture(scope="session")
def population() -> Population:
    """The demo's synthetic population (deterministic)."""
    return generate_population()


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
