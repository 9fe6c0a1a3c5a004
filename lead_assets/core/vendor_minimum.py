"""The least wall time the vendors' rate windows allow for a workload (plain Python, no I/O).

A vendor's fixed windows (e.g. Hunter's finder: 15 a second and 500 a minute, windows starting
on the clock) cap how fast calls can go, whatever the engine does. For ``n`` calls of one
endpoint class the earliest the last one can start is found by filling each window to its
allowance from the moment the sprint starts: greedy filling is optimal for aligned fixed
windows. Endpoint classes have separate windows and run in parallel, so a workload's minimum
is its slowest class. The figure is a lower bound a run is measured against (wall time /
minimum); it ignores response latency and the order the pipeline imposes between classes
(enrichment follows collection), which a real run cannot.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

# Window names as the configs spell them -> seconds.
WINDOW_SECONDS: dict[str, float] = {
    "second": 1.0,
    "ten_secondly": 10.0,
    "minute": 60.0,
    "hour": 3600.0,
    "day": 86400.0,
}


def windows_from_config(limits: Mapping[str, int | None], seconds: Mapping[str, float] | None = None
                        ) -> list[tuple[int, float]]:
    """``{"second": 15, "minute": 500}`` -> ``[(15, 1.0), (500, 60.0)]`` (unlimited windows dropped).

    ValueError on a window name without a known length.
    """
    lengths = {**WINDOW_SECONDS, **(seconds or {})}
    out = []
    for name, limit in limits.items():
        if limit is None:
            continue
        if name not in lengths:
            raise ValueError(f"unknown rate window {name!r}: one of {', '.join(sorted(lengths))}")
        if int(limit) < 1:
            raise ValueError(f"window {name!r} allows {limit} calls: nothing could ever be sent")
        out.append((int(limit), float(lengths[name])))
    return out


def class_minimum_seconds(calls: int, windows: list[tuple[int, float]]) -> float:
    """Earliest start of the last of ``calls`` calls under fixed windows ``[(allowance, seconds)]``.

    Windows start at 0 and repeat. 0 for no calls or no windows (nothing limits them).
    """
    if calls <= 0 or not windows:
        return 0.0
    used = [0] * len(windows)
    start = [0.0] * len(windows)  # start of each window's current period
    t, left = 0.0, calls
    while True:
        for i, (_, length) in enumerate(windows):
            period = math.floor(t / length + 1e-9) * length
            if period != start[i]:
                start[i], used[i] = period, 0
        room = min(limit - used[i] for i, (limit, _) in enumerate(windows))
        if room > 0:
            take = min(room, left)
            used = [u + take for u in used]
            left -= take
            if left == 0:
                return t
        # No room means some window is full: jump to the earliest end of a full window's period.
        t = min(start[i] + length for i, (limit, length) in enumerate(windows) if used[i] >= limit)


def minimum_seconds(calls: Mapping[str, int], windows: Mapping[str, list[tuple[int, float]]]) -> float:
    """The workload's vendor-imposed minimum: its slowest endpoint class (classes run in parallel).

    ``calls`` maps an endpoint class (e.g. ``"hunter.search"``) to its number of calls;
    ``windows`` maps the same names to their windows. KeyError for a class with calls but no
    windows entry, so a forgotten limit does not silently count as unlimited.
    """
    return max((class_minimum_seconds(n, windows[name]) for name, n in calls.items() if n > 0), default=0.0)


def minimum_by_class(calls: Mapping[str, int], windows: Mapping[str, list[tuple[int, float]]]) -> dict[str, float]:
    """Each endpoint class's own minimum (seconds), to show which one binds."""
    return {name: class_minimum_seconds(n, windows[name]) for name, n in calls.items()}


def windows_by_class(*configs: Mapping[str, Mapping[str, Mapping[str, int | None]]]
                     ) -> dict[str, list[tuple[int, float]]]:
    """``vendor -> endpoint class -> {window: limit}`` maps (as the configs hold them) flattened to
    ``"vendor.class" -> [(allowance, seconds)]``; a later config's entry replaces an earlier one.

    E.g. ``windows_by_class(sprint.rate_limits, {n: p.rate_limits for n, p in enrichment.providers.items()},
    {"hubspot": {"api": {"ten_secondly": 100}}})``.
    """
    out: dict[str, list[tuple[int, float]]] = {}
    for config in configs:
        for vendor, classes in config.items():
            for cls, limits in classes.items():
                out[f"{vendor}.{cls}"] = windows_from_config(limits)
    return out
