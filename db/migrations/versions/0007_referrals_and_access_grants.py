"""referrals and who granted access

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing grants keep granted_by NULL: who made them was not recorded (the audit log may say).
    with op.batch_alter_table("group_access", schema=None) as batch_op:
        batch_op.add_column(sa.Column("granted_by", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_group_access_granted_by_users"), "users", ["granted_by"], ["id"], ondelete="SET NULL"
        )
    op.create_table(
        "referrals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("psychologist_id", sa.Integer(), nullable=False),
        sa.Column("referred_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_referrals_subject_id_subjects"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["psychologist_id"], ["users.id"], name=op.f("fk_referrals_psychologist_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["referred_by"], ["users.id"], name=op.f("fk_referrals_referred_by_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["revoked_by"], ["users.id"], name=op.f("fk_referrals_revoked_by_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referrals")),
    )
    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_referrals_subject_id"), ["subject_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_referrals_psychologist_id"), ["psychologist_id"], unique=False)


def downgrade() -> None:
    op.drop_table("referrals")
    with op.batch_alter_table("group_access", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_group_access_granted_by_users"), type_="foreignkey")
        batch_op.drop_column("granted_by")
