"""Reading a large Date Range report on two cores: a helper process reads the rows after a line boundary.

This process reads up to the boundary while the helper (``second_half.py``) reads from it to the
end. The helper's sums are used only when they are what one pass would give: the boundary ends
a CSV record here, the helper read to the end without a decoding or file-level error, and none
of its first rows depended on the row before. Otherwise this process simply reads on, so the
helper can save time but never change a result.
"""

import csv
import os
import pickle
import select
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from webapp.recon.context import Context
from webapp.recon.detect import Detected
from webapp.recon.merge import Partial, merge_into

if TYPE_CHECKING:
    from webapp.recon.date_range_rows import DateRangeRows

MIN_BYTES = 32 << 20  # below this the helper's start (~0.1 s) costs more than it saves
FIRST_SHARE = 0.48  # this process also hashes the rest of the file and merges, so it reads a little less
WINDOW = 1 << 20  # how far past the middle a boundary is looked for
SPLITTABLE = ("utf-8", "utf-8-sig", "windows-1252")
SCRIPT = Path(__file__).with_name("second_half.py")
PROGRESS, RESULT = b"P", b"R"
COUNTS = struct.Struct("<qq")
SIZE = struct.Struct("<q")


@dataclass
class Job:
    """What the helper needs: where to start and how to read the rows (it numbers lines from its start)."""

    path: str
    start: int
    found: Detected
    lenient: bool
    every: int
    chunk_size: int
    field_limit: int


@dataclass
class Later:
    """What the helper sends back: its sums, and what tells whether they stand in for reading on."""

    partial: Partial
    saw_us_orders: bool
    first_excluded: int | None
    bytes_read: int
    ascii: bool
    unsure: bool


def start_second_half(path: str | Path, found: Detected, ctx: Context, rows: "DateRangeRows") -> "SecondHalf | None":
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
    half.send(Job(str(path), start, found, ctx.agg.lenient_states, ctx.every, source.chunk_size,
                  csv.field_size_limit()))
    return half


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


class SecondHalf:
    """The helper process, its progress and its result; this process's progress is reported combined with it."""

    def __init__(self, ctx: Context, rows: "DateRangeRows", line: int | None) -> None:
        self.ctx, self.rows, self.user_progress = ctx, rows, ctx.progress
        self.line = line  # the boundary: the last line before the helper's first; None until the source knows it
        self.cap = sys.maxsize  # this process's bytes count toward progress up to the boundary
        self.done_rows = self.done_bytes = 0
        self.next_mark = ctx.every
        self.buffer = bytearray()
        self.result: memoryview | None = None
        self.ended = False
        self.process = subprocess.Popen([sys.executable, "-P", str(SCRIPT)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE)
        assert self.process.stdout is not None
        self.fd = self.process.stdout.fileno()
        os.set_blocking(self.fd, False)

    def send(self, job: Job) -> None:
        """Give the helper its job; from now on progress counts its rows too."""
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL))
            self.process.stdin.close()
        except OSError:
            self.line = sys.maxsize  # the helper is gone: the boundary is never taken
            return
        self.cap = job.start
        self.ctx.progress = self.progress

    def passed(self, first: int, end: int) -> int | None:
        """A record on lines ``first`` to ``end`` ended past the last line known to lie before the boundary.

        Returns the line to check at next, or None once the helper's sums are merged: reading stops.
        """
        if self.line is None:
            self.line = self.ctx.source.mark_line
            if self.line is None:  # not read that far: every line decoded so far lies before the boundary
                return self.ctx.source.lines_done
        if end <= self.line:
            return self.line
        return None if self.take(first) else sys.maxsize

    def progress(self, rows: int, bytes_read: int) -> None:
        """The progress callback while both read: pass on each multiple of ``every`` of the combined rows."""
        self.poll()
        self.report(rows + self.done_rows, min(bytes_read, self.cap) + self.done_bytes)

    def report(self, rows: int, bytes_read: int) -> None:
        """Call the caller's progress for every multiple of ``every`` reached (rows never go back)."""
        while self.next_mark <= rows:
            if self.user_progress is not None:
                self.user_progress(self.next_mark, bytes_read)
            self.next_mark += self.ctx.every

    def take(self, line: int) -> bool:
        """At the first record ending past the boundary (starting on ``line``): True when the helper's sums are merged.

        Unless the record starts right after the boundary it spans it, and the helper started mid-record.
        """
        source, boundary = self.ctx.source, self.line or 0
        digest, size, later = "", 0, None
        if line == boundary + 1:
            digest, size = source.digest_rest()  # while the helper may still be reading
            later = self.wait()
        self.close()
        if later is None or later.unsure or (source.encoding == "windows-1252" and not later.ascii):
            self.done_rows = self.done_bytes = 0
            self.cap = sys.maxsize
            return False
        merge_into(self.ctx.agg, later.partial, boundary)
        self.rows.saw_us_orders = self.rows.saw_us_orders or later.saw_us_orders
        if later.first_excluded is not None:
            self.rows.first_excluded = self.rows.first_excluded or later.first_excluded + boundary
        source.sha256, source.bytes_read = digest, size
        self.report(self.ctx.agg.summary.rows, size)
        return True

    def wait(self) -> Later | None:
        """The helper's result once it has finished, or None if it failed; progress goes on meanwhile."""
        rows, source = self.ctx.agg.summary.rows, self.ctx.source
        while not self.ended:
            select.select([self.fd], [], [], 0.5)
            self.progress(rows, source.bytes_read)
        if self.process.wait() != 0 or self.result is None:
            return None
        later = pickle.loads(self.result)
        self.result.release()
        self.result, self.buffer = None, bytearray()
        return later

    def poll(self) -> None:
        """Take in what the helper has written so far, without waiting."""
        while not self.ended:
            try:
                data = os.read(self.fd, 1 << 20)
            except BlockingIOError:
                return
            if not data:
                self.ended = True
                return
            self.buffer += data
            self.unpack()

    def unpack(self) -> None:
        """Read the complete frames in the buffer: progress counts, then the pickled result."""
        while self.buffer[:1] == PROGRESS and len(self.buffer) >= 1 + COUNTS.size:
            self.done_rows, self.done_bytes = COUNTS.unpack_from(self.buffer, 1)
            del self.buffer[: 1 + COUNTS.size]
        if self.result is None and self.buffer[:1] == RESULT and len(self.buffer) >= 1 + SIZE.size:
            (size,) = SIZE.unpack_from(self.buffer, 1)
            if len(self.buffer) >= 1 + SIZE.size + size:
                self.result = memoryview(self.buffer)[1 + SIZE.size : 1 + SIZE.size + size]  # no copy

    def close(self) -> None:
        """Stop the helper if it still runs; afterwards the boundary is never taken again."""
        self.line = sys.maxsize
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None and not pipe.closed:
                try:
                    pipe.close()
                except OSError:  # unsent job bytes to a helper that is gone
                    pass
