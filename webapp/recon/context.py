"""What every report reader shares: the aggregator, the line source and the progress callback."""

import re
from collections.abc import Callable
from dataclasses import dataclass

from webapp.recon.aggregate import Aggregator
from webapp.recon.amounts import AmountError, is_spreadsheet_style, to_cents
from webapp.recon.text import LineSource
from webapp.recon.transactions import Sink

Progress = Callable[[int, int], None]
ORDER_ID = re.compile(r"\d{3}-\d{7}-\d{7}", re.ASCII)
SETTLEMENT_ID = re.compile(r"\d{1,20}", re.ASCII)
SCIENTIFIC_ID = re.compile(r"\d(?:[.,]\d+)?[eE]\+?\d+")
PLAIN_AMOUNT = re.compile(r"-?\d{1,12}\.\d\d", re.ASCII)  # what Amazon writes; the common case, parsed fast
CACHE_LIMIT = 1 << 14
US_MARKETPLACES = {"amazon.com", "www.amazon.com", ""}  # blank: fee rows often leave it empty


class RowError(Exception):
    """A problem with one row: recorded as an error with the row's line, then reading goes on."""


@dataclass
class Context:
    """The reader's shared state for one upload."""

    agg: Aggregator
    source: LineSource
    progress: Progress | None = None
    every: int = 10_000
    sink: Sink | None = None  # where each order row's identity and money go, for the ledger

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
            except AmountError as exc:
                raise RowError(f"{column}: {exc}") from None
            if is_spreadsheet_style(text):
                self.agg.note("spreadsheet", line, f"amounts such as {text.strip()!r} show the file was edited in "
                              "a spreadsheet; Amazon writes plain numbers")
                return cents
        if cache is not None and len(cache) < CACHE_LIMIT:
            cache[text] = cents
        return cents


def check_settlement_id(value: str) -> str:
    """The settlement id as digits, or RowError (Excel turns 11-digit ids into 2.47022E+10)."""
    text = value.strip()
    if SETTLEMENT_ID.fullmatch(text):
        return text
    if SCIENTIFIC_ID.fullmatch(text):
        raise RowError(f"settlement id {text!r} was damaged by a spreadsheet (scientific notation); "
                       "download the original report again")
    raise RowError(f"settlement id {text!r} is not a number" if text else "the settlement id is empty")


def order_key(order_id: str) -> int:
    """'113-0013318-7697855' → 11300133187697855: the id as an int, so a million of them fit in memory."""
    return int(order_id.replace("-", ""))
