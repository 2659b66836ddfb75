"""at most one open referral of a subject to a psychologist

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# A partial index: revoked referrals stay as history, so only the open ones (revoked_at NULL) must be unique.
# db.models.Referral declares the same index.
_OPEN = sa.text("revoked_at IS NULL")


def upgrade() -> None:
    # Two requests at once could each open a referral before this index; the later ones are revoked (by no one:
    # revoked_by NULL), so that the index can be built and the rows stay as history.
    op.execute(
        sa.text(
            "UPDATE referrals SET revoked_at = :now WHERE revoked_at IS NULL AND EXISTS (SELECT 1 FROM referrals "
            "AS older WHERE older.subject_id = referrals.subject_id AND older.psychologist_id = "
            "referrals.psychologist_id AND older.revoked_at IS NULL AND older.id < referrals.id)"
        ).bindparams(now=datetime.now(UTC).replace(tzinfo=None))
    )
    op.create_index(
        "uq_referrals_open_subject_psychologist",
        "referrals",
        ["subject_id", "psychologist_id"],
        unique=True,
        sqlite_where=_OPEN,
        postgresql_where=_OPEN,
    )


def downgrade() -> None:
    op.drop_index("uq_referrals_open_subject_psychologist", table_name="referrals")
