"""list filter indexes: a page of one operator's jobs, or of one actor's audit events, newest first

Revision ID: f1a2b3c4d5e6
Revises: c1a2b3c4d5e6
Create Date: 2026-12-07 18:45:00

The jobs list filters by operator and the audit trail by actor, each newest first: with these the
database reads the page's rows from the index in order, however rare the operator is, instead
of walking every job (or event) backwards until a page of theirs is found.
"""

from alembic import op

revision = "f1a2b3c4d5e6"
down_revision = "c1a2b3c4d5e6"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_jobs_created_by", "jobs", ["created_by_id", "id"])
    op.create_index("ix_audit_events_actor", "audit_events", ["actor", "id"])


def downgrade() -> None:
    op.drop_index("ix_audit_events_actor", table_name="audit_events")
    op.drop_index("ix_jobs_created_by", table_name="jobs")
