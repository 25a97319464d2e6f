"""Reading an uploaded CSV of PO numbers, with errors that name the line and the problem."""

import csv
import io
import re
from dataclasses import dataclass, field

PO_NUMBER = re.compile(r"^PO-\d{6}$")
HEADER_NAMES = {"po_number", "po", "po_no", "purchase_order", "purchase_order_number"}
MAX_ERRORS = 20


@dataclass
class ParsedKeys:
    """The keys read from a file, or the errors that stop it from becoming a job."""

    keys: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the file can become a job."""
        return not self.errors and bool(self.keys)


def decode(raw: bytes) -> tuple[str | None, str | None]:
    """Decode UTF-8 text (BOM allowed); return (text, None) or (None, error naming the line)."""
    if not raw.strip():
        return None, "the file is empty: expected a header line with a po_number column"
    if b"\x00" in raw:
        line = raw[: raw.index(b"\x00")].count(b"\n") + 1
        return None, f"line {line}: the file contains NUL bytes, so it is binary, not a CSV text file"
    try:
        return raw.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return None, f"line {line}: byte 0x{raw[exc.start]:02x} is not valid UTF-8 text; save the file as UTF-8 CSV"


def normalise_header(name: str) -> str:
    """'PO Number' and 'po-number' both become 'po_number'."""
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def parse_po_csv(raw: bytes, max_records: int) -> ParsedKeys:
    """Read PO numbers from the po_number column of a CSV file."""
    result = ParsedKeys()
    text, error = decode(raw)
    if error or text is None:
        result.errors.append(error or "the file could not be read")
        return result
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    column = read_header(reader, result)
    if column is None:
        return result
    first_seen: dict[str, int] = {}
    try:
        for row in reader:
            if len(result.errors) >= MAX_ERRORS:
                result.errors.append(f"… stopped after {MAX_ERRORS} errors")
                break
            check_row(row, reader.line_num, column, first_seen, result)
    except csv.Error as exc:
        result.errors.append(csv_error(reader.line_num, exc))
    if not result.errors and not result.keys:
        result.errors.append("line 2: no PO numbers after the header line")
    if len(result.keys) > max_records:
        result.errors.append(f"the file has {len(result.keys):,} PO numbers; the limit is {max_records:,} per job")
    return result


def read_header(reader: "csv._reader", result: ParsedKeys) -> int | None:
    """Find the po_number column in the first non-blank line; record an error if there is none."""
    try:
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            names = [normalise_header(cell) for cell in row]
            for index, name in enumerate(names):
                if name in HEADER_NAMES:
                    return index
            found = ", ".join(repr(cell.strip()) for cell in row[:8])
            result.errors.append(f"line {reader.line_num}: the header has no po_number column (found {found})")
            return None
    except csv.Error as exc:
        result.errors.append(csv_error(reader.line_num, exc))
        return None
    result.errors.append("the file has no header line with a po_number column")
    return None


def csv_error(line: int, exc: csv.Error) -> str:
    """A CSV syntax error in words; an unclosed quote is reported at the line where reading stopped."""
    if "unexpected end of data" in str(exc):
        return f"line {line}: a quoted field is not closed before the end of the file"
    return f"line {line}: the CSV is malformed ({exc})"


def check_row(row: list[str], line: int, column: int, first_seen: dict[str, int], result: ParsedKeys) -> None:
    """Validate one data row and add its PO number, or an error naming the line."""
    if not any(cell.strip() for cell in row):
        return
    if column >= len(row) or not row[column].strip():
        result.errors.append(f"line {line}: the po_number cell is empty")
        return
    value = row[column].strip().upper()
    if len(value) > 64 or not PO_NUMBER.match(value):
        shown = value if len(value) <= 40 else value[:40] + "…"
        result.errors.append(f"line {line}: {shown!r} is not a PO number (expected PO- and 6 digits, e.g. PO-100042)")
    elif value in first_seen:
        result.errors.append(f"line {line}: {value} is repeated (first on line {first_seen[value]})")
    else:
        first_seen[value] = line
        result.keys.append(value)
