"""The state database's schema, made and upgraded by Alembic, one process at a time.

``fame-gateway db upgrade`` runs :func:`upgrade_schema`; so does a gateway starting in
demo mode. A production gateway only checks (:func:`require_current_schema`) and
refuses to start on a schema other than this release's: an upgrade of a live database
is the operator's decision, made once, not every process's at every start.

Several processes may upgrade at once (workers starting together on an empty
database): each takes a lock first, so one upgrades and the others then find the
schema current. PostgreSQL: a session advisory lock; MariaDB: ``GET_LOCK``; SQLite:
the upgrade runs inside one ``BEGIN IMMEDIATE`` transaction, which holds the file's
write lock from its first statement.

A state database made before the migrations existed (tables created by
``metadata.create_all``, no ``alembic_version``) is recognised by its tables and
stamped with the revision it matches, then upgraded from there.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.core.errors import GatewayError
from gateway.governance.state import audit_head

log = logging.getLogger(__name__)

#: Where the revisions live, as a package resource: found wherever the package is installed.
SCRIPT_LOCATION = "gateway.governance:migrations"
#: The revision a database made by ``create_all`` before ``disclosures.practitioner_name``
#: was added matches; with the column, the one after it.
_LEGACY_BASE = "0001_initial"
_LEGACY_WITH_NAME = "0002_practitioner_name"
#: The tables every release before the migrations created (all of revision 0001's).
_LEGACY_TABLES = frozenset(
    {
        "persons",
        "person_links",
        "consents",
        "break_glass_grants",
        "break_glass_notifications",
        "disclosures",
        "audit_head",
        "audit_signatures",
    }
)
#: PostgreSQL advisory lock key of the schema upgrade ("FAME" in ASCII).
_PG_LOCK_KEY = 0x46414D45
_MYSQL_LOCK_NAME = "fame_gateway_state_schema"
#: Seconds a MariaDB process waits for another's upgrade before giving up.
_MYSQL_LOCK_SECONDS = 300


class SchemaOutOfDate(GatewayError):
    """The state database's schema is not the one this release works with."""


@dataclass(frozen=True)
class SchemaState:
    """Where a state database's schema stands.

    ``current`` is the recorded revision (None: none recorded); ``legacy`` is true for a
    database of state tables made before the migrations, with no revision recorded.
    """

    current: str | None
    head: str
    legacy: bool = False
    known: bool = True

    @property
    def up_to_date(self) -> bool:
        """Whether this release can run on it as it is."""
        return self.current == self.head

    @property
    def label(self) -> str:
        """The revision, or what stands for one: ``empty``, or an earlier release's tables."""
        if self.current is not None:
            return self.current
        return "an earlier release's tables (no revision recorded)" if self.legacy else "empty"

    def describe(self) -> str:
        """One line for an operator."""
        if self.up_to_date:
            return f"{self.current} (head): up to date"
        if self.legacy:
            return (
                f"no revision recorded, but state tables made by an earlier release; this "
                f"release needs {self.head}"
            )
        if self.current is None:
            return f"empty (no state tables); this release needs {self.head}"
        if not self.known:
            return (
                f"{self.current}, which this release does not know (a newer release upgraded "
                f"it); this release needs {self.head}"
            )
        return f"{self.current}; this release needs {self.head}"


def alembic_config(connection: Connection | None = None, url: str | None = None) -> Config:
    """Alembic's configuration, in code: no ``alembic.ini`` to ship or to keep in step.

    With ``connection``, ``env.py`` migrates that connection (already locked, inside the
    caller's transaction); otherwise it connects to ``url``.
    """
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    if url is not None:
        # ConfigParser interpolation would read a percent-encoded password's % signs.
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@cache
def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The revision this release's schema is at."""
    head = _script().get_current_head()
    assert head is not None, "the migrations have no head revision"
    return head


def _known(revision: str) -> bool:
    return any(script.revision == revision for script in _script().walk_revisions())


def _state(conn: Connection) -> SchemaState:
    current = MigrationContext.configure(conn).get_current_revision()
    head = head_revision()
    if current is not None:
        return SchemaState(current, head, known=_known(current))
    tables = set(inspect(conn).get_table_names())
    return SchemaState(None, head, legacy=bool(tables & _LEGACY_TABLES))


async def schema_state(engine: AsyncEngine) -> SchemaState:
    """Where the state database's schema stands (read only)."""
    async with engine.connect() as conn:
        return await conn.run_sync(_state)


async def require_current_schema(engine: AsyncEngine) -> None:
    """Refuse, saying what to run, unless the schema is this release's."""
    state = await schema_state(engine)
    if state.up_to_date:
        return
    if not state.known:
        raise SchemaOutOfDate(
            f"the state database's schema is at revision {state.current}, which this release "
            "does not know: a newer release has upgraded it. Run that release, or restore the "
            "database from before the upgrade"
        )
    raise SchemaOutOfDate(
        f"the state database's schema is not this release's ({state.describe()}). "
        "Run `fame-gateway db upgrade` with the same configuration, then start the gateway"
    )


async def upgrade_schema(engine: AsyncEngine) -> tuple[SchemaState, SchemaState]:
    """Bring the schema to this release's head, under a lock; the state before and after.

    Also creates the audit chain's head row, so that appends from several processes
    always lock the same row instead of racing to create it.
    """
    async with engine.connect() as conn:
        return await conn.run_sync(_upgrade)


def _upgrade(conn: Connection) -> tuple[SchemaState, SchemaState]:
    with _schema_lock(conn):
        before = _state(conn)
        if not before.known:
            raise SchemaOutOfDate(
                f"the state database's schema is at revision {before.current}, which this "
                "release does not know: a newer release has upgraded it; it is left as it is"
            )
        if not before.up_to_date:
            config = alembic_config(conn)
            if before.legacy:
                _adopt(conn, config)
            command.upgrade(config, "head")
        if conn.execute(select(audit_head.c.id)).first() is None:
            conn.execute(audit_head.insert().values(id=1, seq=0, hash="0" * 64))
        after = _state(conn)
        conn.commit()
    if not before.up_to_date:
        log.info("state database schema upgraded from %s to %s", before.label, after.current)
    return before, after


def _adopt(conn: Connection, config: Config) -> None:
    """Stamp a database made by ``create_all`` with the revision its tables match."""
    inspector = inspect(conn)
    missing = _LEGACY_TABLES - set(inspector.get_table_names())
    if missing:
        raise SchemaOutOfDate(
            "the state database holds some of the gateway's tables but not "
            f"{', '.join(sorted(missing))}, and records no schema revision: it was made by a "
            "release too old to upgrade from, or changed by hand"
        )
    columns = {column["name"] for column in inspector.get_columns("disclosures")}
    revision = _LEGACY_WITH_NAME if "practitioner_name" in columns else _LEGACY_BASE
    log.info("state database made before migrations: recorded as revision %s", revision)
    command.stamp(config, revision)


@contextmanager
def _schema_lock(conn: Connection) -> Iterator[None]:
    """Hold the database's schema lock for the block; the block commits its own work."""
    dialect = conn.dialect.name
    if dialect == "sqlite":
        # The write lock from the first statement on: a second process waits at its BEGIN
        # (busy timeout), then finds the schema current. SQLite's DDL is transactional.
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            conn.rollback()
            raise
        return
    if dialect == "postgresql":
        acquire = text("SELECT pg_advisory_lock(:key)").bindparams(key=_PG_LOCK_KEY)
        release = text("SELECT pg_advisory_unlock(:key)").bindparams(key=_PG_LOCK_KEY)
    elif dialect in {"mysql", "mariadb"}:
        acquire = text("SELECT GET_LOCK(:name, :seconds)").bindparams(
            name=_MYSQL_LOCK_NAME, seconds=_MYSQL_LOCK_SECONDS
        )
        release = text("SELECT RELEASE_LOCK(:name)").bindparams(name=_MYSQL_LOCK_NAME)
    else:
        raise SchemaOutOfDate(f"state databases on {dialect} are not supported")
    # A session lock, held across the transactions below and released however they end
    # (and by the server if this connection is lost).
    got = conn.execute(acquire).scalar()
    conn.commit()
    if got == 0:
        raise SchemaOutOfDate(
            f"another process held the schema lock for {_MYSQL_LOCK_SECONDS}s; try again"
        )
    try:
        yield
    except BaseException:
        conn.rollback()
        raise
    finally:
        conn.execute(release)
        conn.commit()
