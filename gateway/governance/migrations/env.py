"""Alembic's environment for the state database.

``gateway.governance.migrate`` hands over a connection it has already locked (so that
several gateway processes starting at once upgrade one after another); run by the
``alembic`` command instead, the URL comes from the configuration's ``sqlalchemy.url``
(the gateway's ``state_database``) and an engine of its own is made here.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection

from gateway.governance.state import create_state_engine, metadata

config = context.config


def _migrate(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot alter most of a table in place: Alembic copies it instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _migrate_url(url: str) -> None:
    engine = create_state_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_migrate)
    finally:
        await engine.dispose()


def run() -> None:
    """Migrate the connection handed over, else the configured URL's database."""
    if context.is_offline_mode():
        raise SystemExit("the state database is migrated online only: run fame-gateway db upgrade")
    connection = config.attributes.get("connection")
    if isinstance(connection, Connection):
        _migrate(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("no state database URL: run fame-gateway db upgrade")
    asyncio.run(_migrate_url(url))


run()
