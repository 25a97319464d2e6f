"""operator roles, a password to change at first login, named tokens that expire and are revoked

Revision ID: b1e7c4a9d2f0
Revises: a4b5c6d7e801
Create Date: 2026-12-07 18:45:00

Every operator who exists at upgrade becomes an admin. Until now every operator could do
everything (schedules, the sandbox, tokens through the CLI), so this keeps each of them able to
do what they did yesterday, and it keeps a deployment from ending up with no admin at all: the
migration cannot tell who administers the console, and an admin can lower the others' roles on
the operators page afterwards. Operators created from now on are given a role explicitly (the CLI
and the admin page ask for one; the column's default, for anything else, is the least: viewer).

Tokens keep working: none is named, expiring or revoked yet.

Columns are added and dropped in place (ALTER TABLE, SQLite too), never by copying the table as a
batch migration would: on SQLite, dropping the old operators table would delete every API token
with it (ON DELETE CASCADE) and clear every job's creator.
"""

import sqlalchemy as sa
from alembic import op

revision = "b1e7c4a9d2f0"
down_revision = "a4b5c6d7e801"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("operators", sa.Column("role", sa.String(16), nullable=False, server_default="viewer"))
    op.add_column("operators", sa.Column("must_change_password", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.execute("UPDATE operators SET role = 'admin'")
    op.add_column("api_tokens", sa.Column("name", sa.String(80), nullable=False, server_default=""))
    op.add_column("api_tokens", sa.Column("expires_at", sa.DateTime(), nullable=True))
    op.add_column("api_tokens", sa.Column("revoked_at", sa.DateTime(), nullable=True))
    op.add_column("api_tokens", sa.Column("last_used_from", sa.String(64), nullable=True))


def downgrade() -> None:
    for column in ("last_used_from", "revoked_at", "expires_at", "name"):
        op.drop_column("api_tokens", column)
    for column in ("must_change_password", "role"):
        op.drop_column("operators", column)
