"""The packed ledger's migration: a database holding the one-row-per-transaction ledger is packed on
upgrade and unpacked on downgrade, and the packed ledger reads what the rows said."""

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_migrate import downgrade, upgrade

from devtools import ROOT
from tests.migrating import app_on_own_database
from webapp.extensions import db

BEFORE, PACKED = "e2f3a4b5c601", "f3a4b5c6d701"
SCHEMA = "ledger_migration"
AMOUNTS = (
    "product_sales",
    "shipping",
    "gift_wrap",
    "promotions",
    "sales_tax",
    "product_tax",
    "shipping_tax",
    "gift_wrap_tax",
    "promotion_tax",
    "regulatory_fee_tax",
    "withheld_tax",
    "total",
)
COLUMNS = ("import_id", "settlement_id", "state", "line", "txn_hash", "sku", "order_key", "refund", "units", *AMOUNTS)
H1, H2, H3 = -8_000_000_000_000_000_001, 42, 7_000_000_000_000_000_007  # signed BIGINTs, as the old ledger kept them


def staged(line: int, txn_hash: int, state: str = "CA", sku: str = "SKU-1", refund: bool = False) -> tuple:
    """An old staged row: 10.25 of product sales and 1.10 of tax."""
    amounts = (1025, 0, 0, 0, 0, 110, 0, 0, 0, 0, 0, 900)
    return (1, "2470", state, line, txn_hash, sku, 11300000010000001 + line, refund, -1 if refund else 1, *amounts)


OLD_STAGED = [staged(3, H1), staged(5, H2, sku="SKU-2"), staged(9, H1), staged(4, H3, state="TX", refund=True)]
OLD_LEDGER = {(1, H1, 0, 1), (1, H2, 0, 1), (1, H1, 1, 1)}  # (settlement state, hash, occurrence, sales order)


@pytest.fixture
def migrating_app(tmp_path: Path) -> Iterator[Flask]:
    """An app on a database of its own (tests.migrating)."""
    with app_on_own_database(tmp_path, SCHEMA) as app:
        yield app


def fill_old_ledger() -> None:
    """An upload whose CA rows (one transaction twice) were written into sales order 1, at the old schema."""
    run = db.session.execute
    run(
        sa.text(
            "INSERT INTO jobs (id, kind, source, status, total, created_at, finalized_count, resent_records) "
            "VALUES (1, 'reconciliation', 'upload', 'succeeded', 1, CURRENT_TIMESTAMP, 0, 0)"
        )
    )
    run(
        sa.text(
            "INSERT INTO recon_imports (id, job_id, filename, size_bytes, rows_read, bytes_read, ok, error_count, "
            "created_at) VALUES (1, 1, 'june.csv', 100, 4, 100, true, 0, CURRENT_TIMESTAMP)"
        )
    )
    marks = ", ".join(f":{name}" for name in COLUMNS)
    run(
        sa.text(f"INSERT INTO recon_transactions ({', '.join(COLUMNS)}) VALUES ({marks})"),
        [dict(zip(COLUMNS, row, strict=True)) for row in OLD_STAGED],
    )
    run(sa.text("INSERT INTO erp_settlement_states (id, settlement_id, state) VALUES (1, '2470', 'CA')"))
    run(
        sa.text(
            "INSERT INTO erp_sales_orders (id, settlement_id, state, currency, orders, total_cents, job_id, "
            "created_at) VALUES (1, '2470', 'CA', 'USD', 2, 3405, 1, CURRENT_TIMESTAMP)"
        )
    )
    run(
        sa.text(
            "INSERT INTO erp_sales_order_transactions (settlement_state_id, txn_hash, occurrence, sales_order_id) VALUES (:s, :h, :o, :so)"
        ),
        [dict(zip(("s", "h", "o", "so"), row, strict=True)) for row in OLD_LEDGER],
    )
    db.session.commit()


def digest(txn_hash: int) -> bytes:
    """The packed identity of an old signed hash."""
    return txn_hash.to_bytes(8, "big", signed=True)


def test_the_old_ledger_is_packed_on_upgrade_and_unpacked_on_downgrade(migrating_app: Flask) -> None:
    """Staged rows become chunks in line order, a sales order's rows its keys; and back, lines renumbered in order."""
    from webapp.reconciliation.ledger import comparison, store
    from webapp.reconciliation.reader.packing import key

    folder = str(ROOT / "migrations")
    with migrating_app.app_context():
        upgrade(directory=folder, revision=BEFORE)
        fill_old_ledger()
        upgrade(directory=folder, revision=PACKED)
        (ca,) = store.staged_blocks(1, "2470", "CA")
        assert list(ca.identities()) == [digest(H1), digest(H2), digest(H1)]
        assert [ca.skus[at] for at in ca.sku_column] == ["SKU-1", "SKU-2", "SKU-1"]
        assert list(ca.column(0)) == [11300000010000004, 11300000010000006, 11300000010000010]
        assert store.held_keys(1) == {1: {key(digest(H1), 0), key(digest(H2), 0), key(digest(H1), 1)}}
        found = comparison.compare_group(1, "2470", "CA")
        assert (found.new.rows, found.imported.rows, found.imported.order_total, found.jobs) == (0, 3, 3405, [1])
        (tx,) = store.staged_blocks(1, "2470", "TX")
        assert list(tx.column(1)) == [1] and list(tx.column(2)) == [-1]
        assert store.staged_rows(1) == 4
        db.session.commit()

        downgrade(directory=folder, revision=BEFORE)
        rows = db.session.execute(sa.text(f"SELECT {', '.join(COLUMNS)} FROM recon_transactions ORDER BY settlement_id, state, line")).all()
        renumbered = [(*row[:3], line, *row[4:]) for line, row in zip((1, 2, 3, 1), OLD_STAGED, strict=True)]
        assert [tuple(row) for row in rows] == renumbered
        ledger_rows = db.session.execute(
            sa.text("SELECT settlement_state_id, txn_hash, occurrence, sales_order_id FROM erp_sales_order_transactions")
        ).all()
        assert {tuple(row) for row in ledger_rows} == OLD_LEDGER
        db.session.commit()
