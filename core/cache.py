"""Process-wide caches of what rarely changes (a card's row, a verified API key, the rules), with
one way to empty them all.

Each process keeps its own copy for a few seconds; saving a row empties this process's entry at
once (a receiver connected in the owning app's `AppConfig.ready`), and other processes follow
when the entry expires. `clear_all()` empties every cache of the process: tests call it between
tests, since a rolled-back database would otherwise leave rows that no longer exist.
"""

import threading
import time
from collections.abc import Callable

_MISSING = object()
_clearers: list[Callable[[], None]] = []


def on_clear_all(clear: Callable[[], None]) -> Callable[[], None]:
    """Have `clear_all()` call `clear` too (a cache that is not a TTLCache)."""
    _clearers.append(clear)
    return clear


def clear_all():
    for clear in _clearers:
        clear()


class TTLCache:
    """key -> value for `ttl` seconds (a number, or a function of the key). Past `max_entries`
    it starts again rather than grow without bound: callers of many keys (every card) would
    otherwise keep them all."""

    def __init__(self, *, ttl: float | Callable[[object], float], max_entries: int = 50_000):
        self._ttl = ttl if callable(ttl) else (lambda _key: ttl)
        self._max_entries = max_entries
        self._entries: dict = {}
        self._lock = threading.Lock()
        on_clear_all(self.clear)

    def get(self, key, default=None):
        hit = self._entries.get(key)
        if hit is None or hit[0] <= time.monotonic():
            return default
        return hit[1]

    def set(self, key, value):
        with self._lock:
            if len(self._entries) >= self._max_entries:
                self._entries.clear()
            self._entries[key] = (time.monotonic() + self._ttl(key), value)

    def get_or_load(self, key, load: Callable[[], object]):
        """The cached value, or `load()`'s, remembered unless it is None (absent rows are not
        remembered: the next request may create them)."""
        value = self.get(key, _MISSING)
        if value is _MISSING:
            value = load()
            if value is not None:
                self.set(key, value)
        return value

    def pop(self, key):
        self._entries.pop(key, None)

    def clear(self):
        self._entries.clear()

    def __len__(self):
        return len(self._entries)
