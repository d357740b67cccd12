"""The state tables as the first releases created them (``metadata.create_all``).

Times are ``DateTime(timezone=True)``: the gateway's ``UtcDateTime`` converts in
Python and is that type in the database. Written out here rather than taken from the
live ``metadata``, so that this revision creates the same tables whatever the
metadata says later; ``tests/gateway/test_migrations.py`` checks the head matches it.

Revision ID: 0001_initial
Revises: (none)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create every state table, as the previous releases' ``create_all`` did."""
    op.create_table(
        "persons",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("nhs_number", sa.String(10), nullable=True),
        sa.Column("given_name", sa.String(100), nullable=True),
        sa.Column("family_name", sa.String(100), nullable=True),
        sa.Column("family_name_key", sa.String(100), nullable=True),
        sa.Column("date_of_birth", sa.Date(), nullable=True),
        sa.Column("postcode_key", sa.String(10), nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("nhs_number"),
    )
    op.create_index("ix_persons_family_name_key", "persons", ["family_name_key"])
    op.create_table(
        "person_links",
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("agency_id", sa.String(64), nullable=False),
        sa.Column("local_id", sa.String(128), nullable=False),
        sa.Column("team", sa.String(100), nullable=True),
        sa.Column("current", sa.Boolean(), nullable=False),
        sa.UniqueConstraint(
            "agency_id", "local_id", "team", name="uq_person_links_agency_local_team"
        ),
    )
    op.create_index("ix_person_links_person", "person_links", ["person_id"])
    op.create_table(
        "consents",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("scope_kind", sa.String(10), nullable=False),
        sa.Column("scope", sa.String(100), nullable=False),
        sa.Column("recipient_kind", sa.String(10), nullable=False),
        sa.Column("recipient", sa.String(100), nullable=False),
        sa.Column("decision", sa.String(10), nullable=False),
        sa.Column("valid_from", _TIME, nullable=False),
        sa.Column("valid_until", _TIME, nullable=True),
        sa.Column("withdrawn_at", _TIME, nullable=True),
        sa.Column("withdrawn_by", sa.String(100), nullable=True),
        sa.Column("recorded_by", sa.String(200), nullable=False),
        sa.Column("recorded_at", _TIME, nullable=False),
        sa.Column("reference", sa.Text(), nullable=False),
        sa.Column("reference_form", sa.String(64), nullable=True),
        sa.Column("withdrawn_reference", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_consents_person_id", "consents", ["person_id"])
    op.create_table(
        "break_glass_grants",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("practitioner", sa.String(200), nullable=False),
        sa.Column("agency", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("reason_category", sa.String(64), nullable=True),
        sa.Column("reference", sa.String(100), nullable=True),
        sa.Column("granted_at", _TIME, nullable=False),
        sa.Column("expires_at", _TIME, nullable=False),
        sa.Column("ended_at", _TIME, nullable=True),
        sa.Column("ended_by", sa.String(200), nullable=True),
        sa.Column("end_reason", sa.Text(), nullable=True),
        sa.Column("reviewed_at", _TIME, nullable=True),
        sa.Column("reviewed_by", sa.String(200), nullable=True),
        sa.Column("review_outcome", sa.String(32), nullable=True),
        sa.Column("review_note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_break_glass_grants_person_id", "break_glass_grants", ["person_id"])
    op.create_table(
        "break_glass_notifications",
        sa.Column("grant_id", sa.String(64), nullable=False),
        sa.Column("agency", sa.String(64), nullable=False),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("practitioner", sa.String(200), nullable=False),
        sa.Column("requester_agency", sa.String(64), nullable=False),
        sa.Column("first_disclosed_at", _TIME, nullable=False),
        sa.Column("ended_notice", sa.String(32), nullable=True),
        sa.Column("ended_notified_at", _TIME, nullable=True),
        sa.PrimaryKeyConstraint("grant_id", "agency"),
    )
    op.create_table(
        "disclosures",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("at", sa.String(40), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("query_hash", sa.String(64), nullable=False),
        sa.Column("practitioner", sa.String(200), nullable=False),
        sa.Column("requester_agency", sa.String(64), nullable=False),
        sa.Column("requester_team", sa.String(100), nullable=True),
        sa.Column("roles", sa.Text(), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("person_id", sa.String(64), nullable=True),
        sa.Column("agencies", sa.Text(), nullable=False),
        sa.Column("statutory", sa.Boolean(), nullable=False),
        sa.Column("break_glass", sa.String(64), nullable=True),
        sa.Column("break_glass_reason", sa.Text(), nullable=True),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index("ix_disclosures_request_id", "disclosures", ["request_id"])
    op.create_index("ix_disclosures_person_id", "disclosures", ["person_id"])
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "audit_signatures",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("signed_at", sa.String(40), nullable=False),
        sa.Column("signature", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )


def downgrade() -> None:
    """Not supported: the audit chain is append-only, and dropping it would destroy it."""
    raise NotImplementedError("the state database is never downgraded")
