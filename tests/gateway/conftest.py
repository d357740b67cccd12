"""Fixtures for the gateway's own tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.governance.migrate import upgrade_schema
from gateway.governance.state_db import StateDatabase


@pytest.fixture
async def state(tmp_path: Path) -> AsyncIterator[StateDatabase]:
    """A new SQLite state database with the current schema, disposed after the test."""
    database = StateDatabase(f"sqlite+aiosqlite:///{tmp_path / 'state.sqlite'}")
    await upgrade_schema(database.engine)
    try:
        yield database
    finally:
        await database.dispose()
