"""The sales ledger's promises, checked from the database: for the soak and the tests."""

from sqlalchemy import text

from tasks.ledger import LINE_SUM, TAX_SUM
from webapp.extensions import db


def invariant_problems() -> list[str]:
    """What breaks the ledger's promises, in words (none when it holds): for the soak and the tests.

    Every sales order's header equals its lines, and for every (settlement, state) whose records
    all succeeded, the ERP's sales orders add up to the distinct transactions that confirmed
    uploads sent to be written (the same transaction in two files counted once). Uploads whose
    staged rows went with their file (UPLOAD_RETENTION_DAYS after their job) are not seen.
    """
    headers = """
        SELECT so.id, so.total_cents, coalesce(sum(l.amount_cents), 0) FROM erp_sales_orders so
        LEFT JOIN erp_sales_order_lines l ON l.sales_order_id = so.id GROUP BY so.id, so.total_cents
        HAVING so.total_cents <> coalesce(sum(l.amount_cents), 0)
    """
    problems = [f"sales order {order}: header {total} but lines {lines}" for order, total, lines in db.session.execute(text(headers))]
    distinct = f"""
        WITH t AS (
            SELECT r.settlement_id, r.state, r.txn_hash, {LINE_SUM} + {TAX_SUM} AS cents,
                   row_number() OVER (PARTITION BY r.import_id, r.settlement_id, r.state, r.txn_hash ORDER BY r.line) - 1 AS occurrence
            FROM recon_transactions r JOIN recon_imports u ON u.id = r.import_id
            JOIN job_records w ON w.job_id = u.job_id AND w.key = r.settlement_id || '/' || r.state),
        d AS (SELECT settlement_id, state, txn_hash, occurrence, min(cents) AS cents FROM t
              GROUP BY settlement_id, state, txn_hash, occurrence)
        SELECT settlement_id, state, sum(cents) FROM d GROUP BY settlement_id, state
    """
    written = dict(((s, st), int(total)) for s, st, total in db.session.execute(text(
        "SELECT settlement_id, state, sum(total_cents) FROM erp_sales_orders GROUP BY settlement_id, state")))
    unfinished = {tuple(key.split("/", 1)) for (key,) in db.session.execute(text(
        "SELECT r.key FROM job_records r JOIN jobs j ON j.id = r.job_id "
        "WHERE j.kind = 'reconciliation' AND r.state <> 'succeeded'"))}
    for settlement_id, state, cents in db.session.execute(text(distinct)):
        if (settlement_id, state) not in unfinished and written.get((settlement_id, state), 0) != int(cents):
            problems.append(f"{settlement_id}/{state}: the ERP's sales orders total {written.get((settlement_id, state), 0)} "
                            f"but the confirmed files' distinct transactions {int(cents)}")
    return problems
