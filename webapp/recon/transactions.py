"""Each order row's identity and money, streamed out of the reader for the per-transaction ledger.

A report row is a transaction; what identifies it is what the report itself says of it
(settlement, posted date/time, type, order id, SKU, description, quantity, amount), hashed to 64
bits. The same transaction in another file (the range downloaded again with more rows, or another
range sharing the settlement) hashes the same, whatever the file's line endings, encoding or
quoting. Truly identical rows are told apart by their occurrence number, which the database gives
them (``row_number()`` by line within one upload), so the reader keeps no set of every row seen.
"""

import pickle
from collections.abc import Callable, Sequence
from hashlib import blake2b
from operator import itemgetter
from typing import BinaryIO

from webapp.recon.model import GIFT_WRAP, PRODUCT_SALES, PROMOTIONS, SHIPPING, TAX_BUCKETS

STAGED_BUCKETS = (PRODUCT_SALES, SHIPPING, GIFT_WRAP, PROMOTIONS, *TAX_BUCKETS)
"""The money a sales order is made of, one column each in the staged rows (fees are not written)."""

STAGED_COLUMNS = ("settlement_id", "state", "line", "txn_hash", "sku", "order_key", "refund", "units",
                  *STAGED_BUCKETS, "total")
"""The order of the values of one staged row, as the reader emits it."""

BATCH = 5000
Row = tuple
Flush = Callable[[list[Row]], None]


def identity(*parts: str) -> int:
    """A transaction's identity: 64 bits of BLAKE2b over its identifying fields, as a signed int (a BIGINT)."""
    digest = blake2b("\x1f".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def projector(layout: Sequence[str]) -> Callable[[Sequence[int]], tuple[int, ...]]:
    """A function from a row's amounts in ``layout`` order to the STAGED_BUCKETS amounts.

    Built once per file: a report names each bucket in at most one column, so a single
    itemgetter picks them (a missing bucket picks the zero appended at the end).
    """
    slots: list[list[int]] = [[slot for slot, name in enumerate(layout) if name == bucket] for bucket in STAGED_BUCKETS]
    if all(len(found) <= 1 for found in slots):
        pick = itemgetter(*(found[0] if found else len(layout) for found in slots))
        return lambda values: pick((*values, 0))
    return lambda values: tuple(sum(values[slot] for slot in found) for found in slots)


def single(bucket: str, cents: int) -> tuple[int, ...]:
    """The STAGED_BUCKETS amounts of a row carrying one amount (settlement V2 rows)."""
    return tuple(cents if name == bucket else 0 for name in STAGED_BUCKETS)


class Sink:
    """Collects staged rows and hands them on in batches, so a million rows never sit in memory."""

    def __init__(self, flush: Flush, batch: int = BATCH) -> None:
        self.flush_rows, self.batch = flush, batch
        self.rows: list[Row] = []
        self.count = 0

    def add(self, row: Row) -> None:
        """Keep one staged row (in STAGED_COLUMNS order)."""
        self.rows.append(row)
        if len(self.rows) >= self.batch:
            self.flush()

    def flush(self) -> None:
        """Hand on what is kept."""
        if self.rows:
            self.count += len(self.rows)
            self.flush_rows(self.rows)
            self.rows = []


def file_sink(out: BinaryIO) -> Sink:
    """A Sink writing pickled batches to ``out`` (the helper process's rows, replayed by ``replay``)."""
    return Sink(lambda rows: pickle.dump(rows, out, protocol=pickle.HIGHEST_PROTOCOL))


def replay(source: BinaryIO, sink: Sink, lines: int) -> None:
    """Add the batches ``file_sink`` wrote to ``sink``, their line numbers moved on by ``lines``."""
    line_at = STAGED_COLUMNS.index("line")
    while True:
        try:
            rows = pickle.load(source)
        except EOFError:
            return
        for row in rows:
            sink.add((*row[:line_at], row[line_at] + lines, *row[line_at + 1 :]))
