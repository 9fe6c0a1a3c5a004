"""Client-side fixed-window rate limiting per vendor, endpoint class and API key.

The limiter stops us before the vendor has to (no 429 storms): it counts our own calls
in each window the vendor defines and, where the vendor reports what is left
(`x-minute-requests-left` and friends), trusts the vendor's count over ours.

A budget belongs to a credential, as the vendor counts it: the bucket is (vendor, endpoint
class, window, a short SHA-256 of the API key), never the sprint, so two keys of one vendor
are two budgets and one key shared by two sprints is one. The raw key never reaches Redis.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lead_assets.clients.file_counters import FileCounters
from lead_assets.store.redis_client import REDIS_ERRORS, error_text, hash_tag, is_crossslot, redis_client

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

    Keys: `{rl:<vendor>:<class>:<credential id>}:<window>:<window start>`, one hash tag per
    bucket, so the check-and-take script touches one cluster slot. `client` is a Redis client,
    `FileCounters`, or None with `connect` (tried now and after each `retry_interval`). If it
    fails the limiter counts on `fallback` (`make_limiter`: the host's file; default: the
    process's in-process bucket of the same key), logs a WARNING once per outage, counts it in
    `fallbacks` and tries the shared store again after `retry_interval` seconds.
    """

    def __init__(self, vendor: str, limits, client, *, credential: str | None = None, namespace: str = "rl",
                 window_seconds=None, clock=time.time, sleep=time.sleep, logger=None,
                 retry_interval: float = 5.0, connect: Callable[[], object] | None = None, fallback=None):
        self.vendor, self.limits, self.namespace = vendor, limits, namespace
        self.credential_id = credential_id(credential)
        self.window_seconds = dict(window_seconds or WINDOW_SECONDS)
        self.clock, self.sleep = clock, sleep
        self.log = logger or logging.getLogger("lead_sprint.rate_limit")
        self.retry_interval = retry_interval
        custom_clock = clock is not time.time or sleep is not time.sleep
        if fallback is None:
            fallback = (WindowLimiter(limits=limits, window_seconds=self.window_seconds, clock=clock, sleep=sleep)
                        if custom_clock else local_limiter(vendor, self.credential_id, limits, self.window_seconds))
        self.local = fallback  # what counts while the shared store does not answer
        self.fallbacks = 0  # outages (transitions to counting on `fallback`)
        self.local_acquires = 0  # calls counted on `fallback` while the shared store was unavailable
        self.crossslot_errors = 0
        self._connect = connect
        self._next_attempt = 0.0
        self._degraded = False
        self._state_lock = threading.Lock()  # one WARNING and one count per outage across threads
        self.client = None
        self._acquire = self._observe = None
        if client is not None:
            self._use(client)

    @property
    def mode(self) -> str:
        """Where calls are counted now: 'redis', 'file' (the host's shared file) or 'local' (this process)."""
        if self._degraded or self.client is None:
            return getattr(self.local, "mode", "local")
        return "file" if isinstance(self.client, FileCounters) else "redis"

    def bucket_tag(self, cls: str) -> str:
        """The hash tag of one (vendor, class, credential) budget; every window key of it starts so."""
        return hash_tag(f"{self.namespace}:{self.vendor}:{cls}:{self.credential_id}")

    def _use(self, client) -> None:
        self.client = client
        self._acquire = client.register_script(_ACQUIRE_LUA)
        self._observe = client.register_script(_OBSERVE_LUA)

    def _redis_ready(self) -> bool:
        if self.client is not None and not self._degraded:
            return True
        if self.clock() < self._next_attempt:
            return False
        if self.client is None:
            if self._connect is None:
                return False
            try:
                self._use(self._connect())
            except REDIS_ERRORS as exc:
                self._failed(exc)
                return False
        return True

    def _failed(self, exc: BaseException) -> None:
        if is_crossslot(exc):
            self.crossslot_errors += 1
            self.log.error("%s rate limiter: CROSSSLOT from Redis Cluster (bucket %s): %s; this is a bug, "
                           "please report it", self.vendor, self.bucket_tag("*"), error_text(exc))
        with self._state_lock:
            self._next_attempt = self.clock() + self.retry_interval
            transition = not self._degraded
            self._degraded = True
            if transition:
                self.fallbacks += 1
        if transition:
            store = "rate-limit file" if isinstance(self.client, FileCounters) else "Redis"
            where = "in the host's file" if getattr(self.local, "mode", "local") == "file" else "in-process"
            self.log.warning("%s rate limiter: %s unavailable (%s); counting %s, retrying in %.0f s",
                             self.vendor, store, error_text(exc), where, self.retry_interval)

    def _windows(self, cls: str, now: float) -> list[tuple[str, int, float, float]]:
        tag = self.bucket_tag(cls)
        out = []
        for name, limit in (self.limits.get(cls) or {}).items():
            if not limit:
                continue
            seconds = float(self.window_seconds[name])
            start = math.floor(now / seconds) * seconds
            out.append((f"{tag}:{name}:{int(start)}", int(limit), start, seconds))
            if start + seconds - now < edge_seconds(seconds):  # see edge_seconds
                out.append((f"{tag}:{name}:{int(start + seconds)}", int(limit), start + seconds, seconds))
        return out

    def acquire(self, cls: str, max_wait: float = 90.0) -> float:
        waited = 0.0
        while True:
            now = self.clock()
            windows = self._windows(cls, now)
            if not windows:
                return waited
            if not self._redis_ready():
                self.local_acquires += 1
                return waited + self.local.acquire(cls, max_wait=max_wait - waited)
            try:
                full = self._acquire(keys=[w[0] for w in windows],
                                     args=[w[1] for w in windows] + [int(w[3]) + 5 for w in windows])
            except REDIS_ERRORS as exc:
                self._failed(exc)
                self.local_acquires += 1
                return waited + self.local.acquire(cls, max_wait=max_wait - waited)
            if self._degraded:
                with self._state_lock:
                    recovered, self._degraded = self._degraded, False
                if recovered:
                    self.log.warning("%s rate limiter: %s is back, counting there again", self.vendor,
                                     "the rate-limit file" if isinstance(self.client, FileCounters) else "Redis")
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
        now = self.clock()
        by_name = {w[0].split(":")[-2]: w for w in self._windows(cls, now) if w[2] <= now}
        for name, left in remaining.items():
            window = by_name.get(name)
            if window is None:
                continue
            key, limit, _, seconds = window
            if not self._redis_ready():
                self.local.observe(cls, {name: left})
                continue
            try:
                self._observe(keys=[key], args=[max(limit - int(left), 0), int(seconds) + 5])
            except REDIS_ERRORS as exc:
                self._failed(exc)
                self.local.observe(cls, {name: left})

    def seconds_until_reset(self, cls: str) -> float:
        return self.local.seconds_until_reset(cls)


def credential_id(credential: str | None) -> str:
    """A short SHA-256 of the credential that names its budget ('-' when there is none): never the key itself."""
    if not credential:
        return "-"
    return hashlib.sha256(credential.encode()).hexdigest()[:16]


# The process's in-process buckets, one per (vendor, credential, limits) while a client holds it:
# two clients of one key in one process share one budget, as they do through Redis.
_LOCAL_BUCKETS: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
_LOCAL_LOCK = threading.Lock()


def local_limiter(vendor: str, cred_id: str, limits, window_seconds=None) -> WindowLimiter:
    """The process's in-process `WindowLimiter` for one credential's budget at a vendor."""
    seconds = dict(window_seconds or WINDOW_SECONDS)
    key = (vendor, cred_id, _frozen(limits), _frozen(seconds))
    with _LOCAL_LOCK:
        limiter = _LOCAL_BUCKETS.get(key)
        if limiter is None:
            limiter = WindowLimiter(limits=limits, window_seconds=seconds)
            _LOCAL_BUCKETS[key] = limiter
        return limiter


def _frozen(mapping) -> tuple:
    return tuple(sorted((k, _frozen(v) if isinstance(v, Mapping) else v) for k, v in (mapping or {}).items()))


_CLIENTS: dict[str, object] = {}  # one Redis client (and connection pool) per URL per process


def make_limiter(vendor: str, limits, *, credential: str | None = None, window_seconds=None,
                 redis_url: str | None = None, **kwargs):
    """The limiter for one credential at a vendor: shared through Redis when `redis_url` (default:
    REDIS_URL; plain, cluster or sentinel) is set, else through a locked file every process on this
    host shares (`file_counters.py`), which is also where a Redis outage is counted meanwhile
    (reported, see `RedisWindowLimiter`). None when the vendor has no configured limits."""
    if not limits:
        return None
    from lead_assets.config.settings import STATE_DIR

    path = Path(os.environ.get("LEAD_SPRINT_STATE_DIR") or STATE_DIR) / "rate_limits" / f"{vendor}.json"
    on_host = RedisWindowLimiter(vendor, limits, FileCounters(path), credential=credential,
                                 window_seconds=window_seconds, **kwargs)
    url = redis_url if redis_url is not None else os.environ.get("REDIS_URL")
    if not url:
        return on_host

    def connect():
        if url not in _CLIENTS:
            client = redis_client(url)
            client.ping()
            _CLIENTS[url] = client
        return _CLIENTS[url]

    limiter = RedisWindowLimiter(vendor, limits, None, credential=credential, window_seconds=window_seconds,
                                 connect=connect, fallback=on_host, **kwargs)
    limiter._redis_ready()  # connect now, so a Redis down at start is reported at start
    return limiter
