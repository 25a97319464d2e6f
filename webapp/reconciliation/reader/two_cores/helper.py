"""The helper process as the worker sees it: started, given what to read, its frames taken in and its sums merged."""

import os
import pickle
import select
import subprocess
import sys
from contextlib import suppress
from pathlib import Path
from typing import Any

from webapp.reconciliation.reader.date_range_rows import DateRangeRows
from webapp.reconciliation.reader.reading import Context
from webapp.reconciliation.reader.transactions import replay
from webapp.reconciliation.reader.two_cores.frames import COUNTS, PROGRESS, RESULT, SIZE, Later
from webapp.reconciliation.reader.two_cores.merge import merge_into

MODULE = "webapp.reconciliation.reader.two_cores.later_part"
ROOT = Path(__file__).resolve().parents[4]  # the directory that holds the webapp package


class SecondHalf:
    """The helper process, its progress and its result; this process's progress is reported combined with it."""

    def __init__(self, ctx: Context, rows: DateRangeRows, line: int | None) -> None:
        self.ctx, self.rows, self.user_progress = ctx, rows, ctx.progress
        self.line = line  # the boundary: the last line before the helper's first; None until the source knows it
        self.cap = sys.maxsize  # this process's bytes count toward progress up to the boundary
        self.done_rows = self.done_bytes = 0
        self.next_mark = ctx.every
        self.buffer = bytearray()
        self.result: memoryview | None = None
        self.ended = False
        self.stage_path: str | None = None
        self.process = subprocess.Popen([sys.executable, "-P", "-m", MODULE], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, env=helper_environment())
        assert self.process.stdout is not None
        self.fd = self.process.stdout.fileno()
        os.set_blocking(self.fd, False)

    def send(self, **reading: Any) -> None:
        """Give the helper the arguments of ``later_part.read_later``; from now on progress counts its rows too."""
        assert self.process.stdin is not None
        self.stage_path = reading["stage_path"]
        try:
            self.process.stdin.write(pickle.dumps(reading, protocol=pickle.HIGHEST_PROTOCOL))
            self.process.stdin.close()
        except OSError:
            self.line = sys.maxsize  # the helper is gone: the boundary is never taken
            return
        self.cap = reading["start"]
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
            self.remove_staged()  # this process reads those rows itself
            return False
        merge_into(self.ctx.agg, later.partial, boundary)
        self.replay_staged()
        self.remove_staged()
        self.rows.saw_us_orders = self.rows.saw_us_orders or later.saw_us_orders
        if later.first_excluded is not None:
            self.rows.first_excluded = self.rows.first_excluded or later.first_excluded + boundary
        source.sha256, source.bytes_read = digest, size
        self.report(self.ctx.agg.summary.rows, size)
        return True

    def replay_staged(self) -> None:
        """Hand the helper's staged chunks to this process's sink, after its own rows."""
        if self.ctx.sink is None or self.stage_path is None:
            return
        with open(self.stage_path, "rb") as staged:
            replay(staged, self.ctx.sink)

    def remove_staged(self) -> None:
        """Delete the helper's file of staged rows, if there is one."""
        if self.stage_path is not None:
            with suppress(FileNotFoundError):
                os.unlink(self.stage_path)
            self.stage_path = None

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


def helper_environment() -> dict[str, str]:
    """This process's environment, with the webapp package importable from any working directory."""
    paths = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
