"""ERP tables that jobs write into; natural keys are unique so every write is idempotent."""

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models.jobs import utcnow


class PurchaseOrder(db.Model):
    """A purchase order header, one per PO number however often it is imported."""

    __tablename__ = "erp_purchase_orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    po_number: Mapped[str] = mapped_column(String(64), unique=True)
    supplier_code: Mapped[str] = mapped_column(String(32))
    supplier_name: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3))
    order_date: Mapped[date] = mapped_column(Date)
    total_cents: Mapped[int] = mapped_column(BigInteger)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    lines: Mapped[list["PurchaseOrderLine"]] = relationship(
        back_populates="purchase_order", order_by="PurchaseOrderLine.line_no"
    )


class PurchaseOrderLine(db.Model):
    """One line of a purchase order; (order, line number) is unique."""

    __tablename__ = "erp_purchase_order_lines"
    __table_args__ = (UniqueConstraint("purchase_order_id", "line_no", name="uq_erp_po_lines_po_line"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    purchase_order_id: Mapped[int] = mapped_column(ForeignKey("erp_purchase_orders.id", ondelete="CASCADE"))
    line_no: Mapped[int] = mapped_column(Integer)
    sku: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(255))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_cents: Mapped[int] = mapped_column(BigInteger)

    purchase_order: Mapped[PurchaseOrder] = relationship(back_populates="lines")


class Product(db.Model):
    """A product made from a bill of materials, one per product code."""

    __tablename__ = "erp_products"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    unit: Mapped[str] = mapped_column(String(16))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    components: Mapped[list["Component"]] = relationship(back_populates="product", order_by="Component.component_code")


class Component(db.Model):
    """One component line of a product's bill of materials; (product, component) is unique."""

    __tablename__ = "erp_components"
    __table_args__ = (UniqueConstraint("product_id", "component_code", name="uq_erp_components_product_component"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("erp_products.id", ondelete="CASCADE"))
    component_code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int] = mapped_column(Integer)

    product: Mapped[Product] = relationship(back_populates="components")


class SalesOrder(db.Model):
    """The sales of one (settlement, ship-to state) that one import wrote: a later import of other
    transactions of the same settlement and state writes a sales order of its own."""

    __tablename__ = "erp_sales_orders"
    __table_args__ = (UniqueConstraint("settlement_id", "state", "job_id", name="uq_erp_sales_orders_settlement_state_job"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    settlement_id: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(8))
    currency: Mapped[str] = mapped_column(String(3))
    orders: Mapped[int] = mapped_column(Integer)
    total_cents: Mapped[int] = mapped_column(BigInteger)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    lines: Mapped[list["SalesOrderLine"]] = relationship(back_populates="sales_order", order_by="SalesOrderLine.line_no")


class SalesOrderLine(db.Model):
    """A line of a sales order: one per SKU, then one per kind of tax; (order, line number) is unique."""

    __tablename__ = "erp_sales_order_lines"
    __table_args__ = (UniqueConstraint("sales_order_id", "line_no", name="uq_erp_so_lines_order_line"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sales_order_id: Mapped[int] = mapped_column(ForeignKey("erp_sales_orders.id", ondelete="CASCADE"))
    line_no: Mapped[int] = mapped_column(Integer)
    line_type: Mapped[str] = mapped_column(String(16))  # "sku" or "tax"
    code: Mapped[str] = mapped_column(String(64))  # the SKU, or the tax bucket
    quantity: Mapped[int] = mapped_column(Integer, default=0)
    amount_cents: Mapped[int] = mapped_column(BigInteger)

    sales_order: Mapped[SalesOrder] = relationship(back_populates="lines")
