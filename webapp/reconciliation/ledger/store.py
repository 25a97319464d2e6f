"""The sales ledger's rows: an upload's staged chunks, and the keys each sales order holds, read and written.

Everything runs in the session's transaction: staged chunks commit with the read's progress (a
read cut short is cleared before it starts again), and a sales order's keys with the order.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from webapp.extensions import db, execute_core
from webapp.models import LedgerChunk, ReconTransactionChunk
from webapp.reconciliation.reader.packing import KEY, Block, pack_keys, unpack, unpack_keys
from webapp.reconciliation.reader.transactions import Store

KEYS_PER_ROW = 8192  # 96 KiB of keys a row
staged_table = ReconTransactionChunk.__table__
ledger_table = LedgerChunk.__table__


@contextmanager
def staging(import_id: int) -> Iterator[Store]:
    """A function that stores the reader's packed chunks (webapp.reconciliation.reader.transactions) for an upload, numbered in file order."""
    seqs: dict[tuple[str, str], int] = {}
    insert = staged_table.insert()

    def store(settlement_id: str, state: str, rows: int, data: bytes) -> None:
        seq = seqs.get((settlement_id, state), 0)
        seqs[settlement_id, state] = seq + 1
        execute_core(insert, {"import_id": import_id, "settlement_id": settlement_id, "state": state, "seq": seq,
                              "rows": rows, "data": data})

    yield store


def clear(import_id: int) -> None:
    """Drop an upload's staged chunks (before reading it again, or once they can never be written)."""
    execute_core(staged_table.delete().where(staged_table.c.import_id == import_id))


def staged_rows(import_id: int) -> int:
    """How many transactions an upload has staged."""
    query = db.select(db.func.coalesce(db.func.sum(staged_table.c.rows), 0)).where(staged_table.c.import_id == import_id)
    return int(execute_core(query).scalar_one())


def staged_blocks(import_id: int, settlement_id: str, state: str) -> Iterator[Block]:
    """The upload's staged transactions of one (settlement, state), unpacked a block at a time in file order."""
    where = (staged_table.c.import_id == import_id, staged_table.c.settlement_id == settlement_id,
             staged_table.c.state == state)
    seqs = execute_core(db.select(staged_table.c.seq).where(*where).order_by(staged_table.c.seq)).scalars().all()
    for seq in seqs:
        yield from unpack(execute_core(db.select(staged_table.c.data).where(*where, staged_table.c.seq == seq)).scalar_one())


def held_keys(settlement_state_id: int | None) -> dict[int, set[bytes]]:
    """The keys of the (settlement, state)'s transactions in the ERP, per sales order holding them."""
    held: dict[int, set[bytes]] = {}
    if settlement_state_id is None:
        return held
    query = (db.select(ledger_table.c.sales_order_id, ledger_table.c.data)
             .where(ledger_table.c.settlement_state_id == settlement_state_id)
             .order_by(ledger_table.c.sales_order_id, ledger_table.c.seq))
    for order_id, data in execute_core(query):
        held.setdefault(order_id, set()).update(unpack_keys(data))
    return held


def save_keys(settlement_state_id: int, order_id: int, keys: list[bytes]) -> None:
    """Record that sales order ``order_id`` holds the transactions of ``keys``, sorted, KEYS_PER_ROW a row."""
    packed = pack_keys(keys)
    step = KEYS_PER_ROW * KEY
    execute_core(ledger_table.insert(), [
        {"sales_order_id": order_id, "seq": seq, "settlement_state_id": settlement_state_id,
         "rows": len(packed[at : at + step]) // KEY, "data": packed[at : at + step]}
        for seq, at in enumerate(range(0, len(packed), step))
    ])

