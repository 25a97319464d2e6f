"""Idempotent ERP inserts: a natural key already present is found, never written twice."""

from flask import Flask
from sqlalchemy import event

from webapp.erp_writes.upsert import insert_or_find_id
from webapp.extensions import db
from webapp.models import Product


def test_a_new_row_costs_one_statement_and_an_existing_key_is_found(app: Flask) -> None:
    values = {"product_code": "P-UPSERT-1", "name": "Bracket", "unit": "ea", "job_id": None}
    with app.app_context():
        sent: list[str] = []

        def record(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
            sent.append(statement.split(None, 1)[0].upper())

        event.listen(db.engine, "before_cursor_execute", record)
        try:
            first = insert_or_find_id(Product, values, "product_code")
            inserting = list(sent)
            again = insert_or_find_id(Product, dict(values, name="Bracket, renamed"), "product_code")
            db.session.commit()
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
        assert inserting == ["INSERT"]  # the id came back with the insert
        assert sent[len(inserting):] == ["INSERT", "SELECT"]  # the key existed: nothing inserted, the id looked up
        assert again == first
        rows = db.session.execute(db.select(Product.id, Product.name).where(Product.product_code == "P-UPSERT-1")).all()
        assert [tuple(row) for row in rows] == [(first, "Bracket")]
