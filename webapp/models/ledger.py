"""The sales ledger: each upload's transactions staged in packed chunks, and which ERP sales order holds which.

Both tables hold packed data (``webapp.reconciliation.reader.packing``), a few thousand transactions a row: a
million-row upload stages a few hundred rows, and a sales order's transactions are a few rows of
sorted keys, so neither the read nor the confirm runs one SQL statement per transaction.
"""

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db


class ReconTransactionChunk(db.Model):
    """A chunk of one upload's transactions of one (settlement, state), in file order (``seq``)."""

    __tablename__ = "recon_transaction_chunks"

    import_id: Mapped[int] = mapped_column(ForeignKey("recon_imports.id", ondelete="CASCADE"), primary_key=True)
    settlement_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    state: Mapped[str] = mapped_column(String(8), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    rows: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class SettlementState(db.Model):
    """A (settlement, ship-to state) the ERP has sales for; its row is locked while one is written."""

    __tablename__ = "erp_settlement_states"
    __table_args__ = (UniqueConstraint("settlement_id", "state", name="uq_erp_settlement_states_settlement_state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    settlement_id: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(8))


class LedgerChunk(db.Model):
    """Sorted keys of report transactions that one ERP sales order holds (at most once per (settlement, state))."""

    __tablename__ = "erp_ledger_chunks"

    sales_order_id: Mapped[int] = mapped_column(ForeignKey("erp_sales_orders.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    settlement_state_id: Mapped[int] = mapped_column(ForeignKey("erp_settlement_states.id"), index=True)
    rows: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
