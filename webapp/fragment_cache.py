"""A shared, one-second cache of rendered fragments that are the same for every operator.

Fifty operators watching one job would otherwise render its rows fifty times a second, taking
CPU from the workers running the job. The rows fragment carries no per-operator content (no CSRF
token, no name), so one render serves every viewer for FRAGMENT_TTL seconds: the page is at most
that much older than the database, well under its one-second polling. Per web process, in memory:
nothing to configure, nothing to invalidate.
"""

import threading
import time
from collections.abc import Callable

FRAGMENT_TTL = 1.0
MAX_ENTRIES = 512


class FragmentCache:
    """Rendered HTML by key, each kept ``ttl`` seconds; one render per key at a time."""

    def __init__(self, ttl: float = FRAGMENT_TTL, max_entries: int = MAX_ENTRIES) -> None:
        self.ttl, self.max_entries = ttl, max_entries
        self.entries: dict[tuple, tuple[float, str]] = {}
        self.rendering: dict[tuple, threading.Lock] = {}
        self.lock = threading.Lock()

    def fresh(self, key: tuple) -> str | None:
        """The cached HTML of ``key`` if it is younger than the TTL."""
        with self.lock:
            entry = self.entries.get(key)
        if entry is not None and time.monotonic() - entry[0] < self.ttl:
            return entry[1]
        return None

    def get_or_render(self, key: tuple, render: Callable[[], str]) -> str:
        """The fresh HTML of ``key``, rendering it if needed; viewers asking at once wait for one render."""
        html = self.fresh(key)
        if html is not None:
            return html
        with self.lock:
            key_lock = self.rendering.setdefault(key, threading.Lock())
        with key_lock:
            html = self.fresh(key)  # another viewer may have rendered it while this one waited
            if html is None:
                html = render()
                self.store(key, html)
        return html

    def clear(self) -> None:
        """Forget every render (the database was emptied)."""
        with self.lock:
            self.entries.clear()
            self.rendering.clear()

    def store(self, key: tuple, html: str) -> None:
        """Keep ``html``; drop expired entries once the cache is full, then the oldest."""
        now = time.monotonic()
        with self.lock:
            self.entries[key] = (now, html)
            if len(self.entries) > self.max_entries:
                for old in [k for k, (at, _) in self.entries.items() if now - at >= self.ttl]:
                    self.entries.pop(old, None)
                    self.rendering.pop(old, None)
                while len(self.entries) > self.max_entries:
                    oldest = min(self.entries, key=lambda k: self.entries[k][0])
                    self.entries.pop(oldest)
                    self.rendering.pop(oldest, None)
