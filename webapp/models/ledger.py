"""The sales ledger: each transaction of a report, staged per upload, and which ERP sales order holds it.

Staged rows are what an upload's reader found, one per order row; the ledger rows say which
transactions are in the ERP, keyed by (settlement and state, transaction hash, occurrence), so the
same transaction arriving again in any file is written once.
"""

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db


class ReconTransaction(db.Model):
    """One order row of an upload: its identity and the money a sales order is made of, in cents."""

    __tablename__ = "recon_transactions"

    # recon_imports.id, without a foreign key: checking one for each of a million staged rows costs
    # more than the rows' own insert; the rows go with their upload's files (webapp/recon_files.py).
    import_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    settlement_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    state: Mapped[str] = mapped_column(String(8), primary_key=True)
    line: Mapped[int] = mapped_column(Integer, primary_key=True)
    txn_hash: Mapped[int] = mapped_column(BigInteger)
    sku: Mapped[str] = mapped_column(String(255))
    order_key: Mapped[int] = mapped_column(BigInteger)
    refund: Mapped[bool] = mapped_column(Boolean)
    units: Mapped[int] = mapped_column(Integer)
    product_sales: Mapped[int] = mapped_column(BigInteger)
    shipping: Mapped[int] = mapped_column(BigInteger)
    gift_wrap: Mapped[int] = mapped_column(BigInteger)
    promotions: Mapped[int] = mapped_column(BigInteger)
    sales_tax: Mapped[int] = mapped_column(BigInteger)
    product_tax: Mapped[int] = mapped_column(BigInteger)
    shipping_tax: Mapped[int] = mapped_column(BigInteger)
    gift_wrap_tax: Mapped[int] = mapped_column(BigInteger)
    promotion_tax: Mapped[int] = mapped_column(BigInteger)
    regulatory_fee_tax: Mapped[int] = mapped_column(BigInteger)
    withheld_tax: Mapped[int] = mapped_column(BigInteger)
    total: Mapped[int] = mapped_column(BigInteger)


class SettlementState(db.Model):
    """A (settlement, ship-to state) the ERP has sales for; its row is locked while one is written."""

    __tablename__ = "erp_settlement_states"
    __table_args__ = (UniqueConstraint("settlement_id", "state", name="uq_erp_settlement_states_settlement_state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    settlement_id: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(8))


class SalesOrderTransaction(db.Model):
    """A report transaction written into an ERP sales order: at most once per (settlement, state)."""

    __tablename__ = "erp_sales_order_transactions"
    __table_args__ = (Index("ix_erp_sales_order_transactions_sales_order_id", "sales_order_id"),)

    settlement_state_id: Mapped[int] = mapped_column(ForeignKey("erp_settlement_states.id"), primary_key=True)
    txn_hash: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    occurrence: Mapped[int] = mapped_column(Integer, primary_key=True)
    sales_order_id: Mapped[int] = mapped_column(ForeignKey("erp_sales_orders.id", ondelete="CASCADE"))
