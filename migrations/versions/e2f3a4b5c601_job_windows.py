"""job windows: jobs.sent_through, and records indexed by (job, state, seq)

Revision ID: e2f3a4b5c601
Revises: d1e2f3a4b501
Create Date: 2026-12-07 13:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "e2f3a4b5c601"
down_revision = "d1e2f3a4b501"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("sent_through", sa.Integer(), nullable=False, server_default="0"))
    # Jobs dispatched before windows existed sent all their records at once.
    op.execute("UPDATE jobs SET sent_through = COALESCE((SELECT MAX(seq) FROM job_records"
               " WHERE job_records.job_id = jobs.id), 0) WHERE status <> 'queued'")
    op.create_index("ix_job_records_job_state_seq", "job_records", ["job_id", "state", "seq"])
    op.drop_index("ix_job_records_job_state", table_name="job_records")


def downgrade() -> None:
    op.create_index("ix_job_records_job_state", "job_records", ["job_id", "state"])
    op.drop_index("ix_job_records_job_state_seq", table_name="job_records")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("sent_through")
