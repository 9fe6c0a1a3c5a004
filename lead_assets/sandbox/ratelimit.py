"""Fixed-window request counters, the way Apollo (and most vendors' plan limits) count.

A window named ``minute`` with length 60 s starts at every multiple of 60 s since the epoch (so the
``day`` window of 86,400 s resets at midnight UTC). Lengths are configurable so tests can use
windows of a second or two. Counters are kept per ``(vendor, api key, endpoint class, window)``.
A rejected request is not counted (vendors document that rejected calls use no quota), but it is
recorded as an *attempt*, so the stats can show how hard a client pushed against a limit.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class WindowUsage:
    """One window's state after a decision."""

    name: str
    seconds: float
    limit: int | None  # None = no limit on this window
    used: int
    resets_in: float  # seconds to the window boundary

    @property
    def remaining(self) -> int | None:
        """Requests left in this window (None when unlimited)."""
        return None if self.limit is None else max(0, self.limit - self.used)


@dataclass(frozen=True)
class Decision:
    """The outcome of :meth:`FixedWindowLimiter.acquire`."""

    allowed: bool
    windows: tuple[WindowUsage, ...]
    exceeded: WindowUsage | None = None  # the full window that blocks longest, when rejected

    @property
    def retry_after(self) -> int:
        """Whole seconds until the request would be accepted (0 when allowed)."""
        if self.exceeded is None:
            return 0
        return max(1, math.ceil(self.exceeded.resets_in))


class FixedWindowLimiter:
    """Thread-safe fixed-window counters with peak tracking; ``clock`` is injectable for tests."""

    def __init__(self, clock: Callable[[], float] = time.time):
        self._clock = clock
        self._lock = threading.Lock()
        # (vendor, key, cls, window name) -> (window length, window start, accepted, attempts)
        self._counters: dict[tuple[str, str, str, str], list[float]] = {}
        # (vendor, cls, window name) -> highest accepted / attempted count seen in one window
        self._peak_used: dict[tuple[str, str, str], int] = {}
        self._peak_attempts: dict[tuple[str, str, str], int] = {}

    def acquire(
        self, vendor: str, key: str, cls: str, limits: Mapping[str, int | None], windows: Mapping[str, float]
    ) -> Decision:
        """Count one request against every window of ``limits`` unless one of them is full.

        ``limits`` maps window names to allowances (None = unlimited); ``windows`` maps window
        names to lengths in seconds.
        """
        now = self._clock()
        with self._lock:
            states = []
            for name, limit in limits.items():
                seconds = float(windows.get(name, 0) or 0)
                if seconds <= 0:
                    continue
                start = math.floor(now / seconds) * seconds
                counter = self._counters.get((vendor, key, cls, name))
                if counter is None or counter[0] != seconds or counter[1] != start:
                    counter = [seconds, start, 0, 0]
                    self._counters[(vendor, key, cls, name)] = counter
                counter[3] += 1
                peak_key = (vendor, cls, name)
                self._peak_attempts[peak_key] = max(self._peak_attempts.get(peak_key, 0), int(counter[3]))
                states.append((name, seconds, limit, counter, start + seconds - now))
            full = [s for s in states if s[2] is not None and s[3][2] >= s[2]]
            if full:
                blocking = max(full, key=lambda s: s[4])
                usage = tuple(WindowUsage(n, sec, lim, int(c[2]), left) for n, sec, lim, c, left in states)
                exceeded = next(u for u in usage if u.name == blocking[0])
                return Decision(False, usage, exceeded)
            for name, _, _, counter, _ in states:
                counter[2] += 1
                peak_key = (vendor, cls, name)
                self._peak_used[peak_key] = max(self._peak_used.get(peak_key, 0), int(counter[2]))
            usage = tuple(WindowUsage(n, sec, lim, int(c[2]), left) for n, sec, lim, c, left in states)
            return Decision(True, usage)

    def peaks(self, vendor: str) -> dict[str, dict[str, dict[str, int]]]:
        """``{cls: {window: {"used": peak accepted, "attempts": peak attempted}}}`` for one vendor."""
        out: dict[str, dict[str, dict[str, int]]] = {}
        with self._lock:
            for (v, cls, name), attempts in self._peak_attempts.items():
                if v == vendor:
                    out.setdefault(cls, {})[name] = {
                        "used": self._peak_used.get((v, cls, name), 0),
                        "attempts": attempts,
                    }
        return out

    def reset(self) -> None:
        """Forget every counter and peak."""
        with self._lock:
            self._counters.clear()
            self._peak_used.clear()
            self._peak_attempts.clear()
