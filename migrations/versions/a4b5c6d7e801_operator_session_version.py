"""operator session version: a session cookie is valid only for the version it was issued under

Revision ID: a4b5c6d7e801
Revises: f3a4b5c6d701
Create Date: 2026-12-07 16:15:00

Logging out and changing a password move the operator's version on, so every cookie issued
before stops working at once, wherever it was copied to.
"""

import sqlalchemy as sa
from alembic import op

revision = "a4b5c6d7e801"
down_revision = "f3a4b5c6d701"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("operators") as batch:
        batch.add_column(sa.Column("session_version", sa.Integer(), nullable=False, server_default="1"))


def downgrade() -> None:
    with op.batch_alter_table("operators") as batch:
        batch.drop_column("session_version")
