"""HubSpot CRM v3 client: contact properties and batch upsert of contacts.

Contract: shared/vendor-apis.md section 7. Base URL and token come from configuration
(`HUBSPOT_BASE_URL`, `HUBSPOT_ACCESS_TOKEN`: a private app token sent as `Bearer`), so the
same code talks to HubSpot, the sandbox, or any compatible endpoint.

HubSpot's burst limit is a *rolling* 10-second window (plus a daily one), so this client
keeps its own rolling limiter instead of the shared fixed-window one: a fixed window lets
a full window's worth of calls land just before a boundary and another just after, which
a rolling window answers with 429s. The limiter learns the real allowance and what is
left from the `X-HubSpot-RateLimit-*` headers of every answer.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from lead_assets.clients.errors import VendorCallFailed, VendorRequestError
from lead_assets.clients.http import VendorHttp, VendorResponse

PROPERTIES_PATH = "/crm/v3/properties/contacts"
BATCH_UPSERT_PATH = "/crm/v3/objects/contacts/batch/upsert"
BATCH_MAX = 100
API_CLASS = "api"


class RollingWindowLimiter:
    """A rolling burst window plus a daily window, duck-typed to `WindowLimiter` for `VendorHttp`.

    `margin` is added to the window length: our clock starts when we send, HubSpot's when the
    request arrives, so without it a slot we think free can still be taken on HubSpot's side.
    """

    def __init__(
        self,
        limit: int = 100,
        seconds: float = 10.0,
        daily_limit: int | None = None,
        *,
        margin: float = 0.2,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.limit = int(limit)
        self.seconds = float(seconds)
        self.daily_limit = daily_limit
        self.margin = margin
        self.clock = clock
        self.sleep = sleep
        self._log: deque[float] = deque()
        self._day: tuple[str, int] = ("", 0)  # (UTC date, calls counted that day)
        self._lock = threading.Lock()
        self.waited = 0.0  # seconds spent waiting for the window, for reports

    def _prune(self, now: float) -> None:
        horizon = now - self.seconds - self.margin
        while self._log and self._log[0] <= horizon:
            self._log.popleft()

    def _day_used(self, now: float) -> int:
        today = datetime.fromtimestamp(now, UTC).date().isoformat()
        if self._day[0] != today:
            self._day = (today, 0)
        return self._day[1]

    def _wait(self, now: float) -> float:
        if self.daily_limit is not None and self._day_used(now) >= self.daily_limit:
            midnight = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
            return (midnight + timedelta(days=1)).timestamp() - now
        self._prune(now)
        if len(self._log) < self.limit:
            return 0.0
        # The call that frees our slot is the one `limit` places from the newest.
        return max(0.0, self._log[len(self._log) - self.limit] + self.seconds + self.margin - now)

    def acquire(self, cls: str, max_wait: float = 90.0) -> float:
        """Take a slot in both windows; raise `TimeoutError(wait)` when the wait exceeds `max_wait`."""
        waited = 0.0
        while True:
            with self._lock:
                now = self.clock()
                wait = self._wait(now)
                if wait <= 0:
                    self._log.append(now)
                    self._day = (self._day[0], self._day_used(now) + 1)
                    self.waited += waited
                    return waited
            if waited + wait > max_wait:
                raise TimeoutError(wait)
            self.sleep(wait)
            waited += wait

    def observe(self, cls: str, remaining: Mapping[str, int]) -> None:
        """`VendorHttp` hook; HubSpot's headers are read by `observe_headers` instead."""

    def observe_headers(self, headers: Mapping[str, str]) -> dict[str, int]:
        """Adopt HubSpot's view of both windows (allowance, length, what is left)."""
        values = {k.lower(): v for k, v in headers.items() if k.lower().startswith("x-hubspot-ratelimit")}

        def number(name: str) -> int | None:
            raw = values.get(f"x-hubspot-ratelimit-{name}")
            return int(raw) if raw is not None and str(raw).strip().isdigit() else None

        with self._lock:
            now = self.clock()
            if number("max"):
                self.limit = number("max") or self.limit
            if number("interval-milliseconds"):
                self.seconds = (number("interval-milliseconds") or 0) / 1000.0
            left = number("remaining")
            if left is not None:
                self._prune(now)
                used = self.limit - left
                # Someone else shares the app's allowance: count their calls as made just now.
                for _ in range(max(0, used - len(self._log))):
                    self._log.append(now)
            if number("daily"):
                self.daily_limit = number("daily")
            daily_left = number("daily-remaining")
            if daily_left is not None and self.daily_limit is not None:
                used_today = self._day_used(now)
                self._day = (self._day[0], max(used_today, self.daily_limit - daily_left))
        return {}

    def daily_exhausted(self) -> bool:
        """True when the daily allowance is spent: waiting inside a run cannot help."""
        with self._lock:
            return self.daily_limit is not None and self._day_used(self.clock()) >= self.daily_limit

    def seconds_until_reset(self, cls: str) -> float:
        """Seconds until the rolling window has a free slot (used when a 429 has no Retry-After)."""
        with self._lock:
            now = self.clock()
            self._prune(now)
            if len(self._log) < self.limit:
                return 0.0
            return max(0.0, self._log[len(self._log) - self.limit] + self.seconds + self.margin - now)


@dataclass
class RecordError:
    """One input HubSpot refused inside a 207: which inputs (trace ids), why."""

    trace_ids: list[str]
    category: str
    message: str
    codes: list[str] = field(default_factory=list)


@dataclass
class BatchOutcome:
    """What one batch call did: per-input results (by trace id) and per-input errors."""

    status: int
    results: list[dict]
    errors: list[RecordError]
    response: VendorResponse


class HubSpotClient:
    """Plain `requests` client for the HubSpot endpoints the CRM export needs."""

    vendor = "hubspot"

    def __init__(
        self,
        base_url: str,
        access_token: str,
        *,
        ten_second_limit: int = 100,
        interval_seconds: float = 10.0,
        daily_limit: int | None = None,
        margin: float = 0.2,
        timeout: tuple[float, float] = (5.0, 30.0),
        max_attempts: int = 3,
        backoff_base: float = 0.5,
        max_wait: float = 90.0,
        logger: logging.Logger | None = None,
        sleep: Callable[[float], None] | None = None,
    ):
        self._sleep = sleep or time.sleep
        self.limiter = RollingWindowLimiter(
            ten_second_limit, interval_seconds, daily_limit, margin=margin, sleep=self._sleep
        )
        self.http = VendorHttp(
            self.vendor,
            base_url,
            headers={
                "Authorization": f"Bearer {access_token}",
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
            credential_setting="HUBSPOT_ACCESS_TOKEN",
            limiter=self.limiter,  # type: ignore[arg-type]  # duck-typed WindowLimiter
            timeout=timeout,
            max_attempts=max_attempts,
            backoff_base=backoff_base,
            max_wait=max_wait,
            logger=logger,
            sleep=self._retry_sleep,
        )

    def _retry_sleep(self, seconds: float) -> None:
        # After a DAILY 429 the next attempt fails fast in the limiter; sleeping first
        # (possibly a long Retry-After) would only delay the stop.
        if not self.limiter.daily_exhausted():
            self._sleep(seconds)

    def _request(self, method: str, path: str, body: Any = None) -> VendorResponse:
        return self.http.request(
            method,
            path,
            endpoint_class=API_CLASS,
            json_body=body,
            observe_headers=self.limiter.observe_headers,
        )

    def list_properties(self) -> list[dict]:
        """The portal's contact properties (`GET /crm/v3/properties/contacts`)."""
        resp = self._request("GET", PROPERTIES_PATH)
        results = resp.data.get("results") if isinstance(resp.data, dict) else None
        if not isinstance(results, list):
            raise VendorCallFailed(self.vendor, f"{PROPERTIES_PATH}: no results list in {resp.text[:200]!r}")
        return results

    def create_property(self, definition: Mapping[str, Any]) -> dict | None:
        """Create a contact property; None when one with that name already exists (409)."""
        try:
            resp = self._request("POST", PROPERTIES_PATH, dict(definition))
        except VendorRequestError as exc:
            if exc.status == 409:
                return None
            raise
        return resp.data if isinstance(resp.data, dict) else {}

    def batch_upsert(self, inputs: Sequence[Mapping[str, Any]]) -> BatchOutcome:
        """Upsert up to 100 contacts by their `idProperty`.

        200 and 207 return a `BatchOutcome`; a whole-batch refusal (400, 409) raises
        `VendorRequestError` with its status, for the caller to split the batch.
        """
        if not 1 <= len(inputs) <= BATCH_MAX:
            raise ValueError(f"batch upsert takes 1..{BATCH_MAX} inputs, got {len(inputs)}")
        resp = self._request("POST", BATCH_UPSERT_PATH, {"inputs": list(inputs)})
        data = resp.data if isinstance(resp.data, dict) else {}
        results = data.get("results")
        if not isinstance(results, list):
            raise VendorCallFailed(
                self.vendor, f"{BATCH_UPSERT_PATH}: no results list in {resp.text[:200]!r}"
            )
        errors = [_record_error(e) for e in data.get("errors") or [] if isinstance(e, dict)]
        return BatchOutcome(resp.status, results, errors, resp)

    def drain_calls(self):
        """The calls made since the last drain (for the `vendor_calls` table)."""
        return self.http.drain_calls()


def _record_error(error: Mapping[str, Any]) -> RecordError:
    context = error.get("context") if isinstance(error.get("context"), dict) else {}
    traces = context.get("objectWriteTraceId") or []
    if isinstance(traces, str):
        traces = [traces]
    codes = [str(e.get("code")) for e in error.get("errors") or [] if isinstance(e, dict) and e.get("code")]
    return RecordError(
        trace_ids=[str(t) for t in traces],
        category=str(error.get("category") or "UNKNOWN"),
        message=str(error.get("message") or ""),
        codes=codes,
    )
