"""Each order row's identity and money, streamed out of the reader and packed for the sales ledger.

The identity hashes what the report itself says of the row, so that the same transaction in
another file is recognised; each (settlement, state)'s rows leave packed, a few thousand a chunk.
"""

import pickle
from collections.abc import Callable, Sequence
from hashlib import blake2b
from operator import itemgetter
from typing import BinaryIO

from webapp.reconciliation.reader.model import GIFT_WRAP, PRODUCT_SALES, PROMOTIONS, SHIPPING, TAX_BUCKETS
from webapp.reconciliation.reader.packing import BLOCK_ROWS, CHUNK_ROWS, pack_block, pack_chunk

STAGED_BUCKETS = (PRODUCT_SALES, SHIPPING, GIFT_WRAP, PROMOTIONS, *TAX_BUCKETS)
"""The money a sales order is made of, one column each in the staged rows (fees are not written)."""

STAGED_COLUMNS = ("txn", "sku", "order_key", "refund", "units", *STAGED_BUCKETS, "total")
"""The order of the values of one staged row, as the reader emits it (its (settlement, state) apart)."""

HELPER_HELD = 10_000  # rows the helper process holds unpacked, in all, before it packs every block as it is
MAX_HELD = 100_000  # rows held in all, packed or not, before every (settlement, state) is stored
Row = tuple
Group = tuple[str, str]
Store = Callable[[str, str, int, bytes], None]
"""Called with (settlement id, state, rows, packed chunk) for each chunk, in file order per (settlement, state)."""


def identity(*parts: str) -> bytes:
    """A transaction's identity: 8 bytes of BLAKE2b over its identifying fields.

    Kept as it was when identities were stored as BIGINTs (these 8 bytes read as a signed
    big-endian integer), so that transactions imported then are recognised now.
    """
    return blake2b("\x1f".join(parts).encode(), digest_size=8).digest()


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
    """Packs each (settlement, state)'s rows into blocks and stores them in chunks, holding few rows unpacked.

    Rows wait as tuples (one list append each) until their (settlement, state) has BLOCK_ROWS of
    them, which are then packed; a (settlement, state) whose packed rows reach CHUNK_ROWS is
    stored. When many (settlement, state)s together hold MAX_HELD rows, all are stored as they
    are (smaller chunks).
    """

    def __init__(self, store: Store, chunk_rows: int = CHUNK_ROWS, max_held: int = MAX_HELD) -> None:
        self.store, self.chunk_rows, self.max_held = store, chunk_rows, max_held
        self.batches: dict[Group, list[Row]] = {}
        self.blocks: dict[Group, tuple[int, list[bytes]]] = {}  # rows packed, and their blocks
        self.held = 0
        self.count = 0

    def add(self, group: Group, row: Row) -> None:
        """Keep one row (in STAGED_COLUMNS order) of ``group``, a (settlement id, state)."""
        batch = self.batches.get(group)
        if batch is None:
            batch = self.batches[group] = []
        batch.append(row)
        if len(batch) >= BLOCK_ROWS:
            self.pack(group, batch)
        self.held += 1
        if self.held >= self.max_held:
            self.flush()

    def add_packed(self, group: Group, rows: int, data: bytes) -> None:
        """Keep ``rows`` rows of ``group`` packed already (a chunk's blocks), after every row of it kept before."""
        batch = self.batches.get(group)
        if batch:
            self.pack(group, batch)
        self.append(group, rows, data)
        self.held += rows
        if self.held >= self.max_held:
            self.flush()

    def pack(self, group: Group, batch: list[Row]) -> None:
        """Pack a batch of the group's rows as a block."""
        self.append(group, len(batch), pack_block(batch))
        batch.clear()

    def append(self, group: Group, rows: int, data: bytes) -> None:
        """Add packed rows to the group's blocks; store them once they make a chunk."""
        held, blocks = self.blocks.get(group, (0, []))
        blocks.append(data)
        self.blocks[group] = (held + rows, blocks)
        if held + rows >= self.chunk_rows:
            self.emit(group)

    def emit(self, group: Group) -> None:
        """Store the group's packed rows as one chunk."""
        rows, blocks = self.blocks.pop(group)
        self.store(group[0], group[1], rows, pack_chunk(blocks))
        self.held -= rows
        self.count += rows

    def flush(self) -> None:
        """Store every row held, each group's rows in file order."""
        for group, batch in self.batches.items():
            if batch:
                self.pack(group, batch)
        for group in list(self.blocks):
            self.emit(group)
        self.batches.clear()
        self.held = 0


def file_sink(out: BinaryIO) -> Sink:
    """A Sink writing each block, pickled, to ``out`` as soon as it is packed (the helper process's rows,
    replayed by ``replay``): the helper holds no packed rows while it reads."""
    return Sink(lambda settlement_id, state, rows, data: pickle.dump((settlement_id, state, rows, data), out,
                                                                    protocol=pickle.HIGHEST_PROTOCOL),
                chunk_rows=BLOCK_ROWS, max_held=HELPER_HELD)


def replay(source: BinaryIO, sink: Sink) -> None:
    """Add the blocks ``file_sink`` wrote to ``sink``, each after the rows of its (settlement, state) that
    ``sink`` holds (they come later in the file); the caller flushes ``sink`` at the end."""
    while True:
        try:
            settlement_id, state, rows, data = pickle.load(source)
        except EOFError:
            return
        sink.add_packed((settlement_id, state), rows, data)
