"""packed ledger: staged transactions and the transactions each sales order holds, a few thousand per row

Revision ID: f3a4b5c6d701
Revises: e2f3a4b5c601
Create Date: 2026-12-07 13:10:00

The rows of the old one-row-per-transaction tables are converted both ways: staged rows into
chunks in line order (downgraded, their lines are numbered 1, 2, … in that order, which is all
the ledger used them for), and each sales order's transactions into sorted keys.
"""

from collections.abc import Iterator
from itertools import groupby

import sqlalchemy as sa
from alembic import op

from webapp.reconciliation.reader.packing import BLOCK_ROWS, CHUNK_ROWS, KEY, pack_block, pack_chunk, pack_keys, unpack, unpack_keys

revision = "f3a4b5c6d701"
down_revision = "e2f3a4b5c601"
branch_labels = None
depends_on = None

KEYS_PER_ROW = 8192
AMOUNTS = ("product_sales", "shipping", "gift_wrap", "promotions", "sales_tax", "product_tax", "shipping_tax",
           "gift_wrap_tax", "promotion_tax", "regulatory_fee_tax", "withheld_tax", "total")
STAGED = ("txn_hash", "sku", "order_key", "refund", "units", *AMOUNTS)


def upgrade() -> None:
    staged = op.create_table(
        "recon_transaction_chunks",
        sa.Column("import_id", sa.Integer(), nullable=False),
        sa.Column("settlement_id", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["import_id"], ["recon_imports.id"],
                                name=op.f("fk_recon_transaction_chunks_import_id_recon_imports"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("import_id", "settlement_id", "state", "seq", name=op.f("pk_recon_transaction_chunks")),
    )
    ledger = op.create_table(
        "erp_ledger_chunks",
        sa.Column("sales_order_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("settlement_state_id", sa.Integer(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["sales_order_id"], ["erp_sales_orders.id"],
                                name=op.f("fk_erp_ledger_chunks_sales_order_id_erp_sales_orders"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["settlement_state_id"], ["erp_settlement_states.id"],
                                name=op.f("fk_erp_ledger_chunks_settlement_state_id_erp_settlement_states")),
        sa.PrimaryKeyConstraint("sales_order_id", "seq", name=op.f("pk_erp_ledger_chunks")),
    )
    op.create_index("ix_erp_ledger_chunks_settlement_state_id", "erp_ledger_chunks", ["settlement_state_id"])
    if op.get_bind().dialect.name == "postgresql":
        # Staged chunks are zlib-compressed and keys are hashes: compressing them again gains nothing.
        op.execute("ALTER TABLE recon_transaction_chunks ALTER COLUMN data SET STORAGE EXTERNAL")
        op.execute("ALTER TABLE erp_ledger_chunks ALTER COLUMN data SET STORAGE EXTERNAL")
    pack_staged_rows(staged)
    pack_ledger_rows(ledger)
    op.drop_index("ix_erp_sales_order_transactions_sales_order_id", table_name="erp_sales_order_transactions")
    op.drop_table("erp_sales_order_transactions")
    op.drop_table("recon_transactions")


def streamed(sql: str) -> Iterator[sa.Row]:
    """The rows of a query, fetched a few thousand at a time."""
    yield from op.get_bind().execute(sa.text(sql).execution_options(stream_results=True, yield_per=CHUNK_ROWS))


def pack_staged_rows(staged: sa.Table) -> None:
    """Each upload's staged rows as chunks of CHUNK_ROWS, in line order per (settlement, state)."""
    sql = (f"SELECT r.import_id, r.settlement_id, r.state, {', '.join('r.' + name for name in STAGED)} "
           "FROM recon_transactions r JOIN recon_imports u ON u.id = r.import_id "
           "ORDER BY r.import_id, r.settlement_id, r.state, r.line")
    for (import_id, settlement_id, state), rows in groupby(streamed(sql), key=lambda row: tuple(row[:3])):
        seq, batch, blocks, packed = 0, [], [], 0
        for row in rows:
            txn_hash, *values = row[3:]
            batch.append((int(txn_hash).to_bytes(8, "big", signed=True), *values))
            if len(batch) == BLOCK_ROWS:
                blocks.append(pack_block(batch))
                packed, batch = packed + len(batch), []
            if packed >= CHUNK_ROWS:
                insert_chunk(staged, (import_id, settlement_id, state, seq), packed, blocks)
                seq, blocks, packed = seq + 1, [], 0
        if batch:
            blocks.append(pack_block(batch))
            packed += len(batch)
        if blocks:
            insert_chunk(staged, (import_id, settlement_id, state, seq), packed, blocks)


def insert_chunk(staged: sa.Table, where: tuple[int, str, str, int], rows: int, blocks: list[bytes]) -> None:
    """Insert one staged chunk at (upload, settlement, state, seq)."""
    import_id, settlement_id, state, seq = where
    op.get_bind().execute(staged.insert().values(import_id=import_id, settlement_id=settlement_id, state=state,
                                                 seq=seq, rows=rows, data=pack_chunk(blocks)))


def pack_ledger_rows(ledger: sa.Table) -> None:
    """Each sales order's transactions as sorted keys, KEYS_PER_ROW a row."""
    sql = ("SELECT sales_order_id, settlement_state_id, txn_hash, occurrence FROM erp_sales_order_transactions "
           "ORDER BY sales_order_id")
    for (order_id, settlement_state_id), rows in groupby(streamed(sql), key=lambda row: (row[0], row[1])):
        keys = pack_keys(int(txn_hash).to_bytes(8, "big", signed=True) + int(occurrence).to_bytes(4, "big")
                         for _, _, txn_hash, occurrence in rows)
        step = KEYS_PER_ROW * KEY
        for seq, at in enumerate(range(0, len(keys), step)):
            part = keys[at : at + step]
            op.get_bind().execute(ledger.insert().values(sales_order_id=order_id, seq=seq, rows=len(part) // KEY,
                                                         settlement_state_id=settlement_state_id, data=part))


def downgrade() -> None:
    staged = op.create_table(
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
    ledger = op.create_table(
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
    unpack_staged_chunks(staged)
    unpack_ledger_chunks(ledger)
    op.drop_index("ix_erp_ledger_chunks_settlement_state_id", table_name="erp_ledger_chunks")
    op.drop_table("erp_ledger_chunks")
    op.drop_table("recon_transaction_chunks")


def unpack_staged_chunks(staged: sa.Table) -> None:
    """Each staged chunk as one row per transaction, numbered in file order per (settlement, state)."""
    sql = ("SELECT import_id, settlement_id, state, data FROM recon_transaction_chunks "
           "ORDER BY import_id, settlement_id, state, seq")
    for (import_id, settlement_id, state), chunks in groupby(streamed(sql), key=lambda row: tuple(row[:3])):
        line = 0
        for *_, data in chunks:
            rows = []
            for block in unpack(bytes(data)):
                for digest, sku, *values in zip(block.identities(), block.sku_column, *block.columns, strict=True):
                    line += 1
                    row = dict(zip(("line", *STAGED), (line, int.from_bytes(digest, "big", signed=True),
                                                       block.skus[sku], *values), strict=True))
                    rows.append(dict(row, refund=bool(row["refund"]), import_id=import_id,
                                     settlement_id=settlement_id, state=state))
            op.get_bind().execute(staged.insert(), rows)


def unpack_ledger_chunks(ledger: sa.Table) -> None:
    """Each sales order's keys as one row per transaction."""
    sql = "SELECT sales_order_id, settlement_state_id, data FROM erp_ledger_chunks ORDER BY sales_order_id, seq"
    for order_id, settlement_state_id, data in streamed(sql):
        op.get_bind().execute(ledger.insert(), [
            {"settlement_state_id": settlement_state_id, "sales_order_id": order_id,
             "txn_hash": int.from_bytes(key[:8], "big", signed=True), "occurrence": int.from_bytes(key[8:], "big")}
            for key in sorted(unpack_keys(bytes(data)))
        ])
