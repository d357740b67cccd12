"""The practitioner's name on audit records, so that a person's report can say who looked.

Nullable: records written before it existed keep their hashes, which do not cover it
(``gateway.audit.chain`` hashes it by name only when set).

Revision ID: 0002_practitioner_name
Revises: 0001_initial
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_practitioner_name"
down_revision: str | None = "0001_initial"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Add ``disclosures.practitioner_name``."""
    op.add_column("disclosures", sa.Column("practitioner_name", sa.String(200), nullable=True))


def downgrade() -> None:
    """Not supported: the audit chain is append-only."""
    raise NotImplementedError("the state database is never downgraded")
