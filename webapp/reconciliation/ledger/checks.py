"""The sales ledger's promises, checked from the database: for the soak and the tests."""

from sqlalchemy import text

from webapp.extensions import db
from webapp.reconciliation.ledger import store
from webapp.reconciliation.ledger.sums import AMOUNTS, TOTAL_SLOT, keys_of


def invariant_problems() -> list[str]:
    """What breaks the ledger's promises, in words (none when it holds): for the soak and the tests.

    Every sales order's header equals its lines, and for every (settlement, state) whose records
    all succeeded, the ERP's sales orders add up to the distinct transactions that confirmed
    uploads sent to be written (the same transaction in two files counted once). Uploads whose
    staged chunks went with their file (UPLOAD_RETENTION_DAYS after their job) are not seen.
    """
    headers = """
        SELECT so.id, so.total_cents, coalesce(sum(l.amount_cents), 0) FROM erp_sales_orders so
        LEFT JOIN erp_sales_order_lines l ON l.sales_order_id = so.id GROUP BY so.id, so.total_cents
        HAVING so.total_cents <> coalesce(sum(l.amount_cents), 0)
    """
    problems = [f"sales order {order}: header {total} but lines {lines}" for order, total, lines in db.session.execute(text(headers))]
    written = dict(((s, st), int(total)) for s, st, total in db.session.execute(text(
        "SELECT settlement_id, state, sum(total_cents) FROM erp_sales_orders GROUP BY settlement_id, state")))
    unfinished = {tuple(key.split("/", 1)) for (key,) in db.session.execute(text(
        "SELECT r.key FROM job_records r JOIN jobs j ON j.id = r.job_id "
        "WHERE j.kind = 'reconciliation' AND r.state <> 'succeeded'"))}
    for (settlement_id, state), cents in sorted(distinct_sums().items()):
        if (settlement_id, state) not in unfinished and written.get((settlement_id, state), 0) != cents:
            problems.append(f"{settlement_id}/{state}: the ERP's sales orders total {written.get((settlement_id, state), 0)} "
                            f"but the confirmed files' distinct transactions {cents}")
    return problems


def distinct_sums() -> dict[tuple[str, str], int]:
    """Per (settlement, state) sent to be written by confirmed uploads: the sum of its distinct transactions' order amounts."""
    sent = db.session.execute(text("SELECT u.id, r.key FROM recon_imports u JOIN job_records r ON r.job_id = u.job_id"))
    amounts: dict[tuple[str, str], dict[bytes, int]] = {}
    for import_id, group in sent:
        settlement_id, state = group.split("/", 1)
        seen = amounts.setdefault((settlement_id, state), {})
        first: set[bytes] = set()
        repeats: dict[bytes, int] = {}
        for block in store.staged_blocks(import_id, settlement_id, state):
            order_cents = [sum(values) for values in zip(*block.columns[AMOUNTS : AMOUNTS + TOTAL_SLOT], strict=True)]
            for key, cents in zip(keys_of(block, first, repeats), order_cents, strict=True):
                seen[key] = min(seen.get(key, cents), cents)
    return {group: sum(seen.values()) for group, seen in amounts.items()}
