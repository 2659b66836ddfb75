"""reading quality: why a face reading may not be trusted

Each face reading keeps its quality verdict (vadcore.quality): the reason codes, comma-separated ("small",
"blurred", "turned", "cut_off", "low_confidence"), empty when nothing stands out. Readings saved before this
revision were never judged and get "" (as if nothing stood out).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("face_readings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("quality_flags", sa.String(length=64), server_default="", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("face_readings", schema=None) as batch_op:
        batch_op.drop_column("quality_flags")
