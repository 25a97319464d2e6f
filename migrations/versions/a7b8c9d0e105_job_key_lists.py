"""job key lists: a launch stores its keys in one row, the dispatch task makes the records

Revision ID: a7b8c9d0e105
Revises: f6a7b8c9d004
Create Date: 2026-12-01 17:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "a7b8c9d0e105"
down_revision = "f6a7b8c9d004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_key_lists",
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("keys", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name=op.f("fk_job_key_lists_job_id_jobs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_job_key_lists")),
    )


def downgrade() -> None:
    op.drop_table("job_key_lists")
