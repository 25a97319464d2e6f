"""Streaming: a 200,000-row generated report is read in constant memory, exactly, with progress calls."""

import io
import tracemalloc
from pathlib import Path

import pytest

from scripts.make_date_range_report import Generated, write_report
from tests.recon_corpus.builders import content_hash
from webapp.reconciliation.reader.read import preview, summarize_report
from webapp.reconciliation.reader.text import LineSource

ROWS = 200_000


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Generated]:
    """A generated Date Range report on disk and the truth about what it holds."""
    path = tmp_path_factory.mktemp("recon") / "date-range.csv"
    with open(path, "wb") as out:
        made = write_report(out, rows=ROWS, seed=7)
    return path, made


def test_large_report_is_read_exactly_in_constant_memory(generated: tuple[Path, Generated]) -> None:
    path, made = generated
    calls: list[tuple[int, int]] = []
    tracemalloc.start()
    try:
        summary = preview(path, progress=lambda rows, done: calls.append((rows, done)), progress_every=25_000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"
    assert summary.ok, summary.errors[:3]
    assert (summary.rows, summary.bytes_read, summary.total) == (ROWS, made.bytes_written, made.total)
    assert {state: totals.total for state, totals in summary.per_state().items()} == made.state_totals
    assert sum(totals.rows for totals in summary.per_state().values()) == made.order_rows
    assert [rows for rows, _ in calls] == list(range(25_000, ROWS + 1, 25_000))
    assert all(a[1] <= b[1] <= made.bytes_written for a, b in zip(calls, calls[1:], strict=False))


def test_generator_is_deterministic_per_seed() -> None:
    first, second, other = io.BytesIO(), io.BytesIO(), io.BytesIO()
    write_report(first, rows=500, seed=3)
    write_report(second, rows=500, seed=3)
    write_report(other, rows=500, seed=4)
    assert first.getvalue() == second.getvalue() != other.getvalue()
    assert first.getvalue().count(b"\n") == 500 + 8


def test_hash_of_the_large_file_matches_the_summary(generated: tuple[Path, Generated]) -> None:
    path, _ = generated
    with open(path, "rb") as handle:
        source = LineSource(handle)
        lines = sum(1 for _ in source)
    with open(path, "rb") as handle:
        assert source.sha256 == content_hash(handle)
    assert lines == ROWS + 8


class NoWholeRead(io.RawIOBase):
    """A binary file that refuses read() without a size, to prove the reader never asks for everything."""

    def __init__(self, data: bytes) -> None:
        self.inner = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        assert size is not None and size > 0, "read() of the whole file"
        return self.inner.read(size)


def test_reader_reads_in_chunks_only() -> None:
    data = io.BytesIO()
    write_report(data, rows=2_000, seed=1)
    summary = summarize_report(NoWholeRead(data.getvalue()), chunk_size=1000)  # type: ignore[arg-type]
    assert summary.ok and summary.rows == 2_000
