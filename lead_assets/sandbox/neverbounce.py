"""NeverBounce v4 emulator: the single check, with NeverBounce's errors-as-HTTP-200 envelope.

Contract (vendor-apis.md §5 and §10):

* ``GET /v4/single/check`` (also ``/v4.2/...``) with query parameters ``key``, ``email``,
  ``address_info``, ``credits_info``, ``timeout``, as the v4.2 reference and the official SDKs send
  it (vendor-apis.md Corrections 3); ``credits_info=1`` / ``address_info=1`` add those blocks. Any
  other verb (e.g. the old POST with a JSON body) is refused with HTTP 405 and ``general_failure``,
  nothing charged (the exact answer NeverBounce gives a POST is UNCONFIRMED; it is never a check).
  ``{"status": "success", "result": valid | invalid | disposable | catchall | unknown, "flags",
  "suggested_correction", "execution_time"}``; 1 credit per answered check.
* Application errors are **HTTP 200** with ``status``: ``auth_failure`` (bad key),
  ``general_failure`` (missing parameter), ``throttle_triggered`` (the key's window is full),
  ``temp_unavail`` (injected ``503`` faults: a partial outage). Always read ``status`` first.
* The rate window is configurable (``limits.neverbounce.single``); NeverBounce publishes no number
  for the single check (UNCONFIRMED), so the default is generous.

Results agree with the Hunter emulator's mailbox truth (:meth:`World.mailbox_status`).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

from .hunter import world_of
from .server import Request, Response, SandboxContext, VendorApp

CHECK_PATHS = frozenset({"/v4/single/check", "/v4.2/single/check"})
DEFAULT_LIMITS = {"single": {"second": 20, "minute": 600}}
DEFAULT_KEYS = {"valid": ["secret_sandbox-neverbounce-key"]}
CREDITS_PER_CHECK = 1
STARTING_CREDITS = 1_000_000  # shown in credits_info as paid credits remaining before use

# Hunter's mailbox statuses -> NeverBounce's result and flags.
RESULTS = {
    "valid": "valid",
    "webmail": "valid",
    "invalid": "invalid",
    "accept_all": "catchall",
    "unknown": "unknown",
    "disposable": "disposable",
}
FLAGS = {
    "valid": ["has_dns", "has_dns_mx", "smtp_connectable"],
    "webmail": ["has_dns", "has_dns_mx", "smtp_connectable", "free_email_host"],
    "invalid": ["has_dns", "has_dns_mx"],
    "accept_all": ["has_dns", "has_dns_mx", "smtp_connectable", "accepts_all"],
    "unknown": ["has_dns", "has_dns_mx"],
    "disposable": ["has_dns", "has_dns_mx", "disposable_email"],
}


def _envelope(status: str, started: float, **fields: Any) -> Response:
    elapsed = max(1, int((time.monotonic() - started) * 1000))
    return Response.json(200, {"status": status, **fields, "execution_time": elapsed})


def request_params(req: Request) -> dict[str, str]:
    """The query parameters, as single strings (the single check reads nothing else)."""
    return {k: v[0] for k, v in req.query.items() if v}


def _flag(params: dict[str, str], name: str) -> bool:
    return params.get(name, "").strip().lower() in ("1", "true", "yes")


class NeverBounceApp(VendorApp):
    """The NeverBounce emulator."""

    name = "neverbounce"
    prefixes = ("/v4/", "/v4.2/")

    def __init__(self, ctx: SandboxContext):
        super().__init__(ctx)
        self.world = world_of(ctx.population)
        self._lock = threading.Lock()
        self.reset()

    def endpoint_of(self, path: str) -> str:
        """Stats label: ``single/check``."""
        return path.strip("/").split("/", 1)[-1]

    def reset(self) -> None:
        """Clear credits, purchases and counters."""
        with self._lock:
            self.credits_consumed = 0
            self.credits_by_key: Counter = Counter()
            self.purchases: Counter = Counter()
            self.results: Counter = Counter()
            self.throttled = 0

    def stats(self) -> dict:
        """Credits (total and per key), checks per address, re-buys, results, throttles."""
        with self._lock:
            return {
                "credits_consumed": self.credits_consumed,
                "credits_by_key": dict(self.credits_by_key),
                "purchases": dict(self.purchases),
                "rebought": {k: n for k, n in self.purchases.items() if n > 1},
                "results": dict(self.results),
                "throttled": self.throttled,
            }

    def fault_response(self, kind: str, req: Request) -> Response:
        """Rate-limit and outage faults arrive the NeverBounce way: HTTP 200 with a status."""
        if kind == "429":
            return _envelope("throttle_triggered", time.monotonic(), message="Too many requests; slow down.")
        if kind == "503":
            return _envelope(
                "temp_unavail", time.monotonic(), message="The service is temporarily unavailable; retry later."
            )
        return super().fault_response(kind, req)

    def handle(self, req: Request) -> Response:
        """Authenticate, rate-limit, then check one address."""
        started = time.monotonic()
        if "/" + req.path.strip("/") not in CHECK_PATHS:
            return Response.json(404, {"status": "general_failure", "message": "Unknown endpoint"})
        if req.method != "GET":
            return Response.json(
                405,
                {"status": "general_failure", "execution_time": 1,
                 "message": f"{req.method} is not supported: single/check takes GET with query parameters"},
                {"Allow": "GET"},
            )
        params = request_params(req)
        key = params.get("key", "").strip()
        if not key:
            return _envelope("general_failure", started, message="Missing required parameter 'key'")
        if key not in set(self.ctx.config["keys"].get("neverbounce", {}).get("valid") or []):
            return _envelope("auth_failure", started, message=f"Invalid API key '{key[:12]}'")
        limits = self.ctx.config["limits"].get("neverbounce", {}).get("single", {}) or {}
        windows = {"second": 1, **self.ctx.config["windows"]}
        if not self.ctx.limiter.acquire("neverbounce", key, "single", limits, windows).allowed:
            with self._lock:
                self.throttled += 1
            return _envelope("throttle_triggered", started, message="Too many requests in a short amount of time")
        email = params.get("email", "").strip()
        if not email:
            return _envelope("general_failure", started, message="Missing required parameter 'email'")
        truth = self.world.mailbox_status(email)
        result = RESULTS[truth]
        with self._lock:
            self.credits_consumed += CREDITS_PER_CHECK
            self.credits_by_key[key] += CREDITS_PER_CHECK
            self.purchases[email.lower()] += 1
            self.results[result] += 1
            used = self.credits_by_key[key]
        body: dict[str, Any] = {"result": result, "flags": FLAGS[truth], "suggested_correction": ""}
        if _flag(params, "address_info"):
            local, _, host = email.partition("@")
            body["address_info"] = {
                "original_email": email,
                "normalized_email": email.lower(),
                "addr": local.lower(),
                "alias": "",
                "host": host.lower(),
                "fqdn": host.lower(),
                "domain": host.lower().rsplit(".", 1)[0],
                "subdomain": "",
                "tld": host.lower().rsplit(".", 1)[-1],
            }
        if _flag(params, "credits_info"):
            body["credits_info"] = {
                "paid_credits_used": CREDITS_PER_CHECK,
                "free_credits_used": 0,
                "paid_credits_remaining": max(0, STARTING_CREDITS - used),
                "free_credits_remaining": 0,
            }
        return _envelope("success", started, **body)


def create_app(ctx: SandboxContext) -> NeverBounceApp:
    """Entry point the server's vendor registry calls."""
    return NeverBounceApp(ctx)
