"""recon imports: the content hash is set by the reader, not by the upload request

Revision ID: b8c9d0e1f206
Revises: a7b8c9d0e105
Create Date: 2026-12-07 03:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "b8c9d0e1f206"
down_revision = "a7b8c9d0e105"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("recon_imports") as batch_op:
        batch_op.alter_column("sha256", existing_type=sa.String(length=64), nullable=True)


def downgrade() -> None:
    op.execute("UPDATE recon_imports SET sha256 = '' WHERE sha256 IS NULL")  # files never read to the end
    with op.batch_alter_table("recon_imports") as batch_op:
        batch_op.alter_column("sha256", existing_type=sa.String(length=64), nullable=False)
