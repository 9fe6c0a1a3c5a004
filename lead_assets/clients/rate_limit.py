"""Client-side fixed-window rate limiting per vendor and endpoint class.

The limiter stops us before the vendor has to (no 429 storms): it counts our own calls
in each window the vendor defines and, where the vendor reports what is left
(`x-minute-requests-left` and friends), trusts the vendor's count over ours.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

WINDOW_SECONDS: dict[str, float] = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}


@dataclass
class _Window:
    limit: int
    seconds: float
    start: float = 0.0
    used: int = 0

    def roll(self, now: float) -> None:
        start = math.floor(now / self.seconds) * self.seconds
        if start != self.start:
            self.start, self.used = start, 0

    def wait_for_slot(self, now: float) -> float:
        self.roll(now)
        return 0.0 if self.used < self.limit else self.start + self.seconds - now


@dataclass
class WindowLimiter:
    """Fixed windows per endpoint class, e.g. ``{"search": {"minute": 200, "hour": 600}}``.

    `acquire` blocks until every window of the class has room, or raises `TimeoutError`
    with the seconds it would have had to wait when that exceeds `max_wait`.
    """

    limits: Mapping[str, Mapping[str, int | None]]
    window_seconds: Mapping[str, float] = field(default_factory=lambda: dict(WINDOW_SECONDS))
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._windows: dict[str, dict[str, _Window]] = {
            cls: {
                name: _Window(limit=int(limit), seconds=float(self.window_seconds[name]))
                for name, limit in windows.items()
                if limit
            }
            for cls, windows in self.limits.items()
        }

    def acquire(self, cls: str, max_wait: float = 90.0) -> float:
        """Take one call from every window of `cls`; returns the seconds spent waiting."""
        waited = 0.0
        while True:
            with self._lock:
                now = self.clock()
                windows = self._windows.get(cls, {}).values()
                wait = max((w.wait_for_slot(now) for w in windows), default=0.0)
                if wait <= 0:
                    for w in windows:
                        w.used += 1
                    return waited
            if waited + wait > max_wait:
                raise TimeoutError(wait)
            self.sleep(wait)
            waited += wait

    def observe(self, cls: str, remaining: Mapping[str, int]) -> None:
        """Align our counts with what the vendor says is left in each window."""
        with self._lock:
            now = self.clock()
            for name, left in remaining.items():
                window = self._windows.get(cls, {}).get(name)
                if window is not None:
                    window.roll(now)
                    window.used = max(window.used, window.limit - left)

    def seconds_until_reset(self, cls: str) -> float:
        """Seconds until the shortest window of `cls` reopens (0 when `cls` has no windows)."""
        with self._lock:
            now = self.clock()
            windows = list(self._windows.get(cls, {}).values())
            if not windows:
                return 0.0
            shortest = min(windows, key=lambda w: w.seconds)
            shortest.roll(now)
            return max(0.0, shortest.start + shortest.seconds - now)
