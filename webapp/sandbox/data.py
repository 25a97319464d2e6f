"""Deterministic ERP data: the same key always yields the same purchase order or bill of materials."""

import random
import re
from datetime import date, timedelta
from typing import Any

PO_FIRST = 100_000
PO_COUNT = 2_000
PRODUCT_FIRST = 10_000
PRODUCT_COUNT = 5_000
PENDING_EVERY = 7

# [0-9] rather than \d: \d also accepts non-ASCII digits, which int() would happily parse.
PO_PATTERN = re.compile(r"PO-[0-9]{6}")
PRODUCT_PATTERN = re.compile(r"P-[0-9]{5}")

# (code, name, currency): a supplier invoices in one currency, as real ones do.
SUPPLIERS: tuple[tuple[str, str, str], ...] = (
    ("SUP-0101", "Northwind Industrial Supply", "USD"),
    ("SUP-0102", "Keller & Söhne Metallbau", "EUR"),
    ("SUP-0103", "Brightline Fasteners Ltd", "GBP"),
    ("SUP-0104", "Cascade Hydraulics Inc", "USD"),
    ("SUP-0105", "Atelier Rousseau Composants", "EUR"),
    ("SUP-0106", "Midlands Bearing Company", "GBP"),
    ("SUP-0107", "Great Lakes Polymer Corp", "USD"),
    ("SUP-0108", "Van Dijk Elektrotechniek BV", "EUR"),
    ("SUP-0109", "Summit Packaging Solutions", "USD"),
    ("SUP-0110", "Thames Valley Electronics", "GBP"),
    ("SUP-0111", "Iberica Tornillería SA", "EUR"),
    ("SUP-0112", "Pioneer Office & Safety", "USD"),
)

# (sku, description, lowest and highest unit price in cents)
CATALOGUE: tuple[tuple[str, str, int, int], ...] = (
    ("FAS-1001", "Hex bolt M8 x 40 mm, zinc plated (box of 100)", 1_250, 1_900),
    ("FAS-1002", "Stainless steel washer M10 (box of 200)", 800, 1_400),
    ("FAS-1003", "Nylon lock nut M6 (box of 100)", 600, 1_100),
    ("BRG-2001", "Deep groove ball bearing 6204-2RS", 350, 900),
    ("BRG-2002", "Pillow block bearing UCP205", 1_800, 3_200),
    ("HYD-3001", "Hydraulic hose 1/2 in, 2 m, crimped ends", 2_400, 4_100),
    ("HYD-3002", "Gear pump 8 cc/rev, SAE A flange", 14_500, 21_000),
    ("ELE-4001", "Proximity sensor M12, PNP, 4 mm range", 1_900, 3_500),
    ("ELE-4002", "Contactor 24 V DC coil, 18 A", 2_800, 4_600),
    ("ELE-4003", "Shielded control cable 4 x 0.75 mm², per metre", 120, 260),
    ("PLA-5001", "HDPE sheet 1000 x 2000 x 10 mm", 8_900, 12_500),
    ("PLA-5002", "Polyurethane drive belt 10 mm, per metre", 450, 800),
    ("PKG-6001", "Double-wall carton 600 x 400 x 400 mm", 180, 340),
    ("PKG-6002", "Stretch film roll 500 mm x 300 m", 1_400, 2_200),
    ("SAF-7001", "Nitrile work gloves, size L (pack of 12)", 900, 1_600),
    ("SAF-7002", "Safety glasses, anti-fog, clear lens", 350, 700),
    ("OFF-8001", "Copier paper A4 80 g/m² (box of 5 reams)", 2_100, 2_900),
    ("MRO-9001", "Synthetic gear oil ISO VG 220, 20 l", 9_800, 14_000),
    ("MRO-9002", "Lithium grease cartridge 400 g", 450, 850),
    ("MRO-9003", "Flap disc 125 mm, grit 80", 280, 520),
)

PRODUCT_KINDS = (
    "Pump Assembly",
    "Conveyor Module",
    "Control Cabinet",
    "Gearbox",
    "Valve Block",
    "Sensor Kit",
    "Workbench",
    "Filter Unit",
    "Drive Unit",
    "Cooling Fan",
)
PRODUCT_SERIES = ("Compact", "Heavy-Duty", "Standard", "Marine", "Food-Grade", "Low-Noise")

COMPONENTS: tuple[tuple[str, str], ...] = (
    ("C-20011", "Cast aluminium housing"),
    ("C-20024", "Steel base plate"),
    ("C-20037", "Electric motor 0.75 kW"),
    ("C-20048", "Shaft coupling"),
    ("C-20053", "Ball bearing 6204"),
    ("C-20069", "O-ring kit"),
    ("C-20072", "Impeller"),
    ("C-20086", "Mechanical seal"),
    ("C-20091", "Terminal box"),
    ("C-20105", "Wiring harness"),
    ("C-20117", "PLC module"),
    ("C-20124", "Power supply 24 V"),
    ("C-20138", "Cable gland M20"),
    ("C-20142", "Hex bolt M8 x 40"),
    ("C-20159", "Spring washer M8"),
    ("C-20163", "Filter cartridge"),
    ("C-20176", "Fan guard"),
    ("C-20181", "Nameplate"),
    ("C-20194", "Gear set"),
    ("C-20207", "Drive belt"),
)


def po_index(po_number: str) -> int | None:
    """The number of a well-formed, in-range PO number, or None for anything else."""
    if not PO_PATTERN.fullmatch(po_number):
        return None
    number = int(po_number[3:])
    return number if PO_FIRST <= number < PO_FIRST + PO_COUNT else None


def purchase_order(po_number: str) -> dict[str, Any] | None:
    """The purchase order ``po_number`` (header and lines), or None if the ERP has no such PO."""
    if po_index(po_number) is None:
        return None
    rng = random.Random(po_number)
    supplier_code, supplier_name, currency = rng.choice(SUPPLIERS)
    order_date = date(2026, 1, 1) + timedelta(days=rng.randrange(365))
    lines = [
        {
            "line_no": line_no,
            "sku": sku,
            "description": description,
            "quantity": rng.randint(1, 60),
            "unit_price_cents": rng.randint(low, high),
        }
        for line_no, (sku, description, low, high) in enumerate(rng.sample(CATALOGUE, rng.randint(1, 8)), start=1)
    ]
    return {
        "po_number": po_number,
        "supplier": {"code": supplier_code, "name": supplier_name},
        "currency": currency,
        "order_date": order_date.isoformat(),
        "status": "approved",
        "lines": lines,
        "total_cents": sum(line["quantity"] * line["unit_price_cents"] for line in lines),
    }


def pending_po_numbers(limit: int | None = None) -> list[str]:
    """The PO numbers waiting to be imported (every 7th one), sorted, at most ``limit`` of them."""
    numbers = [f"PO-{n}" for n in range(PO_FIRST, PO_FIRST + PO_COUNT, PENDING_EVERY)]
    return numbers if limit is None else numbers[:limit]


def product_codes(limit: int | None = None) -> list[str]:
    """Every product code that has a bill of materials, sorted, at most ``limit`` of them."""
    codes = [f"P-{n}" for n in range(PRODUCT_FIRST, PRODUCT_FIRST + PRODUCT_COUNT)]
    return codes if limit is None else codes[:limit]


def product_index(product_code: str) -> int | None:
    """The number of a well-formed, in-range product code, or None for anything else."""
    if not PRODUCT_PATTERN.fullmatch(product_code):
        return None
    number = int(product_code[2:])
    return number if PRODUCT_FIRST <= number < PRODUCT_FIRST + PRODUCT_COUNT else None


def bill_of_materials(product_code: str) -> dict[str, Any] | None:
    """The bill of materials of ``product_code``, or None if the ERP has no such product."""
    number = product_index(product_code)
    if number is None:
        return None
    rng = random.Random(product_code)
    name = f"{rng.choice(PRODUCT_SERIES)} {rng.choice(PRODUCT_KINDS)} {number % 1000:03d}"
    components = [
        {"component_code": code, "name": component_name, "quantity": rng.randint(1, 12)}
        for code, component_name in sorted(rng.sample(COMPONENTS, rng.randint(2, 8)))
    ]
    return {"product_code": product_code, "name": name, "unit": "ea", "components": components}
