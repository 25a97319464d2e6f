"""The peak memory of a process and its children, sampled while it works."""

import threading

import psutil


class PeakRss(threading.Thread):
    """Samples the summed RSS of a process and its children every 20 ms; keeps the peak."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.peak = 0
        self.stopped = threading.Event()

    def now(self) -> int:
        """The family's RSS in bytes right now."""
        total = 0
        for process in (self.root, *self.root.children(recursive=True)):
            try:
                total += process.memory_info().rss
            except psutil.Error:
                pass
        return total

    def run(self) -> None:
        while not self.stopped.is_set():
            self.peak = max(self.peak, self.now())
            self.stopped.wait(0.02)  # the sampling period; stop() ends it at once

    def stop(self) -> int:
        """Stop sampling; return the peak."""
        self.stopped.set()
        self.join()
        return self.peak
