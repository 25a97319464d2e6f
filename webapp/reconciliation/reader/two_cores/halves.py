"""Whether and where a large Date Range report is split for two cores, and the start of the helper process."""

import csv
import os
import tempfile
from pathlib import Path

from webapp.reconciliation.reader.date_range_rows import DateRangeRows
from webapp.reconciliation.reader.detect import Detected
from webapp.reconciliation.reader.reading import Context
from webapp.reconciliation.reader.two_cores.helper import SecondHalf

MIN_BYTES = 32 << 20  # below this, starting the helper costs more time than it saves
FIRST_SHARE = 0.48  # this process also hashes the rest of the file and merges, so it reads a little less
WINDOW = 1 << 20  # how far past the middle a boundary is looked for
SPLITTABLE = ("utf-8", "utf-8-sig", "windows-1252")
# The helper's staged rows in TMPDIR; one a killed worker left is removed with the stale copies (webapp.storage).
STAGED_PREFIX = "celeriac-staged-"


def start_second_half(path: str | Path, found: Detected, ctx: Context, rows: DateRangeRows) -> SecondHalf | None:
    """Start the helper on the later part of ``path``, or None when the file is too small or not splittable."""
    source = ctx.source
    if source.encoding not in SPLITTABLE or source.bare_cr is not False or os.path.getsize(path) < MIN_BYTES:
        return None
    start = boundary(path, int(os.path.getsize(path) * FIRST_SHARE), len(found.header))
    if start is None:
        return None
    if start > source.bytes_read:
        source.watch(start)  # its line number comes with the chunk that holds it
        line = None
    else:
        line = lines_before(path, start)
        if line <= found.line:
            return None
    try:
        half = SecondHalf(ctx, rows, line)
    except OSError:  # no process to be had: one pass it is
        return None
    half.send(
        path=str(path),
        start=start,
        found=found,
        lenient=ctx.agg.lenient_states,
        every=ctx.every,
        chunk_size=source.chunk_size,
        field_limit=csv.field_size_limit(),
        stage_path=staged_file() if ctx.sink is not None else None,
    )
    return half


def staged_file() -> str:
    """A new temporary file for the helper's staged rows (this process deletes it once replayed)."""
    handle, path = tempfile.mkstemp(prefix=STAGED_PREFIX, suffix=".pickle")
    os.close(handle)
    return path


def boundary(path: str | Path, target: int, width: int) -> int | None:
    """A byte offset past ``target`` where a line starts, such that it and the line before look like whole records."""
    with open(path, "rb") as binary:
        binary.seek(target)
        window = binary.read(WINDOW)
    ends = [window.find(b"\n")]
    while ends[-1] >= 0 and len(ends) < 1000:
        ends.append(window.find(b"\n", ends[-1] + 1))
    ends.pop()
    for before, at, after in zip(ends, ends[1:], ends[2:], strict=False):
        if whole_record(window[before + 1 : at + 1], width) and whole_record(window[at + 1 : after + 1], width):
            return target + at + 1
    return None


def whole_record(line: bytes, width: int) -> bool:
    """True when the line alone is a CSV record of ``width`` fields (quotes balanced)."""
    if line.count(b'"') % 2:
        return False
    try:
        return len(next(csv.reader([line.decode("latin-1")], strict=True))) == width
    except (csv.Error, StopIteration):
        return False


def lines_before(path: str | Path, offset: int) -> int:
    """The number of line feeds in the first ``offset`` bytes: the line number just before ``offset``."""
    count = 0
    with open(path, "rb") as binary:
        while offset > 0:
            chunk = binary.read(min(offset, 1 << 22))
            if not chunk:
                break
            count += chunk.count(b"\n")
            offset -= len(chunk)
    return count
