"""Fault injection: what goes wrong between a client and a vendor, on demand and reproducibly.

Configuration lives under ``faults`` in the sandbox config: a ``"*"`` entry applies to every vendor
and a vendor's own entry overrides it key by key. Each request draws one number from a seeded RNG
(one per vendor) and at most one fault fires; ``fail_next`` forces the next N requests to fail in a
chosen way, for tests that must not depend on chance.

Fault kinds:

* ``"500"``, ``"502"``, ``"503"``: the request fails before the vendor sees it (no side effects);
* ``"429"``: a spurious rate-limit answer although the plan limits are not reached;
* ``"malformed"``: HTTP 200 with a truncated JSON body. By default the vendor *did* handle the
  request (``malformed_runs_handler``), so its side effects happened, credits included, and a
  client that simply retries pays twice;
* ``"slow"``: the response is delayed by ``slow_ms`` and otherwise normal.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

FAULT_KINDS: tuple[str, ...] = ("500", "502", "503", "429", "malformed", "slow")

FAULT_DEFAULTS: dict = {
    "rate_500": 0.0,
    "rate_502": 0.0,
    "rate_503": 0.0,
    "rate_429": 0.0,
    "rate_malformed": 0.0,
    "rate_slow": 0.0,
    "slow_ms": 2000,
    "fail_next": 0,  # force the next N matching requests to fail ...
    "fail_next_kind": "503",  # ... in this way (one of FAULT_KINDS)
    "paths": [],  # only requests whose path contains one of these substrings (empty = all)
    "malformed_runs_handler": True,
}


@dataclass(frozen=True)
class FaultPlan:
    """What to do to one request: an optional fault kind and a delay."""

    kind: str | None = None
    delay_ms: float = 0.0
    runs_handler: bool = True  # for "malformed": was the vendor's handler run first?


def fault_spec(faults_config: Mapping, vendor: str) -> dict:
    """The effective fault settings of ``vendor``: defaults, then ``"*"``, then the vendor's entry."""
    return {**FAULT_DEFAULTS, **faults_config.get("*", {}), **faults_config.get(vendor, {})}


class FaultInjector:
    """Seeded per-vendor decisions plus the ``fail_next`` counters (thread-safe)."""

    def __init__(self, seed: int):
        self._seed = seed
        self._lock = threading.Lock()
        self._rngs: dict[str, random.Random] = {}
        self._fail_next: dict[str, tuple[int, str]] = {}  # vendor or "*" -> (remaining, kind)
        self.injected: dict[str, Counter] = {}

    def set_fail_next(self, scope: str, count: int, kind: str) -> None:
        """Make the next ``count`` requests of ``scope`` (a vendor or ``"*"``) fail with ``kind``."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"fail_next_kind must be one of {FAULT_KINDS}, not {kind!r}")
        with self._lock:
            self._fail_next[scope] = (max(0, int(count)), kind)

    def remaining(self, scope: str) -> int:
        """How many forced failures are left for ``scope``."""
        with self._lock:
            return self._fail_next.get(scope, (0, ""))[0]

    def plan(self, vendor: str, path: str, faults_config: Mapping) -> FaultPlan:
        """Decide the fault for one request of ``vendor`` to ``path``."""
        spec = fault_spec(faults_config, vendor)
        paths = spec.get("paths") or []
        if paths and not any(p in path for p in paths):
            return FaultPlan()
        with self._lock:
            kind = None
            for scope in (vendor, "*"):
                remaining, forced = self._fail_next.get(scope, (0, ""))
                if remaining > 0:
                    self._fail_next[scope] = (remaining - 1, forced)
                    kind = forced
                    break
            if kind is None:
                rng = self._rngs.setdefault(vendor, random.Random(f"faults:{self._seed}:{vendor}"))
                roll = rng.random()
                edge = 0.0
                for name in FAULT_KINDS:
                    edge += float(spec.get(f"rate_{name}", 0.0) or 0.0)
                    if roll < edge:
                        kind = name
                        break
            if kind is not None:
                self.injected.setdefault(vendor, Counter())[kind] += 1
        delay = float(spec.get("slow_ms", 0)) if kind == "slow" else 0.0
        return FaultPlan(kind, delay, bool(spec.get("malformed_runs_handler", True)))

    def reset(self) -> None:
        """Re-seed the RNGs, clear forced failures and counts."""
        with self._lock:
            self._rngs.clear()
            self._fail_next.clear()
            self.injected.clear()


def truncate_json(body: bytes) -> bytes:
    """Cut a JSON body so it no longer parses (as a dropped connection or a proxy would)."""
    if len(body) <= 2:
        return b'{"'
    return body[: max(1, len(body) // 2)]
