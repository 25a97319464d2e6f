"""Sums of staged transactions, block by block: a preview's figures and a sales order's lines.

The work is done on the blocks' columns (C-level sums and selections) wherever it can be; only the
per-SKU sums and the keys of a (settlement, state) the ERP already has transactions of walk the
rows one by one in Python.
"""

from collections.abc import Collection
from itertools import compress
from operator import itemgetter, not_
from typing import Any

from webapp.reconciliation.ledger import store
from webapp.reconciliation.reader.packing import FIRST, Block, key
from webapp.reconciliation.reader.transactions import STAGED_BUCKETS

REFUND, UNITS, AMOUNTS = 1, 2, 3  # column slots of a block (see webapp.reconciliation.reader.packing.TYPECODES)
LINE_SLOTS = range(4)  # product sales, shipping, gift wrap, promotions: a SKU line's amount
TAX_SLOTS = range(4, len(STAGED_BUCKETS))
TOTAL_SLOT = len(STAGED_BUCKETS)


class Tally:
    """Rows, distinct orders and refunds, amounts per staged bucket and per SKU of some transactions."""

    def __init__(self) -> None:
        self.rows = 0
        self.orders: set[int] = set()
        self.refunds: set[int] = set()
        self.amounts = [0] * (len(STAGED_BUCKETS) + 1)  # the staged buckets, then the total
        self.skus: dict[str, list[int]] = {}  # SKU: [units, line cents]

    def add(self, block: Block, picked: list[int] | None) -> None:
        """Add the block's rows at ``picked`` (every row when None)."""
        if picked is None:
            select: Any = lambda column: column  # noqa: E731
        elif not picked:
            return
        elif len(picked) == 1:
            select = lambda column: (column[picked[0]],)  # noqa: E731
        else:
            select = itemgetter(*picked)
        order_keys, refunds, units = (select(block.column(slot)) for slot in (0, REFUND, UNITS))
        self.rows += len(units)
        self.orders.update(compress(order_keys, map(not_, refunds)))
        self.refunds.update(compress(order_keys, refunds))
        amounts = [select(block.column(AMOUNTS + slot)) for slot in range(len(self.amounts))]
        for slot, column in enumerate(amounts):
            self.amounts[slot] += sum(column)
        per_sku = [[0, 0] for _ in block.skus]
        for sku, count, sales, shipping, gift_wrap, promotions in zip(
                select(block.sku_column), units, *(amounts[slot] for slot in LINE_SLOTS), strict=True):
            sums = per_sku[sku]
            sums[0] += count
            sums[1] += sales + shipping + gift_wrap + promotions
        for name, (count, cents) in zip(block.skus, per_sku, strict=True):
            sums = self.skus.setdefault(name, [0, 0])
            sums[0] += count
            sums[1] += cents

    @property
    def tax(self) -> list[int]:
        """The tax buckets' sums, in TAX_BUCKETS order."""
        return [self.amounts[slot] for slot in TAX_SLOTS]

    def figures(self) -> dict[str, int]:
        """The preview's figures of these transactions (comparison.Figures' fields)."""
        tax = sum(self.tax)
        return {"rows": self.rows, "orders": len(self.orders), "refunds": len(self.refunds),
                "product_sales": self.amounts[0], "tax": tax, "total": self.amounts[TOTAL_SLOT],
                "order_total": sum(self.amounts[slot] for slot in LINE_SLOTS) + tax}


def sort_out(import_id: int, settlement_id: str, state: str, held: Collection[bytes], new: Tally,
             old: Tally | None = None) -> tuple[list[bytes], list[bytes]]:
    """Tally the upload's transactions of a (settlement, state): those not ``held`` in ``new``, the others in ``old``.

    Returns the keys of both, (new, old). With nothing held (the common case) every transaction
    is new, and each block is tallied whole.
    """
    first: set[bytes] = set()
    repeats: dict[bytes, int] = {}
    fresh: list[bytes] = []
    known: list[bytes] = []
    for block in store.staged_blocks(import_id, settlement_id, state):
        keys = keys_of(block, first, repeats)
        if not held:
            new.add(block, None)
            fresh += keys
            continue
        picked = [at for at, key in enumerate(keys) if key not in held]
        new.add(block, picked)
        fresh += [keys[at] for at in picked]
        if len(picked) < len(keys):
            others = [at for at, key in enumerate(keys) if key in held]
            known += [keys[at] for at in others]
            if old is not None:
                old.add(block, others)
    return fresh, known


def keys_of(block: Block, first: set[bytes], repeats: dict[bytes, int]) -> list[bytes]:
    """The ledger keys of the block's transactions: identity and occurrence, counted over the blocks before."""
    identities = block.identities()
    distinct = set(identities)
    if len(distinct) == len(identities) and first.isdisjoint(distinct):  # the common case: no identical rows
        first |= distinct
        return [digest + FIRST for digest in identities]
    keys = []
    for digest in identities:
        if digest in first:
            n = repeats.get(digest, 1)
            repeats[digest] = n + 1
            keys.append(key(digest, n))
        else:
            first.add(digest)
            keys.append(digest + FIRST)
    return keys
