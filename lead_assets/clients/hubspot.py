"""HubSpot CRM v3 client: contact properties, batch upsert, search and GDPR delete of contacts.

Contract: shared/vendor-apis.md section 7 and Corrections 6-8. Base URL and token come from
configuration (`HUBSPOT_BASE_URL`, `HUBSPOT_ACCESS_TOKEN`: a private app token sent as `Bearer`),
so the same code talks to HubSpot, the sandbox, or any compatible endpoint.

A 429's body says which limit was hit (`policyName`): `TEN_SECONDLY_ROLLING` and `SECONDLY` wait
(`Retry-After`, else the window) and go on; `DAILY` cannot be waited out inside a run, so the
call raises `DailyLimitReached` carrying when the portal's day ends (midnight in the account's
time zone, `HUBSPOT_ACCOUNT_TIME_ZONE`). A 403 `MISSING_SCOPES` raises `MissingScopes` naming the
scopes the token lacks.

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
from zoneinfo import ZoneInfo

import requests

from lead_assets.clients.errors import (
    RateLimitExhausted,
    VendorAuthError,
    VendorCallFailed,
    VendorRequestError,
)
from lead_assets.clients.http import VendorHttp, VendorResponse
from lead_assets.clients.retry import retry_after_seconds

PROPERTIES_PATH = "/crm/v3/properties/contacts"
BATCH_UPSERT_PATH = "/crm/v3/objects/contacts/batch/upsert"
SEARCH_PATH = "/crm/v3/objects/contacts/search"
GDPR_DELETE_PATH = "/crm/v3/objects/contacts/gdpr-delete"
BATCH_MAX = 100
API_CLASS = "api"
SEARCH_CLASS = "search"
# The scope each call needs (a private app's token carries the scopes ticked for the app).
SCOPES = {
    ("GET", PROPERTIES_PATH): "crm.schemas.contacts.read",
    ("POST", PROPERTIES_PATH): "crm.schemas.contacts.write",
    ("POST", BATCH_UPSERT_PATH): "crm.objects.contacts.write",
    ("POST", SEARCH_PATH): "crm.objects.contacts.read",
    ("POST", GDPR_DELETE_PATH): "crm.objects.contacts.write",
}


class MissingScopes(VendorAuthError):
    """403 `MISSING_SCOPES`: the token's app lacks a scope; names the scopes to add."""

    def __init__(self, vendor: str, message: str, *, scopes: list[str], status: int = 403):
        super().__init__(vendor, message, status=status)
        self.scopes = scopes


class DailyLimitReached(RateLimitExhausted):
    """429 `policyName: DAILY`: the account's daily allowance is spent until `resume_at` (UTC)."""

    def __init__(self, vendor: str, message: str, *, resume_at: datetime, time_zone: str):
        super().__init__(vendor, message, status=429)
        self.resume_at = resume_at
        self.time_zone = time_zone


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
        time_zone: str | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.limit = int(limit)
        self.seconds = float(seconds)
        self.daily_limit = daily_limit
        self.margin = margin
        # The daily limit resets at midnight in the account's time zone, not UTC.
        self.time_zone = time_zone or "UTC"
        self._zone = ZoneInfo(self.time_zone)
        self.clock = clock
        self.sleep = sleep
        self._log: deque[float] = deque()
        self._day: tuple[str, int] = ("", 0)  # (account-local date, calls counted that day)
        self._paused_until = 0.0  # a rolling/secondly 429 without Retry-After: wait for the window
        self._daily_spent_until = 0.0  # a DAILY 429: nothing until the account's next midnight
        self._lock = threading.Lock()
        self.waited = 0.0  # seconds spent waiting for the window, for reports

    def next_midnight(self, now: float) -> float:
        """The epoch second the account's day after `now` begins."""
        local = datetime.fromtimestamp(now, self._zone)
        tomorrow = (local + timedelta(days=1)).date()
        return datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=self._zone).timestamp()

    def _prune(self, now: float) -> None:
        horizon = now - self.seconds - self.margin
        while self._log and self._log[0] <= horizon:
            self._log.popleft()

    def _day_used(self, now: float) -> int:
        today = datetime.fromtimestamp(now, self._zone).date().isoformat()
        if self._day[0] != today:
            self._day = (today, 0)
        return self._day[1]

    def _wait(self, now: float) -> float:
        if now < self._daily_spent_until:
            return self._daily_spent_until - now
        if self.daily_limit is not None and self._day_used(now) >= self.daily_limit:
            return self.next_midnight(now) - now
        self._prune(now)
        paused = max(0.0, self._paused_until - now)
        if len(self._log) < self.limit:
            return paused
        # The call that frees our slot is the one `limit` places from the newest.
        return max(paused, self._log[len(self._log) - self.limit] + self.seconds + self.margin - now)

    def refused(self, policy: str, retry_after: float | None) -> None:
        """A 429 for `policy`: DAILY blocks until the account's midnight; the others pause the window."""
        with self._lock:
            now = self.clock()
            if policy == "DAILY":
                self._daily_spent_until = self.next_midnight(now)
            elif retry_after is None:
                pause = 1.0 if policy == "SECONDLY" else self.seconds + self.margin
                self._paused_until = max(self._paused_until, now + pause)

    def refused_daily(self) -> bool:
        """True while a DAILY 429 holds (as opposed to our own count of the daily headers)."""
        with self._lock:
            return self.clock() < self._daily_spent_until

    def daily_spent_until(self) -> float | None:
        """Epoch second the daily allowance comes back, when it is spent (else None)."""
        with self._lock:
            now = self.clock()
            if now < self._daily_spent_until:
                return self._daily_spent_until
            if self.daily_limit is not None and self._day_used(now) >= self.daily_limit:
                return self.next_midnight(now)
            return None

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
        return self.daily_spent_until() is not None

    def seconds_until_reset(self, cls: str) -> float:
        """Seconds until the rolling window has a free slot (used when a 429 has no Retry-After)."""
        with self._lock:
            now = self.clock()
            self._prune(now)
            paused = max(0.0, self._paused_until - now)
            if len(self._log) < self.limit:
                return paused
            return max(paused, self._log[len(self._log) - self.limit] + self.seconds + self.margin - now)


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
        account_time_zone: str | None = None,
        search_per_second: int = 4,
        timeout: tuple[float, float] = (5.0, 30.0),
        max_attempts: int = 3,
        backoff_base: float = 0.5,
        max_wait: float = 90.0,
        logger: logging.Logger | None = None,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self._sleep = sleep or time.sleep
        self.log = logger or logging.getLogger("lead_sprint.hubspot")
        self.limiter = RollingWindowLimiter(
            ten_second_limit, interval_seconds, daily_limit, margin=margin, time_zone=account_time_zone,
            clock=clock, sleep=self._sleep,
        )
        # Search has its own per-second limit (4-5 a second, vendor-apis.md 7.2) besides the app's burst.
        self.search_limiter = RollingWindowLimiter(
            search_per_second, 1.0, None, margin=margin, clock=clock, sleep=self._sleep
        )
        self._refusal: dict[str, Any] | None = None  # the last 403/429 body, read by `_request`
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
        self.http.session.hooks["response"].append(self._read_refusal)

    def _retry_sleep(self, seconds: float) -> None:
        # After a DAILY 429 the next attempt fails fast in the limiter; sleeping first
        # (possibly a long Retry-After) would only delay the stop.
        if not self.limiter.daily_exhausted():
            self._sleep(seconds)

    def _read_refusal(self, resp: requests.Response, *args, **kwargs) -> None:
        """Response hook: a 429 tells the limiter which limit was hit; a 403's body is kept for `_request`."""
        if resp.status_code not in (403, 429):
            return
        try:
            body = resp.json()
        except ValueError:
            body = None
        body = body if isinstance(body, dict) else {}
        self._refusal = body
        if resp.status_code == 429:
            policy = str(body.get("policyName") or "TEN_SECONDLY_ROLLING").upper()
            self.limiter.refused(policy, retry_after_seconds(resp.headers))
            self.log.warning("hubspot 429 %s: %s", policy, str(body.get("message") or "")[:120])

    def _request(self, method: str, path: str, body: Any = None, *, expect_json: bool = True) -> VendorResponse:
        self._refusal = None
        search = path == SEARCH_PATH
        if search:  # the search window first; the app's burst window is taken by `VendorHttp`
            try:
                self.search_limiter.acquire(SEARCH_CLASS, max_wait=self.http.max_wait)
            except TimeoutError as exc:
                raise RateLimitExhausted(self.vendor, f"{path}: search window full for {exc.args[0]:.0f}s") from None
        try:
            return self.http.request(
                method,
                path,
                endpoint_class=API_CLASS,
                json_body=body,
                expect_json=expect_json,
                observe_headers=self.limiter.observe_headers,
            )
        except VendorAuthError as exc:
            refusal = self._refusal or {}
            if exc.status == 403 and refusal.get("category") == "MISSING_SCOPES":
                raise self._missing_scopes(method, path, refusal) from None
            raise
        except VendorCallFailed as exc:
            spent_until = self.limiter.daily_spent_until()
            if spent_until is None:
                raise
            resume = datetime.fromtimestamp(spent_until, UTC)
            local = datetime.fromtimestamp(spent_until, ZoneInfo(self.limiter.time_zone))
            how = "429 policyName DAILY" if self.limiter.refused_daily() else "X-HubSpot-RateLimit-Daily-Remaining 0"
            raise DailyLimitReached(
                self.vendor,
                f"{path}: the account's DAILY API limit is spent ({how}); it resets at "
                f"midnight {self.limiter.time_zone} ({local:%Y-%m-%d %H:%M %Z} = {resume:%Y-%m-%d %H:%M} UTC). "
                "Set HUBSPOT_ACCOUNT_TIME_ZONE to the portal's time zone if that is wrong",
                resume_at=resume,
                time_zone=self.limiter.time_zone,
            ) from exc

    def _missing_scopes(self, method: str, path: str, body: Mapping[str, Any]) -> MissingScopes:
        scopes: list[str] = []
        for err in body.get("errors") or []:
            context = err.get("context") if isinstance(err, dict) else None
            for key in ("requiredGranularScopes", "requiredScopes"):
                values = context.get(key) if isinstance(context, dict) else None
                scopes += [str(v) for v in values or [] if str(v) not in scopes]
        if not scopes and (method, path) in SCOPES:
            scopes = [SCOPES[(method, path)]]
        return MissingScopes(
            self.vendor,
            f"{method} {path}: 403 MISSING_SCOPES: the private app behind HUBSPOT_ACCESS_TOKEN lacks "
            f"{' or '.join(scopes) or 'a required scope'}; add it under Settings > Integrations > Private apps "
            "> Scopes (the token stays the same)",
            scopes=scopes,
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

    def search_ids(self, property_name: str, value: str, limit: int = 10) -> list[str]:
        """Ids of the contacts whose `property_name` equals `value` (`POST .../contacts/search`, EQ)."""
        body = {
            "filterGroups": [{"filters": [{"propertyName": property_name, "operator": "EQ", "value": value}]}],
            "properties": [property_name],
            "limit": limit,
        }
        resp = self._request("POST", SEARCH_PATH, body)
        results = resp.data.get("results") if isinstance(resp.data, dict) else None
        if not isinstance(results, list):
            raise VendorCallFailed(self.vendor, f"{SEARCH_PATH}: no results list in {resp.text[:200]!r}")
        return [str(r["id"]) for r in results if isinstance(r, dict) and r.get("id") is not None]

    def gdpr_delete(self, object_id: str, id_property: str | None = None) -> None:
        """GDPR delete of one contact, by contact id or (`id_property="email"`) by email; 204.

        HubSpot answers 204 for an email it does not know too, and blocklists the address
        (vendor-apis.md Corrections 8): a 204 alone does not prove a contact was deleted.
        """
        body = {"objectId": object_id, **({"idProperty": id_property} if id_property else {})}
        self._request("POST", GDPR_DELETE_PATH, body, expect_json=False)

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
