"""The helper process: reads the later part of a large Date Range report, from a line boundary to the end.

Run as ``python -m webapp.reconciliation.reader.two_cores.later_part`` by ``helper.SecondHalf``; it
imports only the reader, which needs neither the web application nor the database nor Celery.
"""

import codecs
import csv
import pickle
import sys
from contextlib import ExitStack
from datetime import date
from typing import BinaryIO

from webapp.reconciliation.reader.date_range import read_rows, rows_for
from webapp.reconciliation.reader.date_range_rows import DateRangeRows
from webapp.reconciliation.reader.detect import Detected
from webapp.reconciliation.reader.model import ReportSummary, RowError
from webapp.reconciliation.reader.reading import Context
from webapp.reconciliation.reader.text import LineSource
from webapp.reconciliation.reader.transactions import file_sink
from webapp.reconciliation.reader.two_cores.frames import COUNTS, PROGRESS, RESULT, SIZE, Later
from webapp.reconciliation.reader.two_cores.merge import LaterAggregator, Partial


class LaterSource(LineSource):
    """Lines from a line start inside a file whose encoding the first part settled.

    Strict UTF-8, and whether it was all ASCII (then it reads the same as Windows-1252); not
    hashed, because the digest must run over the whole file in order (the first part's reader does it).
    """

    def __init__(self, binary: BinaryIO, chunk_size: int) -> None:
        super().__init__(binary, chunk_size)
        self.encoding, self.bare_cr, self.ascii = "utf-8", False, True
        strict = self._decode_with(codecs.getincrementaldecoder("utf-8")("strict"))

        def decode(data: bytes, final: bool) -> str:
            text = strict(data, final)
            self.ascii = self.ascii and text.isascii()
            return text

        self._decode = decode

    def _start(self) -> bytes:
        """The first chunk: the file-level checks belong to the first part."""
        return self._read()

    def _read(self) -> bytes:
        """The next chunk of raw bytes, counted."""
        chunk = self.binary.read(self.chunk_size)
        self.bytes_read += len(chunk)
        return chunk


class LaterRows(DateRangeRows):
    """Date Range rows read from the boundary on, noting when a first row's result depends on the row before."""

    unsure = False

    def day(self, when: str) -> tuple[str, date]:
        """As for one pass; a bad date before any row was counted in a settlement makes the result unsure.

        One pass may have taken that row for the same settlement and day as the row before, unchecked.
        """
        try:
            return super().day(when)
        except RowError:
            if not self.last[0]:
                self.unsure = True
            raise


def read_later(out: BinaryIO, path: str, start: int, found: Detected, lenient: bool, every: int, chunk_size: int,
               field_limit: int, stage_path: str | None) -> Later:
    """Read the rows of ``path`` from byte ``start`` to the end, sending progress counts to ``out``.

    The arguments are what ``halves.start_second_half`` knows of the first part's reading: its
    header, its options, and where to write the staged rows (None: no ledger).
    """
    csv.field_size_limit(field_limit)

    def progress(rows: int, bytes_read: int) -> None:
        out.write(PROGRESS + COUNTS.pack(rows, bytes_read))
        out.flush()

    with open(path, "rb") as binary:
        binary.seek(start)
        source = LaterSource(binary, chunk_size)
        agg = LaterAggregator(ReportSummary(), lenient_states=lenient)
        with ExitStack() as stack:
            sink = file_sink(stack.enter_context(open(stage_path, "wb"))) if stage_path else None
            rows = rows_for(found, Context(agg, source, progress, every, sink), LaterRows)
            agg.notes.clear()  # notes about the header are the first part's
            read_rows(csv.reader(source, strict=True), rows, 0)  # lines counted from the start
            if sink is not None:
                sink.flush()
    return Later(Partial.of(agg), rows.saw_us_orders, rows.first_excluded, source.bytes_read, source.ascii,
                 rows.unsure)


def main() -> int:
    """Read the arguments of ``read_later`` from stdin, write progress and then the pickled result to stdout."""
    reading = pickle.load(sys.stdin.buffer)
    out = sys.stdout.buffer
    try:
        later = read_later(out, **reading)
    except Exception:  # noqa: BLE001 -- any failure only means the first part's reader reads on
        return 1
    payload = pickle.dumps(later, protocol=pickle.HIGHEST_PROTOCOL)
    out.write(RESULT + SIZE.pack(len(payload)))
    out.write(payload)
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
