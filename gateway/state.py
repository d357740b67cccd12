"""The gateway's own state database: person index links (and, later, consent and audit).

Only the gateway's own state lives here; agency data is never stored. SQLite
by default, PostgreSQL when several gateway processes share it.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, MetaData, String, Table, UniqueConstraint, event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

metadata = MetaData()

persons = Table(
    "persons",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("nhs_number", String(10), unique=True, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

person_links = Table(
    "person_links",
    metadata,
    Column("person_id", String(64), nullable=False),
    Column("agency_id", String(64), nullable=False),
    Column("local_id", String(128), nullable=False),
    UniqueConstraint("agency_id", "local_id", name="uq_person_links_agency_local"),
    Index("ix_person_links_person", "person_id"),
)


def create_state_engine(url: str) -> AsyncEngine:
    """An engine for the state database; SQLite gets WAL so readers never block the writer."""
    engine = create_async_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
            cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=5000")
            cursor.close()

    return engine


async def create_schema(engine: AsyncEngine) -> None:
    """Create the state tables where they do not exist yet."""
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
