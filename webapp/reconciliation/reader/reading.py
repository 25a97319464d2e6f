"""The state every part of one upload's reading shares: the aggregator, the lines, progress and the ledger's sink."""

from collections.abc import Callable
from dataclasses import dataclass

from webapp.reconciliation.reader.aggregate import Aggregator
from webapp.reconciliation.reader.amounts import PLAIN_AMOUNT, AmountError, check_cents_shown, is_spreadsheet_style, to_cents
from webapp.reconciliation.reader.model import RowError
from webapp.reconciliation.reader.text import LineSource
from webapp.reconciliation.reader.transactions import Sink

Progress = Callable[[int, int], None]
CACHE_LIMIT = 1 << 14


@dataclass
class Context:
    """The reader's shared state for one upload."""

    agg: Aggregator
    source: LineSource
    progress: Progress | None = None
    every: int = 10_000
    sink: Sink | None = None  # where each order row's identity and money go, for the ledger
    formatted_line: int = 0  # the last line noted for amounts a spreadsheet formatted

    def tick(self) -> None:
        """Count a row; call the progress callback every ``every`` rows."""
        summary = self.agg.summary
        summary.rows += 1
        if self.progress is not None and summary.rows % self.every == 0:
            self.progress(summary.rows, self.source.bytes_read)

    def cents(self, text: str, column: str, line: int, *, allow_blank: bool, cache: dict[str, int] | None) -> int:
        """An amount cell in cents, remembered in ``cache``; RowError names the column.

        Callers look ``cache`` up first: report amounts repeat a lot, and this runs per cell.
        """
        if PLAIN_AMOUNT.fullmatch(text):
            cents = int(text.replace(".", "", 1))
        else:
            try:
                cents = to_cents(text, allow_blank=allow_blank)
                check_cents_shown(text)
            except AmountError as exc:
                raise RowError(f"{column}: {exc}") from None
            if is_spreadsheet_style(text):  # not remembered, so that every such row is counted (once)
                if line != self.formatted_line:
                    self.formatted_line = line
                    self.agg.note("spreadsheet", line, f"amounts such as {text.strip()!r} ({column}) were formatted "
                                  "by a spreadsheet, not written by Amazon; each shows its cents, so it is read "
                                  "exactly and totals are unaffected")
                return cents
        if cache is not None and len(cache) < CACHE_LIMIT:
            cache[text] = cents
        return cents
