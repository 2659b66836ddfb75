"""video captures: a "video" capture source; frame time and track of each reading

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SOURCES_BEFORE = "source IN ('upload', 'camera', 'simulated')"
SOURCES_AFTER = "source IN ('upload', 'camera', 'simulated', 'video')"


def upgrade() -> None:
    with op.batch_alter_table("captures", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_captures_source"), type_="check")
        batch_op.create_check_constraint(batch_op.f("ck_captures_source"), SOURCES_AFTER)

    with op.batch_alter_table("face_readings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("frame_time_s", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("track_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    # Refused by the database (the CHECK constraint) while video captures exist: delete them first.
    with op.batch_alter_table("face_readings", schema=None) as batch_op:
        batch_op.drop_column("track_id")
        batch_op.drop_column("frame_time_s")

    with op.batch_alter_table("captures", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_captures_source"), type_="check")
        batch_op.create_check_constraint(batch_op.f("ck_captures_source"), SOURCES_BEFORE)
