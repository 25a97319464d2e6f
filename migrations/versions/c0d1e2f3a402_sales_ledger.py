"""sales ledger: staged report transactions, the transactions each sales order holds, one order per import

Revision ID: c0d1e2f3a402
Revises: c0d1e2f3a401
Create Date: 2026-12-07 10:50:00
"""

import sqlalchemy as sa
from alembic import op

revision = "c0d1e2f3a402"
down_revision = "c0d1e2f3a401"
branch_labels = None
depends_on = None

AMOUNTS = ("product_sales", "shipping", "gift_wrap", "promotions", "sales_tax", "product_tax", "shipping_tax",
           "gift_wrap_tax", "promotion_tax", "regulatory_fee_tax", "withheld_tax", "total")


def upgrade() -> None:
    # No foreign key to recon_imports: its check would run for each of a million rows staged; the
    # rows are deleted with their upload's files (webapp/reconciliation/files.py) or before a read again.
    op.create_table(
        "recon_transactions",
        sa.Column("import_id", sa.Integer(), nullable=False),
        sa.Column("settlement_id", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("txn_hash", sa.BigInteger(), nullable=False),
        sa.Column("sku", sa.String(length=255), nullable=False),
        sa.Column("order_key", sa.BigInteger(), nullable=False),
        sa.Column("refund", sa.Boolean(), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in AMOUNTS),
        sa.PrimaryKeyConstraint("import_id", "settlement_id", "state", "line", name=op.f("pk_recon_transactions")),
    )
    op.create_table(
        "erp_settlement_states",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("settlement_id", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erp_settlement_states")),
        sa.UniqueConstraint("settlement_id", "state", name="uq_erp_settlement_states_settlement_state"),
    )
    op.create_table(
        "erp_sales_order_transactions",
        sa.Column("settlement_state_id", sa.Integer(), nullable=False),
        sa.Column("txn_hash", sa.BigInteger(), nullable=False),
        sa.Column("occurrence", sa.Integer(), nullable=False),
        sa.Column("sales_order_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["settlement_state_id"], ["erp_settlement_states.id"],
                                name=op.f("fk_erp_sales_order_transactions_settlement_state_id_erp_settlement_states")),
        sa.ForeignKeyConstraint(["sales_order_id"], ["erp_sales_orders.id"],
                                name=op.f("fk_erp_sales_order_transactions_sales_order_id_erp_sales_orders"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("settlement_state_id", "txn_hash", "occurrence", name=op.f("pk_erp_sales_order_transactions")),
    )
    op.create_index("ix_erp_sales_order_transactions_sales_order_id", "erp_sales_order_transactions", ["sales_order_id"])
    # Sales orders written before transactions were tracked stay; each later import writes its own.
    with op.batch_alter_table("erp_sales_orders") as batch_op:
        batch_op.drop_constraint("uq_erp_sales_orders_settlement_state", type_="unique")
        batch_op.create_unique_constraint("uq_erp_sales_orders_settlement_state_job", ["settlement_id", "state", "job_id"])


def downgrade() -> None:
    # Refused by the unique constraint while two imports of one (settlement, state) exist: nothing is deleted.
    with op.batch_alter_table("erp_sales_orders") as batch_op:
        batch_op.drop_constraint("uq_erp_sales_orders_settlement_state_job", type_="unique")
        batch_op.create_unique_constraint("uq_erp_sales_orders_settlement_state", ["settlement_id", "state"])
    op.drop_index("ix_erp_sales_order_transactions_sales_order_id", table_name="erp_sales_order_transactions")
    op.drop_table("erp_sales_order_transactions")
    op.drop_table("erp_settlement_states")
    op.drop_table("recon_transactions")
