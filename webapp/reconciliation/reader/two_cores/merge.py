"""Adding the running sums of a file's later part (read elsewhere) to those of its earlier part.

Everything is merged so that the result equals one pass over the whole file: sums are added,
sets united, and what keeps the order or line of its first occurrence keeps the earlier part's.
"""

from array import array
from dataclasses import dataclass, field, replace

from webapp.reconciliation.reader.aggregate import MAX_PROBLEMS, Acc, Aggregator, Note
from webapp.reconciliation.reader.model import OtherTotal, ReportSummary, Settlement


class IdList(array):
    """Order ids as 8-byte ints, repeats kept: a set's stand-in at a fraction of its memory, as the merge dedupes."""

    add = array.append


def id_list() -> IdList:
    """An empty IdList."""
    return IdList("q")


@dataclass
class LaterAcc(Acc):
    """The running sums of a (settlement, state) in a later part: order ids are listed, not kept in sets."""

    orders: IdList = field(default_factory=id_list)  # type: ignore[assignment]
    refunds: IdList = field(default_factory=id_list)  # type: ignore[assignment]


class LaterAggregator(Aggregator):
    """The Aggregator of a later part, whose order ids the merge adds to the earlier part's sets."""

    acc_type = LaterAcc


@dataclass
class Partial:
    """The running sums of one part of a file, as its reader left them (before ``Aggregator.finish``)."""

    summary: ReportSummary
    notes: dict[str, Note]
    accs: dict[tuple[str, str], Acc]

    @classmethod
    def of(cls, agg: Aggregator) -> "Partial":
        """The state of ``agg``, to send to the process that merges."""
        return cls(agg.summary, agg.notes, agg.accs)


def merge_into(agg: Aggregator, later: Partial, lines: int) -> None:
    """Add ``later``, read from the rows after those ``agg`` has seen, to ``agg``.

    :param lines: the number of lines before ``later``'s, whose own line numbers start at 1.
    """
    summary, other = agg.summary, later.summary
    summary.rows += other.rows
    summary.error_count += other.error_count
    for problem in other.errors[: max(0, MAX_PROBLEMS - len(summary.errors))]:
        summary.errors.append(replace(problem, line=shifted(problem.line, lines)))
    for key, note in later.notes.items():
        mine = agg.notes.setdefault(key, Note(note.message, shifted(note.line, lines), source=note.source))
        mine.count += note.count
        mine.cents += note.cents
    for raw, count in other.unknown_states.items():
        summary.unknown_states[raw] = summary.unknown_states.get(raw, 0) + count
    for label, total in other.other.items():
        add_total(summary.other.setdefault(label, OtherTotal()), total)
    add_total(summary.excluded, other.excluded)
    for settlement_id, settlement in other.settlements.items():
        merge_settlement(summary.settlements.setdefault(settlement_id, Settlement(settlement_id)), settlement)
    for key, acc in later.accs.items():
        merge_acc(agg.accs.setdefault(key, Acc()), acc)


def shifted(line: int | None, lines: int) -> int | None:
    """A line number of the later part as a line of the whole file."""
    return None if line is None else line + lines


def add_total(mine: OtherTotal, other: OtherTotal) -> None:
    """Add a count and total of rows."""
    mine.rows += other.rows
    mine.total += other.total


def merge_settlement(mine: Settlement, other: Settlement) -> None:
    """Add a settlement's rows and widen its period (Date Range reports set nothing else)."""
    mine.rows += other.rows
    mine.detail_sum += other.detail_sum
    if other.start is not None and (mine.start is None or other.start < mine.start):
        mine.start = other.start
    if other.end is not None and (mine.end is None or other.end > mine.end):
        mine.end = other.end


def merge_acc(mine: Acc, other: Acc) -> None:
    """Add one (settlement, state)'s rows, orders and per-SKU sums."""
    mine.rows += other.rows
    mine.orders.update(other.orders)
    mine.refunds.update(other.refunds)
    for sku, values in other.lines.items():
        line = mine.lines.get(sku)
        if line is None:
            mine.lines[sku] = values
        else:
            line[:] = map(sum, zip(line, values, strict=True))

