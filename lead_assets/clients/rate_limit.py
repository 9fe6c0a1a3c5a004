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
from pathlib import Path

WINDOW_SECONDS: dict[str, float] = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}


def edge_seconds(window_seconds: float) -> float:
    """How close to its window's end a call also counts in the next window.

    A call taken at 0.95 s may reach the vendor after 1.0 s, in the vendor's next window, on
    top of the calls we allow there: counting it in both windows keeps parallel runs under
    the vendor's limit at the cost of a little rate only when the window was not full anyway.
    """
    return min(0.2 * window_seconds, 1.0)


@dataclass
class _Window:
    limit: int
    seconds: float
    start: float = 0.0
    used: int = 0
    next_used: int = 0  # calls taken at this window's edge, counted in the next one too

    def roll(self, now: float) -> None:
        start = math.floor(now / self.seconds) * self.seconds
        if start != self.start:
            carried = self.next_used if start == self.start + self.seconds else 0
            self.start, self.used, self.next_used = start, carried, 0

    def take(self, now: float) -> None:
        self.used += 1
        if self.start + self.seconds - now < edge_seconds(self.seconds):
            self.next_used += 1

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
                        w.take(now)
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


# Check every window, then take one call from all of them, atomically: parallel runs on other
# processes see the same counts, so together they stay inside the vendor's limit.
_ACQUIRE_LUA = """
local n = #KEYS
for i = 1, n do
  local used = tonumber(redis.call('GET', KEYS[i]) or '0')
  if used >= tonumber(ARGV[i]) then return i end
end
for i = 1, n do
  redis.call('INCR', KEYS[i])
  redis.call('EXPIRE', KEYS[i], ARGV[n + i])
end
return 0
"""
# Raise a window's count to what the vendor says was used (never lower it).
_OBSERVE_LUA = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > used then redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2]) end
return 0
"""


class RedisWindowLimiter:
    """`WindowLimiter` shared by every process through Redis (same interface, same fixed windows).

    If Redis fails mid-run the limiter falls back to counting in-process (logged once) so a
    run never stalls on its limiter; it tries Redis again on the next call.
    """

    def __init__(self, vendor: str, limits, client, *, namespace: str = "leadsprint",
                 window_seconds=None, clock=time.time, sleep=time.sleep, logger=None):
        import logging

        self.vendor, self.limits, self.client, self.namespace = vendor, limits, client, namespace
        self.window_seconds = dict(window_seconds or WINDOW_SECONDS)
        self.clock, self.sleep = clock, sleep
        self.log = logger or logging.getLogger("lead_sprint.rate_limit")
        self.local = WindowLimiter(limits=limits, window_seconds=self.window_seconds, clock=clock, sleep=sleep)
        self.fallbacks = 0
        self._acquire = client.register_script(_ACQUIRE_LUA)
        self._observe = client.register_script(_OBSERVE_LUA)

    def _windows(self, cls: str, now: float) -> list[tuple[str, int, float, float]]:
        out = []
        for name, limit in (self.limits.get(cls) or {}).items():
            if not limit:
                continue
            seconds = float(self.window_seconds[name])
            start = math.floor(now / seconds) * seconds
            key = f"{self.namespace}:rl:{self.vendor}:{cls}:{name}:{int(start)}"
            out.append((key, int(limit), start, seconds))
            if start + seconds - now < edge_seconds(seconds):  # see edge_seconds
                out.append((f"{self.namespace}:rl:{self.vendor}:{cls}:{name}:{int(start + seconds)}",
                            int(limit), start + seconds, seconds))
        return out

    def acquire(self, cls: str, max_wait: float = 90.0) -> float:
        import redis

        waited = 0.0
        while True:
            now = self.clock()
            windows = self._windows(cls, now)
            if not windows:
                return waited
            try:
                full = self._acquire(keys=[w[0] for w in windows],
                                     args=[w[1] for w in windows] + [int(w[3]) + 5 for w in windows])
            except redis.RedisError as exc:
                self.fallbacks += 1
                if self.fallbacks == 1:
                    self.log.warning("%s rate limiter: Redis unavailable (%s); counting in-process", self.vendor, exc)
                return waited + self.local.acquire(cls, max_wait=max_wait - waited)
            if not full:
                return waited
            _, _, start, seconds = windows[int(full) - 1]
            # a full next window (edge calls) opens when the current one ends: look again then
            wait = start + seconds - now if start <= now else start - now
            if waited + wait > max_wait:
                raise TimeoutError(wait)
            self.sleep(wait)
            waited += wait

    def observe(self, cls: str, remaining) -> None:
        import redis

        now = self.clock()
        by_name = {w[0].split(":")[-2]: w for w in self._windows(cls, now) if w[2] <= now}
        for name, left in remaining.items():
            window = by_name.get(name)
            if window is None:
                continue
            key, limit, _, seconds = window
            try:
                self._observe(keys=[key], args=[max(limit - int(left), 0), int(seconds) + 5])
            except redis.RedisError:
                self.local.observe(cls, {name: left})

    def seconds_until_reset(self, cls: str) -> float:
        return self.local.seconds_until_reset(cls)


def make_limiter(vendor: str, limits, *, window_seconds=None, redis_url: str | None = None, **kwargs):
    """The limiter for a vendor: shared through Redis when `redis_url` (default: REDIS_URL) answers,
    else through a locked file every process on this host shares (`file_counters.py`). None when
    the vendor has no configured limits."""
    import os

    if not limits:
        return None
    url = redis_url if redis_url is not None else os.environ.get("REDIS_URL")
    if url:
        import redis

        try:
            client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
            client.ping()
            return RedisWindowLimiter(vendor, limits, client, window_seconds=window_seconds, **kwargs)
        except redis.RedisError:
            pass  # the host's shared file still keeps every process here inside the limits
    from lead_assets.clients.file_counters import FileCounters
    from lead_assets.config.settings import STATE_DIR

    counters = FileCounters(Path(os.environ.get("LEAD_SPRINT_STATE_DIR") or STATE_DIR) / "rate_limits" / f"{vendor}.json")
    return RedisWindowLimiter(vendor, limits, counters, window_seconds=window_seconds, **kwargs)
