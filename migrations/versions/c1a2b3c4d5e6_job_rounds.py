"""job rounds: each ended round of a job (its first run, each retry of its failed records)

Revision ID: c1a2b3c4d5e6
Revises: b1e7c4a9d2f0
Create Date: 2026-12-07 18:45:00

"Retry failed records" runs a job again under the same id; the round that ended is kept here
with its status and counts, so the job's history still shows what failed the first time.
"""

import sqlalchemy as sa
from alembic import op

revision = "c1a2b3c4d5e6"
down_revision = "b1e7c4a9d2f0"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_rounds",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("job_id", sa.Integer(), sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("succeeded", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("cancelled", sa.Integer(), nullable=False),
        sa.Column("last_run_id", sa.Integer(), nullable=True),
        sa.Column("retried_at", sa.DateTime(), nullable=False),
        sa.Column("retried_by", sa.String(80), nullable=True),
        sa.UniqueConstraint("job_id", "number", name="uq_job_rounds_job_id_number"),
    )


def downgrade() -> None:
    op.drop_table("job_rounds")
