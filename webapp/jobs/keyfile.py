"""Reading the keys of a job (PO numbers, product codes) from an uploaded CSV or a text box.

Every error names the line and the problem, so an operator can fix the file and try again.
"""

import csv
import io
import re
from dataclasses import dataclass, field

from webapp.jobs.kinds import JobKind

MAX_ERRORS = 20


@dataclass
class ParsedKeys:
    """The keys read from a file, or the errors that stop it from becoming a job.

    A key given twice is an error like any other to the API, but the launch form offers to drop
    the repeats and start: ``repeats`` counts them, and every key after one is still read.
    """

    keys: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    first_seen: dict[str, int] = field(default_factory=dict)
    repeats: int = 0
    other_errors: int = 0

    @property
    def ok(self) -> bool:
        """True when the input can become a job."""
        return not self.errors and bool(self.keys)

    @property
    def only_repeats(self) -> bool:
        """True when keys given twice are all that is wrong: without the repeats it can become a job."""
        return self.repeats > 0 and self.other_errors == 0 and bool(self.keys)

    def error(self, message: str) -> None:
        """Record an error other than a repeated key (the first MAX_ERRORS are kept)."""
        self.other_errors += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(message)

    def add(self, value: str, line: int, kind: JobKind, where: str = "line") -> None:
        """Validate one key and keep it, or record an error naming where it was."""
        if self.other_errors >= MAX_ERRORS:
            return
        value = value.strip().upper()
        problem = kind.key_problem(value)
        if problem:
            self.error(f"{where} {line}: {problem}")
        elif value in self.first_seen:
            self.repeats += 1
            if len(self.errors) < MAX_ERRORS:
                self.errors.append(f"{where} {line}: {value} is repeated (first on {where} {self.first_seen[value]})")
        else:
            self.first_seen[value] = line
            self.keys.append(value)

    def check_size(self, max_records: int, noun: str) -> None:
        """Refuse more keys than one job may hold."""
        if len(self.keys) > max_records:
            self.error(f"{len(self.keys):,} {noun}s; the limit is {max_records:,} per job")


def decode(raw: bytes, column: str) -> tuple[str | None, str | None]:
    """Decode UTF-8 text (BOM allowed); return (text, None) or (None, error naming the line)."""
    if not raw.strip():
        return None, f"the file is empty: expected a header line with a {column} column"
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


def csv_error(line: int, exc: csv.Error) -> str:
    """A CSV syntax error in words; an unclosed quote is reported at the line where reading stopped."""
    if "unexpected end of data" in str(exc):
        return f"line {line}: a quoted field is not closed before the end of the file"
    return f"line {line}: the CSV is malformed ({exc})"


def parse_key_csv(raw: bytes, kind: JobKind, max_records: int) -> ParsedKeys:
    """Read the keys from the key column of a CSV file (e.g. po_number, product_code)."""
    result = ParsedKeys()
    column = kind.key_column
    text, error = decode(raw, column)
    if error or text is None:
        result.error(error or "the file could not be read")
        return result
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        index = read_header(reader, kind, column, result)
        if index is not None:
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue
                if index >= len(row) or not row[index].strip():
                    result.error(f"line {reader.line_num}: the {column} cell is empty")
                else:
                    result.add(row[index], reader.line_num, kind)
    except csv.Error as exc:
        result.error(csv_error(reader.line_num, exc))
    if len(result.errors) >= MAX_ERRORS:
        result.errors.append(f"… only the first {MAX_ERRORS} errors are listed")
    if not result.errors and not result.keys:
        result.error(f"line 2: no {kind.key_label}s after the header line")
    result.check_size(max_records, kind.key_label)
    return result


def read_header(reader: "csv._reader", kind: JobKind, column: str, result: ParsedKeys) -> int | None:
    """Find the key column in the first non-blank line; record an error if there is none."""
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        for index, name in enumerate(row):
            if normalise_header(name) in kind.header_names:
                return index
        found = ", ".join(repr(cell.strip()) for cell in row[:8])
        result.error(f"line {reader.line_num}: the header has no {column} column (found {found})")
        return None
    result.error(f"the file has no header line with a {column} column")
    return None


def parse_key_text(text: str, kind: JobKind, max_records: int) -> ParsedKeys:
    """Read keys typed or pasted into a text box: one per line, or separated by commas or spaces."""
    result = ParsedKeys()
    for number, line in enumerate(text.splitlines(), start=1):
        for value in re.split(r"[\s,;]+", line.strip()):
            if value:
                result.add(value, number, kind)
    if not result.keys and not result.errors:
        result.error(f"type at least one {kind.key_label} (e.g. {kind.key_example})")
    result.check_size(max_records, kind.key_label)
    return result
