"""The helper process that reads the later part of a large Date Range report (see ``webapp.reconciliation.reader.halves``).

Started as a script, not with ``-m``: importing the ``webapp`` package would load the whole
application (Flask, SQLAlchemy, Celery: about 50 MB) into a process that needs none of it.
"""

import sys
import types
from pathlib import Path

if __name__ == "__main__":  # ``webapp`` as a bare package, so that only the reader gets imported
    package = types.ModuleType("webapp")
    package.__path__ = [str(Path(__file__).resolve().parents[2])]
    sys.modules.setdefault("webapp", package)

import codecs  # noqa: E402
import csv  # noqa: E402
import pickle  # noqa: E402
from contextlib import ExitStack  # noqa: E402
from datetime import date  # noqa: E402
from typing import BinaryIO  # noqa: E402

from webapp.reconciliation.reader.context import Context, RowError  # noqa: E402
from webapp.reconciliation.reader.date_range import read_rows  # noqa: E402
from webapp.reconciliation.reader.date_range_rows import DateRangeRows  # noqa: E402
from webapp.reconciliation.reader.helper import COUNTS, PROGRESS, RESULT, SIZE, Job, Later  # noqa: E402
from webapp.reconciliation.reader.merge import LaterAggregator, Partial  # noqa: E402
from webapp.reconciliation.reader.model import ReportSummary  # noqa: E402
from webapp.reconciliation.reader.text import LineSource  # noqa: E402
from webapp.reconciliation.reader.transactions import file_sink  # noqa: E402


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


def read_later(job: Job, out: BinaryIO) -> Later:
    """Read the rows from ``job.start`` to the end, sending progress counts to ``out``."""
    csv.field_size_limit(job.field_limit)

    def progress(rows: int, bytes_read: int) -> None:
        out.write(PROGRESS + COUNTS.pack(rows, bytes_read))
        out.flush()

    with open(job.path, "rb") as binary:
        binary.seek(job.start)
        source = LaterSource(binary, job.chunk_size)
        agg = LaterAggregator(ReportSummary(), lenient_states=job.lenient)
        with ExitStack() as stack:
            sink = file_sink(stack.enter_context(open(job.stage_path, "wb"))) if job.stage_path else None
            rows = LaterRows(job.found, Context(agg, source, progress, job.every, sink))
            agg.notes.clear()  # notes about the header are the first part's
            read_rows(csv.reader(source, strict=True), rows, 0)  # lines counted from the start
            if sink is not None:
                sink.flush()
    return Later(Partial.of(agg), rows.saw_us_orders, rows.first_excluded, source.bytes_read, source.ascii,
                 rows.unsure)


def main() -> int:
    """Read the job from stdin, write progress and then the pickled result to stdout."""
    job = pickle.load(sys.stdin.buffer)
    out = sys.stdout.buffer
    try:
        later = read_later(job, out)
    except Exception:  # noqa: BLE001 -- any failure only means the first part's reader reads on
        return 1
    payload = pickle.dumps(later, protocol=pickle.HIGHEST_PROTOCOL)
    out.write(RESULT + SIZE.pack(len(payload)))
    out.write(payload)
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
