"""Staged transactions packed in blocks and chunks, and sets of ledger keys, read back as they went in."""

from pathlib import Path

from webapp.reconciliation.reader.packing import KEY, key, pack_keys, unpack, unpack_keys
from webapp.reconciliation.reader.transactions import Sink, file_sink, identity, replay


def staged_row(n: int) -> tuple:
    """Row ``n``: its identity, one of three SKUs, an order, a refund every seventh row, and amounts."""
    amounts = (n * 100, 0, 0, -n, 0, n % 9, 0, 0, 0, 0, 0)
    return (identity(str(n)), f"SKU-{n % 3}", 11300000000000000 + n // 2, n % 7 == 0, 1 if n % 7 else -1, *amounts,
            n * 99)


def read_back(chunks: list[tuple]) -> dict[tuple[str, str], list[tuple]]:
    """The rows of stored chunks, per (settlement, state), in the order they were stored."""
    found: dict[tuple[str, str], list[tuple]] = {}
    for settlement_id, state, rows, data in chunks:
        blocks = list(unpack(data))
        assert sum(block.rows for block in blocks) == rows
        for block in blocks:
            found.setdefault((settlement_id, state), []).extend(
                (digest, block.skus[sku], *values)
                for digest, sku, *values in zip(block.identities(), block.sku_column, *block.columns, strict=True))
    return found


def test_rows_come_back_in_file_order_per_settlement_and_state() -> None:
    """Two states interleaved, across blocks, full chunks and the held-rows limit: every row once, in order."""
    stored: list[tuple] = []
    sink = Sink(lambda *chunk: stored.append(chunk), chunk_rows=512, max_held=1200)
    sent: dict[tuple[str, str], list[tuple]] = {}
    for n in range(2000):
        group = ("2470", "CA" if n % 3 else "TX")
        sink.add(group, staged_row(n))
        sent.setdefault(group, []).append(staged_row(n))
    sink.flush()
    assert sink.count == 2000 and max(rows for *_, rows, _ in stored) == 512
    assert read_back(stored) == {group: [(*row[:3], int(row[3]), *row[4:]) for row in rows] for group, rows in sent.items()}


def test_the_helpers_chunks_are_stored_after_this_processs_rows(tmp_path: Path) -> None:
    """The blocks the helper wrote to its file follow the rows held here, in the same chunk."""
    path = tmp_path / "staged.pickle"
    with open(path, "wb") as out:
        helper = file_sink(out)
        for n in range(10, 20):
            helper.add(("2470", "CA"), staged_row(n))
        helper.flush()
    stored: list[tuple] = []
    sink = Sink(lambda *chunk: stored.append(chunk))
    for n in range(10):
        sink.add(("2470", "CA"), staged_row(n))
    with open(path, "rb") as source:
        replay(source, sink)
    sink.flush()
    assert sink.count == 20 and [rows for *_, rows, _ in stored] == [20], "one chunk: the helper's blocks follow on"
    assert [row[0] for row in read_back(stored)[("2470", "CA")]] == [identity(str(n)) for n in range(20)]


def test_keys_are_stored_sorted_and_read_back_as_a_set() -> None:
    """A set of keys, packed 12 bytes each in order, is the same set read back."""
    keys = [key(identity(str(n)), n % 2) for n in range(100)]
    packed = pack_keys(keys)
    assert len(packed) == 100 * KEY
    assert [packed[at : at + KEY] for at in range(0, len(packed), KEY)] == sorted(keys)
    assert unpack_keys(packed) == set(keys)


def test_identities_are_those_the_ledger_stored_as_bigints() -> None:
    """A transaction imported when identities were BIGINTs (this value, from that code) is the same transaction now."""
    digest = identity("24702193891", "Jun 1, 2026 1:01:07 AM PDT", "order", "113-0000001-0000001", "SKU-1",
                      "A widget", "1", "1135")
    assert int.from_bytes(digest, "big", signed=True) == 2043165550788156707
