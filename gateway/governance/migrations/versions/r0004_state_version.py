"""A change marker for the state a request is decided on: ``state_version``, one row whose
counter database triggers bump on every insert, update and delete of ``persons``,
``person_links``, ``consents`` and ``break_glass_grants``.

Triggers rather than the gateway's own code, so that a change made by any process or
tool (another gateway worker, a ``fame-gateway`` command, an operator's SQL) moves the
marker, in the same transaction as the change: a process that sees the marker unmoved
may serve those rows from memory. PostgreSQL bumps it once per statement (and on
``TRUNCATE``); SQLite and MariaDB, whose triggers are per row, once per row.

The triggers run *before* the change. On PostgreSQL, whose writers lock rows, a writer
then takes the marker row's lock before its statement locks any watched row, so two
writers of those tables wait for each other in one order and do not deadlock over the
marker. (SQLite locks the whole file for a writer anyway.)

Revision ID: 0004_state_version
Revises: 0003_person_index_linkage
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_state_version"
down_revision: str | None = "0003_person_index_linkage"
branch_labels: str | None = None
depends_on: str | None = None

#: The tables ``gateway.governance.state_reads`` reads for every request.
_WATCHED = ("persons", "person_links", "consents", "break_glass_grants")
_EVENTS = ("INSERT", "UPDATE", "DELETE")
_BUMP = "UPDATE state_version SET version = version + 1 WHERE id = 1"


def upgrade() -> None:
    """Create ``state_version`` with its one row, and the triggers that bump it."""
    op.create_table(
        "state_version",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute("INSERT INTO state_version (id, version) VALUES (1, 0)")
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION state_version_bump() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN {_BUMP}; RETURN NULL; END $$"
        )
        for table in _WATCHED:
            op.execute(
                f"CREATE TRIGGER {table}_state_version BEFORE INSERT OR UPDATE OR DELETE "
                f"OR TRUNCATE ON {table} FOR EACH STATEMENT EXECUTE FUNCTION state_version_bump()"
            )
        return
    for table in _WATCHED:
        for event in _EVENTS:
            name = f"{table}_state_version_{event.lower()}"
            if dialect == "sqlite":
                op.execute(f"CREATE TRIGGER {name} BEFORE {event} ON {table} BEGIN {_BUMP}; END")
            else:  # MariaDB, MySQL: a single-statement body needs no BEGIN ... END
                op.execute(f"CREATE TRIGGER {name} BEFORE {event} ON {table} FOR EACH ROW {_BUMP}")


def downgrade() -> None:
    """Not supported."""
    raise NotImplementedError("the state database is never downgraded")
