"""The packed forms of the sales ledger: staged transactions in chunks of blocks, and sets of transaction keys.

Blocks are packed column by column and compressed, so that the many all-zero amount columns cost
almost nothing and the reader holds a few bytes per row it has not stored yet, not a tuple.
"""

import json
import struct
import sys
import zlib
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

FORMAT = 1
HEAD = struct.Struct("<BIIH")  # format, rows, bytes of the SKU list, which TYPECODES columns are not all zero
LENGTH = struct.Struct("<I")  # a block's packed size, before it in a chunk
BLOCK_ROWS = 128
CHUNK_ROWS = 4096
DIGEST = 8
KEY = 12
TYPECODES = ("q", "b", "i") + ("q",) * 12  # order_key, refund, units, the 11 staged buckets, total
SWAP = sys.byteorder == "big"  # blocks are little-endian wherever they are made
FIRST = bytes(4)  # the occurrence of a row with no identical row before it


def pack_block(rows: list[tuple]) -> bytes:
    """Rows of (identity, sku, order key, refund, units, *amounts, total), packed column by column."""
    digests, skus, *values = zip(*rows, strict=True)
    ids: dict[str, int] = {}
    columns = [array("i", [ids.setdefault(sku, len(ids)) for sku in skus])]
    present = 0
    for slot, (code, column) in enumerate(zip(TYPECODES, values, strict=True)):
        if any(column):  # most amount columns of a block are all zero: they are left out
            present |= 1 << slot
            columns.append(array(code, column))
    names = json.dumps(list(ids)).encode()
    parts = [HEAD.pack(FORMAT, len(rows), len(names), present), names, b"".join(digests)]
    for column in columns:
        if SWAP:
            column.byteswap()
        parts.append(column.tobytes())
    block = zlib.compress(b"".join(parts), 1)
    return LENGTH.pack(len(block)) + block


def pack_chunk(blocks: Iterable[bytes]) -> bytes:
    """A chunk of blocks ``pack_block`` made, in file order."""
    return b"".join(blocks)


@dataclass
class Block:
    """An unpacked block of staged transactions: their identities, SKUs and values, column by column."""

    rows: int
    digests: bytes
    skus: list[str]
    sku_column: array
    columns: list[array]  # in TYPECODES order

    def identities(self) -> list[bytes]:
        """Each row's 8-byte identity, in file order."""
        data = self.digests
        return [data[at : at + DIGEST] for at in range(0, len(data), DIGEST)]

    def column(self, slot: int) -> array:
        """The values of column ``slot`` of TYPECODES (0: order key, 1: refund, 2: units, then the amounts)."""
        return self.columns[slot]


def unpack(chunk: bytes) -> Iterator[Block]:
    """The blocks of a stored chunk, in file order."""
    view = memoryview(chunk)
    at = 0
    while at < len(view):
        (size,) = LENGTH.unpack_from(view, at)
        yield unpack_block(zlib.decompress(view[at + LENGTH.size : at + LENGTH.size + size]))
        at += LENGTH.size + size


def unpack_block(data: bytes) -> Block:
    """The block that ``pack_block`` packed (decompressed)."""
    raw = memoryview(data)
    version, rows, sku_bytes, present = HEAD.unpack_from(raw)
    if version != FORMAT:
        raise ValueError(f"staged block of format {version}, this code reads format {FORMAT}")
    at = HEAD.size
    skus = json.loads(bytes(raw[at : at + sku_bytes]))
    at += sku_bytes
    digests = bytes(raw[at : at + rows * DIGEST])
    at += rows * DIGEST
    columns = []
    for slot, code in enumerate(("i", *TYPECODES)):
        column = array(code)
        if slot and not present & (1 << (slot - 1)):
            column.frombytes(bytes(rows * column.itemsize))
        else:
            size = rows * column.itemsize
            column.frombytes(raw[at : at + size])
            if SWAP:
                column.byteswap()
            at += size
        columns.append(column)
    return Block(rows, digests, skus, columns[0], columns[1:])


def key(digest: bytes, occurrence: int) -> bytes:
    """A transaction's ledger key: its identity and its occurrence among identical rows of its file."""
    return digest + occurrence.to_bytes(4, "big")


def pack_keys(keys: Iterable[bytes]) -> bytes:
    """A set of keys as stored: sorted and joined."""
    return b"".join(sorted(keys))


def unpack_keys(data: bytes) -> set[bytes]:
    """The set of keys ``pack_keys`` joined."""
    return {data[at : at + KEY] for at in range(0, len(data), KEY)}
