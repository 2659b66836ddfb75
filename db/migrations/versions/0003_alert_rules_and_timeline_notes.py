"""a group's alert rule and notes on a subject's timeline

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # New tables only: nothing existing is altered, so no batch mode (table copy) is needed on SQLite.
    op.create_table(
        "alert_rules",
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("dim", sa.String(length=16), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("run_length", sa.Integer(), nullable=False),
        sa.Column("set_by", sa.Integer(), nullable=True),
        sa.Column("set_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("dim IN ('valence', 'arousal', 'dominance')", name=op.f("ck_alert_rules_dim")),
        sa.CheckConstraint("direction IN ('below', 'above')", name=op.f("ck_alert_rules_direction")),
        sa.CheckConstraint("threshold >= -1.0 AND threshold <= 1.0", name=op.f("ck_alert_rules_threshold")),
        sa.CheckConstraint("run_length >= 1 AND run_length <= 50", name=op.f("ck_alert_rules_run_length")),
        sa.ForeignKeyConstraint(
            ["group_id"], ["groups.id"], name=op.f("fk_alert_rules_group_id_groups"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["set_by"], ["users.id"], name=op.f("fk_alert_rules_set_by_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("group_id", name=op.f("pk_alert_rules")),
    )
    op.create_table(
        "timeline_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("written_at", sa.DateTime(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.CheckConstraint("length(body) BETWEEN 1 AND 2000", name=op.f("ck_timeline_notes_length")),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_timeline_notes_author_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_timeline_notes_subject_id_subjects"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_timeline_notes")),
    )
    with op.batch_alter_table("timeline_notes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_timeline_notes_subject_id"), ["subject_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("timeline_notes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_timeline_notes_subject_id"))

    op.drop_table("timeline_notes")
    op.drop_table("alert_rules")
