"""stored files: uploads kept in the database (or S3), referenced by recon imports

Revision ID: c0d1e2f3a401
Revises: b8c9d0e1f206
Create Date: 2026-12-08 10:00:00

Rows made before keep their ``path`` / ``orders_path`` (now nullable): a file saved under
UPLOAD_FOLDER is still read from there if it was not read yet. Their bytes are not copied into
the database here, because the release phase runs on a machine that may not have those files.
"""

import sqlalchemy as sa
from alembic import op

revision = "c0d1e2f3a401"
down_revision = "b8c9d0e1f206"
branch_labels = None
depends_on = None

# PostgreSQL compresses large bytea values with pglz by default: storing a 350 MB CSV took ~4.5 s,
# with lz4 ~1.2 s, for about the same size on disk. lz4 needs PostgreSQL 14 built with it;
# elsewhere the default stays.
LZ4_CHUNKS = """
DO $$
BEGIN
    EXECUTE 'ALTER TABLE stored_file_chunks ALTER COLUMN data SET COMPRESSION lz4';
EXCEPTION WHEN others THEN
    RAISE NOTICE 'stored_file_chunks.data keeps the default compression: %', SQLERRM;
END $$
"""


def upgrade() -> None:
    op.create_table(
        "stored_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("backend", sa.String(length=16), nullable=False),
        sa.Column("bucket", sa.String(length=255), nullable=True),
        sa.Column("object_key", sa.String(length=1024), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stored_files")),
    )
    op.create_table(
        "stored_file_chunks",
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["file_id"], ["stored_files.id"], name=op.f("fk_stored_file_chunks_file_id_stored_files"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("file_id", "seq", name=op.f("pk_stored_file_chunks")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(LZ4_CHUNKS)
    with op.batch_alter_table("recon_imports") as batch_op:
        batch_op.add_column(sa.Column("report_file_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("orders_file_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("files_deleted_at", sa.DateTime(), nullable=True))
        batch_op.alter_column("path", existing_type=sa.String(length=1024), nullable=True)
        batch_op.create_foreign_key(batch_op.f("fk_recon_imports_report_file_id_stored_files"), "stored_files",
                                    ["report_file_id"], ["id"], ondelete="SET NULL")
        batch_op.create_foreign_key(batch_op.f("fk_recon_imports_orders_file_id_stored_files"), "stored_files",
                                    ["orders_file_id"], ["id"], ondelete="SET NULL")
        batch_op.create_index(batch_op.f("ix_recon_imports_report_file_id"), ["report_file_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_recon_imports_orders_file_id"), ["orders_file_id"], unique=False)


def downgrade() -> None:
    op.execute("UPDATE recon_imports SET path = '' WHERE path IS NULL")  # stored in the database: no path to give back
    with op.batch_alter_table("recon_imports") as batch_op:
        batch_op.drop_index(batch_op.f("ix_recon_imports_orders_file_id"))
        batch_op.drop_index(batch_op.f("ix_recon_imports_report_file_id"))
        batch_op.drop_constraint(batch_op.f("fk_recon_imports_orders_file_id_stored_files"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_recon_imports_report_file_id_stored_files"), type_="foreignkey")
        batch_op.alter_column("path", existing_type=sa.String(length=1024), nullable=False)
        batch_op.drop_column("files_deleted_at")
        batch_op.drop_column("orders_file_id")
        batch_op.drop_column("report_file_id")
    op.drop_table("stored_file_chunks")
    op.drop_table("stored_files")
