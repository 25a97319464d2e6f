"""A shared, one-second cache of what live fragments show the same to every operator.

Fifty operators watching one job would otherwise render its rows and summary fifty times a
second, taking CPU from the workers running the job. One render serves every viewer for
FRAGMENT_TTL seconds (neither holds anything per operator: the job's buttons, with their CSRF
tokens, are the page's own; see webapp.views.job_page.live), and so does one read of each logged-in
operator (webapp.views.auth). What a viewer
sees is at most that much older than the database, well under the one-second polling. Per web
process, in memory: nothing to configure, nothing to invalidate.
"""

import threading
import time
from collections.abc import Callable
from typing import Any

FRAGMENT_TTL = 1.0
MAX_ENTRIES = 512


class FragmentCache:
    """Rendered HTML (or computed values) by key, each kept ``ttl`` seconds; one render per key at a time."""

    def __init__(self, ttl: float = FRAGMENT_TTL, max_entries: int = MAX_ENTRIES, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl, self.max_entries, self.clock = ttl, max_entries, clock
        self.entries: dict[tuple, tuple[float, Any]] = {}
        self.rendering: dict[tuple, threading.Lock] = {}
        self.lock = threading.Lock()

    def fresh(self, key: tuple) -> Any:
        """The cached value of ``key`` if it is younger than the TTL, else None."""
        with self.lock:
            entry = self.entries.get(key)
        if entry is not None and self.clock() - entry[0] < self.ttl:
            return entry[1]
        return None

    def get_or_render(self, key: tuple, render: Callable[[], Any]) -> Any:
        """The fresh value of ``key``, rendering it if needed; viewers asking at once wait for one render."""
        html = self.fresh(key)
        if html is not None:
            return html
        with self.lock:
            key_lock = self.rendering.setdefault(key, threading.Lock())
        with key_lock:
            html = self.fresh(key)  # another viewer may have rendered it while this one waited
            if html is None:
                try:
                    html = render()
                except BaseException:
                    self.forget_lock(key, key_lock)  # a failed render (a missing job's 404) keeps nothing
                    raise
                self.store(key, html)
        return html

    def forget_lock(self, key: tuple, key_lock: threading.Lock) -> None:
        """Drop ``key``'s render lock unless another render has replaced it already."""
        with self.lock:
            if self.rendering.get(key) is key_lock:
                del self.rendering[key]

    def forget(self, key: tuple) -> None:
        """Drop ``key``'s value at once (in this process; others keep theirs at most the TTL)."""
        with self.lock:
            self.entries.pop(key, None)

    def forget_prefix(self, prefix: tuple) -> None:
        """Drop every value whose key starts with ``prefix`` (e.g. all pages of one job's rows)."""
        with self.lock:
            for key in [k for k in self.entries if k[: len(prefix)] == prefix]:
                del self.entries[key]

    def clear(self) -> None:
        """Forget every render (the database was emptied)."""
        with self.lock:
            self.entries.clear()
            self.rendering.clear()

    def store(self, key: tuple, html: Any) -> None:
        """Keep ``html``; drop expired entries once the cache is full, then the oldest."""
        now = self.clock()
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
