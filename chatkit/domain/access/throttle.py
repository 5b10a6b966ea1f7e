"""Failed password attempts slow the next one down: 1 s, 2 s, 4 s … up to a cap, per key.

Keys are whatever the face knows about the caller — the browser session id and the client address —
so a new tab does not reset the delay for the same address, and one noisy address does not lock out
a session elsewhere more than its own failures do. Pure: the clock is passed in, so tests need no
sleeping. One instance is shared by all sessions of a process, hence the lock.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Entry:
    failures: int
    blocked_until: float
    last_failure: float


class Throttle:
    def __init__(
        self,
        *,
        base_s: float = 1.0,
        factor: float = 2.0,
        cap_s: float = 60.0,
        forget_after_s: float = 3600.0,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if base_s <= 0 or factor < 1 or cap_s < base_s or max_keys < 1:
            raise ValueError("throttle needs base_s > 0, factor >= 1, cap_s >= base_s, max_keys >= 1")
        self._base, self._factor, self._cap = base_s, factor, cap_s
        self._forget_after = forget_after_s
        self._max_keys = max_keys
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def delay_for(self, failures: int) -> float:
        """The wait after `failures` consecutive failures: 0, then base, base×factor, … capped."""
        if failures <= 0:
            return 0.0
        # min() on the exponent first: factor**1000 would overflow a float.
        return min(self._cap, self._base * self._factor ** min(failures - 1, 64))

    def _live(self, key: str, now: float) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is not None and now - entry.last_failure > self._forget_after:
            del self._entries[key]
            return None
        return entry

    def wait_s(self, *keys: str) -> float:
        """Seconds before any of `keys` may try again (0 = now). Check this before the password."""
        now = self._clock()
        with self._lock:
            waits = [max(0.0, e.blocked_until - now) for k in keys if (e := self._live(k, now)) is not None]
        return max(waits, default=0.0)

    def failed(self, *keys: str) -> float:
        """Records one failure for each key; returns the longest wait that now applies."""
        now = self._clock()
        longest = 0.0
        with self._lock:
            for key in keys:
                entry = self._live(key, now)
                failures = (entry.failures if entry else 0) + 1
                delay = self.delay_for(failures)
                self._entries[key] = _Entry(failures, now + delay, now)
                self._entries.move_to_end(key)
                longest = max(longest, delay)
            while len(self._entries) > self._max_keys:  # bounded: the oldest failure is forgotten first
                self._entries.popitem(last=False)
        return longest

    def succeeded(self, *keys: str) -> None:
        """A correct password clears the keys' history."""
        with self._lock:
            for key in keys:
                self._entries.pop(key, None)

    def failures(self, key: str) -> int:
        now = self._clock()
        with self._lock:
            entry = self._live(key, now)
        return entry.failures if entry else 0
