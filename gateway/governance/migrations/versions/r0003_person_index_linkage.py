"""The person index's linkage: how each link was made, every link and unlink, postcode
history and the review queue of uncertain matches.

The new ``person_links`` columns are nullable: links made before them keep working, and
say nothing of how they were made. The request path reads none of them.

Revision ID: 0003_person_index_linkage
Revises: 0002_practitioner_name
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_person_index_linkage"
down_revision: str | None = "0002_practitioner_name"
branch_labels: str | None = None
depends_on: str | None = None

_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Add link provenance to ``person_links`` and the linkage tables."""
    op.add_column("person_links", sa.Column("method", sa.String(16), nullable=True))
    op.add_column("person_links", sa.Column("score", sa.Float(), nullable=True))
    op.add_column("person_links", sa.Column("linked_by", sa.String(200), nullable=True))
    op.add_column("person_links", sa.Column("linked_at", _TIME, nullable=True))
    op.create_table(
        "person_link_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", _TIME, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("agency_id", sa.String(64), nullable=False),
        sa.Column("local_id", sa.String(128), nullable=False),
        sa.Column("team", sa.String(100), nullable=True),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_person_link_events_person_id", "person_link_events", ["person_id"])
    op.create_table(
        "person_postcodes",
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("postcode_key", sa.String(10), nullable=False),
        sa.Column("first_seen_at", _TIME, nullable=False),
        sa.Column("agency_id", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("person_id", "postcode_key"),
    )
    op.create_table(
        "person_index_reviews",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("agency_id", sa.String(64), nullable=False),
        sa.Column("local_id", sa.String(128), nullable=False),
        sa.Column("team", sa.String(100), nullable=True),
        sa.Column("nhs_number", sa.String(10), nullable=True),
        sa.Column("given_name", sa.String(100), nullable=True),
        sa.Column("family_name", sa.String(100), nullable=True),
        sa.Column("date_of_birth", sa.Date(), nullable=True),
        sa.Column("postcodes", sa.String(200), nullable=True),
        sa.Column("candidate_person_id", sa.String(64), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decided_at", _TIME, nullable=True),
        sa.Column("decided_by", sa.String(200), nullable=True),
        sa.Column("decided_person_id", sa.String(64), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_person_index_reviews_status", "person_index_reviews", ["status"])
    # The postcodes already held become each person's first history entry.
    op.execute(
        "INSERT INTO person_postcodes (person_id, postcode_key, first_seen_at, agency_id) "
        "SELECT id, postcode_key, created_at, NULL FROM persons WHERE postcode_key IS NOT NULL"
    )


def downgrade() -> None:
    """Not supported: the link history is append-only."""
    raise NotImplementedError("the state database is never downgraded")
