"""Rate-window counters shared by every process on one host through a locked file, for when there is no Redis.

The default setup (SQLite, no Redis) still runs partitions in parallel processes (the daemon
launches a process per run): an in-process count each would let N runs send N times a vendor's
limit. `FileCounters` stands in for the Redis client of `RedisWindowLimiter`: the same two
check-and-take / raise-to operations, done in Python under an exclusive `flock` on one file per
vendor, so the windows are counted exactly as Redis counts them, across processes.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import redis


class FileCounters:
    """Counters with expiry in a JSON file, changed only under an exclusive lock."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def register_script(self, source: str) -> Callable[..., int]:
        """The Python twin of one of `rate_limit`'s Lua scripts (the only two it uses)."""
        from lead_assets.clients import rate_limit

        scripts = {rate_limit._ACQUIRE_LUA: self._acquire, rate_limit._OBSERVE_LUA: self._observe}
        if source not in scripts:
            raise ValueError("FileCounters runs only the rate limiter's own scripts")
        return scripts[source]

    def _locked(self, change: Callable[[dict], int]) -> int:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            with os.fdopen(fd, "r+") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX)
                raw = fh.read()
                now = time.time()
                counts = {k: v for k, v in (json.loads(raw) if raw.strip() else {}).items() if v[1] > now}
                result = change(counts)
                fh.seek(0)
                fh.truncate()
                fh.write(json.dumps(counts))
                return result
        except (OSError, ValueError) as exc:  # the limiter falls back to counting in-process, and says so
            raise redis.exceptions.ConnectionError(f"rate-limit file {self.path}: {exc}") from exc

    def _acquire(self, keys: Sequence[str], args: Sequence) -> int:
        """0 after taking one call from every window; else the 1-based index of the first full one."""
        n = len(keys)

        def change(counts: dict) -> int:
            for i, key in enumerate(keys):
                if counts.get(key, (0, 0))[0] >= int(args[i]):
                    return i + 1
            for i, key in enumerate(keys):
                used = counts.get(key, (0, 0))[0]
                counts[key] = (used + 1, time.time() + int(args[n + i]))
            return 0

        return self._locked(change)

    def _observe(self, keys: Sequence[str], args: Sequence) -> int:
        """Raise a window's count to what the vendor says was used (never lower it)."""
        def change(counts: dict) -> int:
            used = counts.get(keys[0], (0, 0))[0]
            if int(args[0]) > used:
                counts[keys[0]] = (int(args[0]), time.time() + int(args[1]))
            return 0

        return self._locked(change)
