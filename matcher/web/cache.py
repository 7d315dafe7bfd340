"""A small read-through cache for pages that are costly to compute and the same for every viewer (the champions'
week overview). A value is kept with the version of the data it was computed from (a cheap query the caller
supplies) and reused while that version holds; when it changes, one request recomputes while the others are
served the previous value, and 16 viewers arriving at an empty cache wait for one computation, not 16."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any


class PageCache:
    def __init__(self, max_age: float = 600.0, max_keys: int = 64) -> None:
        self.max_age, self.max_keys = max_age, max_keys  # max_age: a backstop for changes the version misses
        self._values: dict[Hashable, tuple[Hashable, float, Any]] = {}  # key -> (version, computed at, value)
        self._locks: dict[Hashable, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock(self, key: Hashable) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def get(self, key: Hashable, version: Hashable, compute: Callable[[], Any]) -> tuple[Any, float]:
        """(value, time.time() it was computed) for `key` as of `version`."""
        found = self._values.get(key)
        if found is not None and found[0] == version and time.time() - found[1] <= self.max_age:
            return found[2], found[1]
        lock = self._lock(key)
        if found is not None and not lock.acquire(blocking=False):
            return found[2], found[1]  # another request is recomputing it: the previous value meanwhile
        if found is None:
            lock.acquire()  # nothing to show yet: wait for the one computation
        try:
            again = self._values.get(key)
            if again is not None and again[0] == version and time.time() - again[1] <= self.max_age:
                return again[2], again[1]
            value, when = compute(), time.time()
            with self._guard:
                if key not in self._values and len(self._values) >= self.max_keys:
                    self._values.pop(next(iter(self._values)))
                self._values[key] = (version, when, value)
            return value, when
        finally:
            lock.release()
