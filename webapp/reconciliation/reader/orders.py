"""The orders/shipments report (TSV): the only source of ship-to states for a settlement V2 file."""

from dataclasses import dataclass, field
from itertools import chain, islice
from typing import BinaryIO

from webapp.reconciliation.reader.aggregate import Aggregator
from webapp.reconciliation.reader.detect import LABELS, SCAN_LINES, detect, header_key
from webapp.reconciliation.reader.ids import ORDER_ID, SCIENTIFIC_ID, order_id_problem, order_key
from webapp.reconciliation.reader.model import ORDERS, ReportError
from webapp.reconciliation.reader.states import FOREIGN, MISSING, STATE, TERRITORIES, StateValue, normalise_country, normalise_state
from webapp.reconciliation.reader.text import CHUNK_SIZE, LineSource

SOURCE = "orders report"
CONFLICT = "conflict"  # the kind of an order's StateValue once two rows gave it different ship-states


@dataclass
class ShipStates:
    """Order id (as int) → normalised ship-to state; lines are kept only for states needing a message."""

    states: dict[int, StateValue] = field(default_factory=dict)
    lines: dict[int, int] = field(default_factory=dict)
    conflicts: dict[int, str] = field(default_factory=dict)  # orders given two ship-states: what each line says
    rows: int = 0
    bytes_read: int = 0
    unresolved: dict[int, str | None] = field(default_factory=dict)  # a settlement's orders told of, and their state

    def state_of(self, key: int, order_id: str, number: int, agg: Aggregator) -> str | None:
        """The ship-to state of a settlement's order ``key``; problems are reported to ``agg`` once per order."""
        value = self.states.get(key)
        if value is not None and value.kind == STATE:
            return value.code
        if key in self.unresolved:
            return self.unresolved[key]
        if key in self.conflicts:
            self.unresolved[key] = None
            agg.error(number, f"order-id {order_id}: the orders report gives it two ship-states "
                      f"({self.conflicts[key]}), so its sales cannot be put in one state")
            return None
        if value is None:
            value = StateValue("", MISSING, "")
            what = f"order {order_id} is not in the orders report, so its ship-state is"
        else:
            what = f"ship-state of order {order_id} (orders report line {self.lines.get(key)})"
        code = agg.state_code(value, number, what)
        self.unresolved[key] = code
        return code


def read_orders(binary: BinaryIO, agg: Aggregator, chunk_size: int = CHUNK_SIZE) -> ShipStates | None:
    """Read an Amazon Fulfilled Shipments or All Orders report; None (with an error) if it is something else."""
    source = LineSource(binary, chunk_size)
    ship = ShipStates()
    try:
        lines = iter(source)
        head = list(islice(lines, SCAN_LINES))
        found = detect(head)
        if found.kind != ORDERS:
            raise ReportError(found.line, f"this is a {LABELS[found.kind]}, not an orders report with ship-state")
        col = {}
        for index, name in enumerate(found.header):
            col.setdefault(header_key(name), index)
        for number, line in enumerate(chain(head[found.line :], lines), found.line + 1):
            add_order(ship, col, line, number, agg)
    except ReportError as exc:
        agg.error(exc.line, exc.message, SOURCE)
        return None
    finally:
        ship.bytes_read = source.bytes_read
    if not ship.states:
        agg.error(found.line, "the orders report has no orders after its header", SOURCE)
    return ship


def add_order(ship: ShipStates, col: dict[str, int], line: str, number: int, agg: Aggregator) -> None:
    """Record one row's order id → ship-to state; an order given two different states is marked as such."""
    cells = line.rstrip("\r\n").split("\t")
    id_column = col.get("amazonorderid", col.get("orderid", 0))
    id_name = "amazon-order-id" if "amazonorderid" in col else "order-id"
    if not line.strip():
        return
    ship.rows += 1
    if len(cells) <= max(id_column, col["shipstate"]):
        agg.error(number, f"the row has {len(cells)} fields, too few to reach ship-state", SOURCE)
        return
    order_id = cells[id_column].strip()
    if not ORDER_ID.fullmatch(order_id):
        if SCIENTIFIC_ID.fullmatch(order_id):
            agg.error(number, order_id_problem(order_id, id_name), SOURCE)
            return
        agg.note("orders:nonorder", number, f"rows whose {id_name} is not an Amazon order id (e.g. "
                 f"{order_id!r}) were skipped: a settlement order left without a ship-state is an error, so "
                 "totals are unaffected", source=SOURCE)
        return
    value = ship_state(cells[col["shipstate"]], cells[col["shipcountry"]] if "shipcountry" in col else "")
    key = order_key(order_id)
    known = ship.states.get(key)
    if known is None:
        ship.states[key] = value
        if value.kind != STATE:
            ship.lines[key] = number
    elif (known.code != value.code or known.kind != value.kind) and key not in ship.conflicts:
        # which state the sale belongs to cannot be told: an error if the settlement has this order
        ship.conflicts[key] = f"ship-state {known.raw!r} on an earlier line and {value.raw!r} on line {number}"
        ship.states[key] = StateValue("", CONFLICT, value.raw)


def ship_state(state: str, country: str) -> StateValue:
    """The normalised state, taking ship-country into account (Amazon gives Puerto Rico as country PR)."""
    country_code = normalise_country(country) if country.strip() else "US"
    if country_code in TERRITORIES:
        return normalise_state(country_code)
    if country_code != "US":
        return StateValue("", FOREIGN, f"{state.strip()} ({country.strip()})")
    return normalise_state(state)
