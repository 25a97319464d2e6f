"""task run canvas ids: each run keeps its parent task, its group and its chord body, as Celery sent them

Revision ID: d1c4a9e27b50
Revises: f1a2b3c4d5e6
Create Date: 2026-12-07 18:40:00

Record steps store no result in Redis, so Celery's result backend cannot say which task came
before or after a step, nor which group and chord it belonged to: the task view reads those from
the run log. Only a chain's last task carries the group and chord (Celery gives them to no other).
"""

import sqlalchemy as sa
from alembic import op

revision = "d1c4a9e27b50"
down_revision = "f1a2b3c4d5e6"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("task_runs") as batch:
        batch.add_column(sa.Column("parent_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("group_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("chord_id", sa.String(64), nullable=True))
    op.create_index("ix_task_runs_parent_id", "task_runs", ["parent_id"])
    op.create_index("ix_task_runs_group_id", "task_runs", ["group_id"])


def downgrade() -> None:
    op.drop_index("ix_task_runs_group_id", table_name="task_runs")
    op.drop_index("ix_task_runs_parent_id", table_name="task_runs")
    with op.batch_alter_table("task_runs") as batch:
        batch.drop_column("chord_id")
        batch.drop_column("group_id")
        batch.drop_column("parent_id")
