"""One transport for every vendor: timeouts, rate windows, retries and a call log.

Retry budget (the brief's): at most `max_attempts` attempts per call. 429 and 5xx,
timeouts, connection errors and 200s with an unparsable body are retried with
exponential backoff and jitter, honouring `Retry-After`; 400/401/403/422 are not,
since the same request would fail the same way.
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests

from lead_assets.clients.errors import (
    RateLimitExhausted,
    UnreadablePaidResponse,
    VendorAuthError,
    VendorCallFailed,
    VendorRequestError,
)
from lead_assets.clients.rate_limit import WindowLimiter

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
SENSITIVE_PARAMS = ("api_key", "key", "token", "password", "secret")


@dataclass
class VendorResponse:
    """A vendor answer as received: status, raw body, parsed JSON (None if it was not JSON)."""

    status: int
    text: str
    data: Any
    headers: Mapping[str, str]
    attempts: int
    duration_ms: int


@dataclass
class CallRecord:
    """One logical call (all its attempts), for the `vendor_calls` table and the metrics."""

    vendor: str
    endpoint: str
    status_code: int | None
    attempts: int
    outcome: str  # ok | retried_ok | failed
    error: str | None
    duration_ms: int
    credits: float = 0.0
    called_at: float = field(default_factory=time.time)
    polls: int = 0  # of `attempts`: asking again for an answer the vendor said was coming (not retries)

    def as_row(self, partition_key: str | None, run_id: str | None) -> dict:
        """The `vendor_calls` row of this call."""
        return {"vendor": self.vendor, "endpoint": self.endpoint, "partition_key": partition_key, "run_id": run_id,
                "status_code": self.status_code, "attempts": self.attempts, "polls": self.polls,
                "outcome": self.outcome, "error": self.error, "credits": self.credits,
                "duration_ms": self.duration_ms, "called_at": datetime.fromtimestamp(self.called_at, UTC)}


_REDACTIONS = (
    re.compile(rf"(?<![A-Za-z0-9])((?:{'|'.join(SENSITIVE_PARAMS)})=)[^&\s'\"]+", re.IGNORECASE),
    re.compile(r"(\bauthorization['\"]?\s*[:=]\s*['\"]?(?:(?:bearer|basic|token)\s+)?)[^\s'\",}]+", re.IGNORECASE),
    re.compile(r"(\b(?:x-api-key|api-key|apikey)['\"]?\s*[:=]\s*['\"]?)[^\s'\",}]+", re.IGNORECASE),
    re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/\s@]+:)[^@\s/]+(?=@)", re.IGNORECASE),
)


def redact(text: str) -> str:
    """Remove secrets (query keys, Authorization / x-api-key headers, URL passwords) from a message."""
    for pattern in _REDACTIONS:
        text = pattern.sub(r"\1***", text)
    return text


class VendorHttp:
    """Shared HTTP machinery; a vendor client supplies auth headers and parses bodies."""

    def __init__(
        self,
        vendor: str,
        base_url: str,
        *,
        headers: Mapping[str, str],
        credential_setting: str,
        limiter: WindowLimiter | None = None,
        timeout: tuple[float, float] = (5.0, 30.0),
        max_attempts: int = 3,
        backoff_base: float = 0.5,
        max_wait: float = 90.0,
        sleep: Callable[[float], None] = time.sleep,
        logger: logging.Logger | None = None,
    ):
        self.vendor = vendor
        self.base_url = base_url.rstrip("/")
        self.credential_setting = credential_setting
        self.limiter = limiter
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.max_wait = max_wait
        self.sleep = sleep
        self.log = logger or logging.getLogger(f"lead_sprint.{vendor}")
        self.session = requests.Session()
        self.session.headers.update(headers)
        self.calls: list[CallRecord] = []

    def request(
        self,
        method: str,
        path: str,
        *,
        endpoint_class: str,
        json_body: Any = None,
        params: Mapping[str, Any] | None = None,
        expect_json: bool = True,
        observe_headers: Callable[[Mapping[str, str]], Mapping[str, int]] | None = None,
        paid: bool = False,
    ) -> VendorResponse:
        """Send one logical call with the retry budget; raise a `VendorError` when it cannot succeed.

        `paid=True`: a 200 whose body cannot be parsed is not retried (the vendor has
        charged for it already); it raises `UnreadablePaidResponse` with the body.
        """
        url = f"{self.base_url}{path}"
        started = time.monotonic()
        last_error = "no attempt made"
        last_status: int | None = None
        for attempt in range(1, self.max_attempts + 1):
            if self.limiter is not None:
                try:
                    self.limiter.acquire(endpoint_class, max_wait=self.max_wait)
                except TimeoutError as exc:
                    raise self._fail(
                        RateLimitExhausted,
                        path,
                        f"{endpoint_class} rate window full for {float(exc.args[0]):.0f}s more",
                        None,
                        attempt,
                        started,
                    ) from None
            retry_after: float | None = None
            try:
                resp = self.session.request(method, url, json=json_body, params=params, timeout=self.timeout)
            except (requests.Timeout, requests.ConnectionError) as exc:
                last_error, last_status = f"{type(exc).__name__}: {redact(str(exc))[:200]}", None
            else:
                last_status = resp.status_code
                if observe_headers is not None and self.limiter is not None:
                    self.limiter.observe(endpoint_class, observe_headers(resp.headers))
                if resp.status_code in (401, 403):
                    raise self._fail(
                        VendorAuthError,
                        path,
                        f"HTTP {resp.status_code} {resp.text[:200]!r}: check {self.credential_setting}",
                        resp.status_code,
                        attempt,
                        started,
                    )
                if resp.status_code in RETRYABLE_STATUS:
                    last_error = f"HTTP {resp.status_code} {resp.text[:200]!r}"
                    retry_after = _retry_after_seconds(resp.headers)
                    if resp.status_code == 429 and retry_after is None and self.limiter is not None:
                        # No Retry-After (Apollo does not promise one): wait for the window boundary.
                        retry_after = self.limiter.seconds_until_reset(endpoint_class) or None
                elif resp.status_code >= 400:
                    raise self._fail(
                        VendorRequestError,
                        path,
                        f"HTTP {resp.status_code} {resp.text[:300]!r}",
                        resp.status_code,
                        attempt,
                        started,
                    )
                else:
                    data, parse_error = _parse(resp.text) if expect_json else (None, None)
                    if parse_error is None:
                        duration = int((time.monotonic() - started) * 1000)
                        self._record(path, resp.status_code, attempt, None, duration)
                        return VendorResponse(
                            resp.status_code, resp.text, data, resp.headers, attempt, duration
                        )
                    last_error = f"malformed body: {parse_error}"
                    if paid:
                        duration = int((time.monotonic() - started) * 1000)
                        self._record(path, resp.status_code, attempt, last_error, duration)
                        raise UnreadablePaidResponse(
                            self.vendor, f"{path}: {last_error}", text=resp.text, status=resp.status_code
                        )
            if attempt < self.max_attempts:
                delay = self._backoff(attempt, retry_after)
                self.log.warning(
                    "%s %s attempt %d/%d failed (%s); retrying in %.1fs",
                    self.vendor, path, attempt, self.max_attempts, last_error, delay,
                )
                self.sleep(delay)
        raise self._fail(VendorCallFailed, path, last_error, last_status, self.max_attempts, started)

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_wait)
        # Exponential backoff with full jitter keeps parallel workers from retrying in step.
        return random.uniform(0, self.backoff_base * 2 ** (attempt - 1))

    def _record(self, path: str, status: int | None, attempts: int, error: str | None, duration: int) -> None:
        outcome = "failed" if error else ("ok" if attempts == 1 else "retried_ok")
        self.calls.append(CallRecord(self.vendor, path, status, attempts, outcome, error, duration))

    def _fail(self, kind, path, message, status, attempts, started):
        duration = int((time.monotonic() - started) * 1000)
        self._record(path, status, attempts, redact(message), duration)
        return kind(self.vendor, f"{path}: {redact(message)}", status=status, attempts=attempts)

    def drain_calls(self) -> list[CallRecord]:
        """Hand over the calls logged since the last drain (the caller persists them)."""
        calls, self.calls = self.calls, []
        return calls


def _parse(text: str) -> tuple[Any, str | None]:
    try:
        return json.loads(text), None
    except ValueError as exc:
        return None, str(exc)[:120]


def _retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
