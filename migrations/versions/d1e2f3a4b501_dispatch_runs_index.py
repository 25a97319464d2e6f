"""dispatch runs: a partial index for the latest dispatch run of a job

Revision ID: d1e2f3a4b501
Revises: c0d1e2f3a402
Create Date: 2026-12-07 11:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "d1e2f3a4b501"
down_revision = "c0d1e2f3a402"
branch_labels = None
depends_on = None

WHERE = "task_name = 'tasks.workflows.dispatch_job'"


def upgrade() -> None:
    # Only dispatch runs are indexed: a few rows per job, and no cost on the record steps' inserts.
    op.create_index("ix_task_runs_dispatch", "task_runs", ["job_id", "id"],
                    postgresql_where=sa.text(WHERE), sqlite_where=sa.text(WHERE))


def downgrade() -> None:
    op.drop_index("ix_task_runs_dispatch", table_name="task_runs")
