"""The entry point: read an upload (and its orders report) into a ReportSummary for the preview page."""

from itertools import islice
from pathlib import Path
from typing import BinaryIO

from webapp.reconciliation.reader.aggregate import Aggregator
from webapp.reconciliation.reader.date_range import read_date_range
from webapp.reconciliation.reader.detect import LABELS, SCAN_LINES, detect
from webapp.reconciliation.reader.model import DATE_RANGE, ORDERS, SETTLEMENT_V2, ReportError, ReportSummary
from webapp.reconciliation.reader.orders import read_orders
from webapp.reconciliation.reader.reading import Context, Progress
from webapp.reconciliation.reader.settlement_v2 import read_settlement
from webapp.reconciliation.reader.text import CHUNK_SIZE, LineSource
from webapp.reconciliation.reader.transactions import Sink, Store

NO_SHIP_STATES = (f"a {LABELS[SETTLEMENT_V2]} carries no ship-to state: upload the {LABELS[ORDERS]} (Amazon "
                  "Fulfilled Shipments or All Orders) for the same period with it")


def summarize_report(
    source: BinaryIO,
    *,
    orders: BinaryIO | None = None,
    progress: Progress | None = None,
    progress_every: int = 10_000,
    lenient_states: bool = False,
    chunk_size: int = CHUNK_SIZE,
    path: str | Path | None = None,
    transactions: Store | None = None,
) -> ReportSummary:
    """Stream ``source`` once and return its summary; problems become errors, never exceptions.

    :param orders: the orders/shipments report giving ship-state, needed with a settlement V2 file.
    :param progress: called as ``progress(rows, bytes_read)`` every ``progress_every`` rows.
    :param lenient_states: count unknown states under UNKNOWN (with a warning) instead of as errors.
    :param path: where ``source`` is on disk, if it is a file: a large one is then read on two cores.
    :param transactions: called with each packed chunk of order rows (``transactions``).
    """
    summary = ReportSummary()
    agg = Aggregator(summary, lenient_states=lenient_states)
    lines = LineSource(source, chunk_size)
    sink = Sink(transactions) if transactions is not None else None
    ctx = Context(agg, lines, progress, progress_every, sink)
    try:
        rest = iter(lines)
        head = list(islice(rest, SCAN_LINES))
        found = detect(head)
        summary.kind = found.kind
        if found.kind == DATE_RANGE:
            if orders is not None:
                agg.note("orders-unused", None, "the Date Range report has order states itself; the orders report "
                         "was not needed and not read (totals unaffected)")
            read_date_range(head, rest, found, ctx, path)
        elif found.kind == SETTLEMENT_V2:
            ship = read_orders(orders, agg, chunk_size) if orders is not None else None
            read_settlement(head, rest, found, ctx, ship)
            if orders is None:  # after the file's own problems, and only once the file could be read
                agg.error(None, NO_SHIP_STATES)
        elif found.kind == ORDERS:
            raise ReportError(found.line, f"this is an {LABELS[ORDERS]}: it only supplies ship-to states; upload it "
                              f"together with a {LABELS[SETTLEMENT_V2]}, or upload a {LABELS[DATE_RANGE]}")
    except ReportError as exc:
        agg.error(exc.line, exc.message)
        summary.kind = summary.kind or exc.kind
    if sink is not None:
        sink.flush()
    summary.encoding = lines.encoding
    summary.bytes_read = lines.bytes_read
    summary.sha256 = lines.sha256
    if lines.encoding == "windows-1252":
        agg.note("encoding", None, "the file is not UTF-8: it was read as Windows-1252; amounts, ids and dates must be "
                 "ASCII, which reads the same in both, so totals are unaffected")
    agg.finish()
    return summary


def preview(path: str | Path, orders_path: str | Path | None = None, **options: object) -> ReportSummary:
    """``summarize_report`` for files on disk (the upload as saved by the web request)."""
    with open(path, "rb") as source:
        if orders_path is None:
            return summarize_report(source, path=path, **options)  # type: ignore[arg-type]
        with open(orders_path, "rb") as orders:
            return summarize_report(source, orders=orders, path=path, **options)  # type: ignore[arg-type]
