"""safety: retention and grade range per group, account stamps and throttling, case-folded subject codes,
and the deployment record

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _code_key(code: str) -> str:
    # The same rule as db.services' normalisation of new codes (NFKC, case-folded); kept here as it was on
    # the day of the migration, as migrations must not import code that changes later.
    return unicodedata.normalize("NFKC", code).casefold()


def upgrade() -> None:
    with op.batch_alter_table("groups", schema=None) as batch_op:
        batch_op.add_column(sa.Column("retention_days", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("grade_min", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("grade_max", sa.Float(), nullable=True))
        batch_op.create_check_constraint(
            batch_op.f("ck_groups_retention_days"), "retention_days IS NULL OR retention_days BETWEEN 1 AND 3650"
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_groups_grade_range"),
            "(grade_min IS NULL AND grade_max IS NULL) OR (grade_min IS NOT NULL AND grade_max IS NOT NULL "
            "AND grade_min < grade_max)",
        )

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("credentials_changed_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("failed_logins", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("locked_until", sa.DateTime(), nullable=True))

    # Subject codes are unique within a group once normalised and case-folded ("Ab1" and "ab1" are one code).
    with op.batch_alter_table("subjects", schema=None) as batch_op:
        batch_op.add_column(sa.Column("code_key", sa.String(length=64), nullable=True))
    subjects = sa.table(
        "subjects",
        sa.column("id", sa.Integer),
        sa.column("group_id"),
        sa.column("code"),
        sa.column("code_key", sa.String),
    )
    conn = op.get_bind()
    seen: set[tuple[int, str]] = set()
    for sid, gid, code in conn.execute(sa.select(subjects.c.id, subjects.c.group_id, subjects.c.code)).all():
        key = _code_key(code)
        if (gid, key) in seen:  # two codes that differ only in case: keep both, distinguished by id
            key = f"{key}~{sid}"
        seen.add((gid, key))
        conn.execute(sa.update(subjects).where(subjects.c.id == sid).values(code_key=key))
    with op.batch_alter_table("subjects", schema=None) as batch_op:
        batch_op.alter_column("code_key", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint("uq_subjects_group_code_key", ["group_id", "code_key"])

    op.create_table(
        "deployment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation", sa.String(length=200), nullable=False),
        sa.Column("contact", sa.String(length=200), nullable=False),
        sa.Column("jurisdiction", sa.String(length=16), nullable=False),
        sa.Column("setting", sa.String(length=16), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("protocol_ref", sa.String(length=200), nullable=False),
        sa.Column("recorded_by", sa.Integer(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_deployment_single")),
        sa.CheckConstraint("jurisdiction IN ('eu', 'outside_eu')", name=op.f("ck_deployment_jurisdiction")),
        sa.CheckConstraint(
            "setting IN ('education', 'workplace', 'healthcare', 'research', 'other')",
            name=op.f("ck_deployment_setting"),
        ),
        sa.CheckConstraint(
            "purpose IN ('medical', 'safety', 'research', 'education', 'other')", name=op.f("ck_deployment_purpose")
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by"], ["users.id"], name=op.f("fk_deployment_recorded_by_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployment")),
    )


def downgrade() -> None:
    op.drop_table("deployment")
    with op.batch_alter_table("subjects", schema=None) as batch_op:
        batch_op.drop_constraint("uq_subjects_group_code_key", type_="unique")
        batch_op.drop_column("code_key")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("locked_until")
        batch_op.drop_column("failed_logins")
        batch_op.drop_column("credentials_changed_at")
    with op.batch_alter_table("groups", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_groups_grade_range"), type_="check")
        batch_op.drop_constraint(batch_op.f("ck_groups_retention_days"), type_="check")
        batch_op.drop_column("grade_max")
        batch_op.drop_column("grade_min")
        batch_op.drop_column("retention_days")
