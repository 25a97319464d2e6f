"""The packed forms of the sales ledger: staged transactions in chunks, and sets of transaction keys.

A staged chunk holds a few thousand transactions of one (settlement, state) of an upload, in
file order, column by column (fixed-width arrays, one per value, and the chunk's SKUs once each),
compressed with zlib: columns of amounts that are mostly zero shrink to almost nothing.

A transaction's key in the ledger is its 8-byte identity followed by its occurrence (4 bytes,
big-endian): the first of identical rows in a file is occurrence 0, the next 1, and so on. A
set of keys is stored as the keys sorted and joined, 12 bytes each.
"""

import json
import struct
import sys
import zlib
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

FORMAT = 1
HEAD = struct.Struct("<BII")  # format, rows, bytes of the SKU list
CHUNK_ROWS = 4096
DIGEST = 8
KEY = 12
TYPECODES = ("q", "b", "i") + ("q",) * 12  # order_key, refund, units, the 11 staged buckets, total
SWAP = sys.byteorder == "big"  # chunks are little-endian wherever they are made
FIRST = bytes(4)  # the occurrence of a row with no identical row before it


class Builder:
    """The columns of one chunk being filled from batches of staged rows (webapp.recon.transactions)."""

    def __init__(self) -> None:
        self.rows = 0
        self.digests = bytearray()
        self.sku_ids: dict[str, int] = {}
        self.sku_column = array("i")
        self.columns = [array(code) for code in TYPECODES]

    def extend(self, batch: list[tuple]) -> None:
        """Append a batch of rows: (identity, sku, order key, refund, units, *amounts, total) each."""
        digests, skus, *values = zip(*batch, strict=True)
        self.digests += b"".join(digests)
        ids = self.sku_ids
        self.sku_column.extend([ids.setdefault(sku, len(ids)) for sku in skus])
        for column, column_values in zip(self.columns, values, strict=True):
            column.extend(column_values)
        self.rows += len(batch)

    def chunk(self) -> bytes:
        """The packed chunk of every row appended."""
        skus = json.dumps(list(self.sku_ids)).encode()
        parts = [HEAD.pack(FORMAT, self.rows, len(skus)), skus, bytes(self.digests)]
        for column in (self.sku_column, *self.columns):
            if SWAP:
                column.byteswap()
            parts.append(column.tobytes())
        return zlib.compress(b"".join(parts), 1)


@dataclass
class Chunk:
    """An unpacked staged chunk: its rows' identities, SKUs and values, column by column."""

    rows: int
    digests: bytes
    skus: list[str]
    sku_column: array
    columns: list[array]  # in TYPECODES order

    def identities(self) -> Iterator[bytes]:
        """Each row's 8-byte identity, in file order."""
        data = self.digests
        return (data[at : at + DIGEST] for at in range(0, len(data), DIGEST))

    def column(self, slot: int) -> array:
        """The values of column ``slot`` of TYPECODES (0: order key, 1: refund, 2: units, then the amounts)."""
        return self.columns[slot]


def unpack(data: bytes) -> Chunk:
    """The chunk that ``Builder.chunk`` packed."""
    raw = memoryview(zlib.decompress(data))
    version, rows, sku_bytes = HEAD.unpack_from(raw)
    if version != FORMAT:
        raise ValueError(f"staged chunk of format {version}, this code reads format {FORMAT}")
    at = HEAD.size
    skus = json.loads(bytes(raw[at : at + sku_bytes]))
    at += sku_bytes
    digests = bytes(raw[at : at + rows * DIGEST])
    at += rows * DIGEST
    columns = []
    for code in ("i", *TYPECODES):
        column = array(code)
        size = rows * column.itemsize
        column.frombytes(raw[at : at + size])
        if SWAP:
            column.byteswap()
        columns.append(column)
        at += size
    return Chunk(rows, digests, skus, columns[0], columns[1:])


def key(digest: bytes, occurrence: int) -> bytes:
    """A transaction's ledger key: its identity and its occurrence among identical rows of its file."""
    return digest + occurrence.to_bytes(4, "big")


def pack_keys(keys: Iterable[bytes]) -> bytes:
    """A set of keys as stored: sorted and joined."""
    return b"".join(sorted(keys))


def unpack_keys(data: bytes) -> set[bytes]:
    """The set of keys ``pack_keys`` joined."""
    return {data[at : at + KEY] for at in range(0, len(data), KEY)}
