"""One transport for every vendor: timeouts, rate windows, retries and a call log.

Retries follow `clients/retry.py` (the one policy): at most `max_attempts` attempts per call;
429 and 5xx, timeouts, connection errors and 200s with an unparsable body are retried with
exponential backoff and jitter, honouring `Retry-After`; 400/401/403/422 are not.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests

from lead_assets.clients.call_log import CallRecord, redact
from lead_assets.clients.errors import (
    RateLimitExhausted,
    UnreadablePaidResponse,
    VendorAuthError,
    VendorCallFailed,
    VendorRequestError,
)
from lead_assets.clients.rate_limit import WindowLimiter, make_limiter
from lead_assets.clients.retry import RETRYABLE_STATUS, TRANSIENT_ERRORS, RetryPolicy, retry_after_seconds


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
class _Retryable:
    """An attempt that failed in a way worth another try."""

    error: str
    status: int | None = None
    retry_after: float | None = None


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
        self.policy = RetryPolicy(max_attempts, backoff_base, max_wait)
        self.sleep = sleep
        self.log = logger or logging.getLogger(f"lead_sprint.{vendor}")
        self.session = requests.Session()
        self.session.headers.update(headers)
        self.calls: list[CallRecord] = []

    @property
    def max_attempts(self) -> int:
        return self.policy.max_attempts

    @property
    def max_wait(self) -> float:
        return self.policy.max_wait

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
        started = time.monotonic()
        failed = _Retryable("no attempt made")
        for attempt in range(1, self.max_attempts + 1):
            self._take_slot(endpoint_class, path, attempt, started)
            try:
                resp = self.session.request(method, f"{self.base_url}{path}", json=json_body, params=params,
                                            timeout=self.timeout)
            except TRANSIENT_ERRORS as exc:
                outcome: VendorResponse | _Retryable = _Retryable(f"{type(exc).__name__}: {redact(str(exc))[:200]}")
            else:
                if observe_headers is not None and self.limiter is not None:
                    self.limiter.observe(endpoint_class, observe_headers(resp.headers))
                outcome = self._read(resp, path, endpoint_class, attempt, started, expect_json, paid)
            if isinstance(outcome, VendorResponse):
                return outcome
            failed = outcome
            if attempt < self.max_attempts:
                delay = self.policy.delay(attempt, failed.retry_after)
                self.log.warning("%s %s attempt %d/%d failed (%s); retrying in %.1fs",
                                 self.vendor, path, attempt, self.max_attempts, failed.error, delay)
                self.sleep(delay)
        raise self._fail(VendorCallFailed, path, failed.error, failed.status, self.max_attempts, started)

    def _take_slot(self, endpoint_class: str, path: str, attempt: int, started: float) -> None:
        """A slot in the endpoint's rate window, or `RateLimitExhausted` when it stays full too long."""
        if self.limiter is None:
            return
        try:
            self.limiter.acquire(endpoint_class, max_wait=self.max_wait)
        except TimeoutError as exc:
            message = f"{endpoint_class} rate window full for {float(exc.args[0]):.0f}s more"
            raise self._fail(RateLimitExhausted, path, message, None, attempt, started) from None

    def _read(self, resp: requests.Response, path: str, endpoint_class: str, attempt: int, started: float,
              expect_json: bool, paid: bool) -> VendorResponse | _Retryable:
        """The answer of one attempt: a response, a retryable failure, or a raised `VendorError`."""
        status = resp.status_code
        if status in (401, 403):
            message = f"HTTP {status} {resp.text[:200]!r}: check {self.credential_setting}"
            raise self._fail(VendorAuthError, path, message, status, attempt, started)
        if status in RETRYABLE_STATUS:
            retry_after = retry_after_seconds(resp.headers)
            if status == 429 and retry_after is None and self.limiter is not None:
                # No Retry-After (Apollo does not promise one): wait for the window boundary.
                retry_after = self.limiter.seconds_until_reset(endpoint_class) or None
            return _Retryable(f"HTTP {status} {resp.text[:200]!r}", status, retry_after)
        if status >= 400:
            raise self._fail(VendorRequestError, path, f"HTTP {status} {resp.text[:300]!r}", status, attempt, started)
        data, parse_error = _parse(resp.text) if expect_json else (None, None)
        duration = int((time.monotonic() - started) * 1000)
        if parse_error is None:
            self._record(path, status, attempt, None, duration)
            return VendorResponse(status, resp.text, data, resp.headers, attempt, duration)
        error = f"malformed body: {parse_error}"
        if paid:
            self._record(path, status, attempt, error, duration)
            raise UnreadablePaidResponse(self.vendor, f"{path}: {error}", text=resp.text, status=status)
        return _Retryable(error, status)

    def pause_before_retry(self, attempt: int) -> None:
        """Wait as the transport does after failed attempt `attempt` (exponential backoff with jitter)."""
        self.sleep(self.policy.delay(attempt))

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

    def set_credits(self, credits: float) -> None:
        """Put the credits a logical call consumed on its call record (the last one logged)."""
        if self.calls:
            self.calls[-1].credits = credits

    def parse_paid_json(self, path: str, resp: VendorResponse) -> Any:
        """The JSON of a charged answer; a body we cannot read raises `UnreadablePaidResponse`."""
        try:
            return json.loads(resp.text)
        except ValueError as exc:
            if self.calls:
                self.calls[-1].outcome, self.calls[-1].error = "failed", f"malformed body: {str(exc)[:120]}"
            raise UnreadablePaidResponse(
                self.vendor, f"{path}: malformed body: {str(exc)[:120]}", text=resp.text, status=resp.status
            ) from None


def make_http(
    vendor: str,
    base_url: str,
    *,
    headers: Mapping[str, str],
    credential_setting: str,
    limits: Mapping[str, Mapping[str, int | None]] | None,
    window_seconds: Mapping[str, float] | None,
    max_attempts: int,
    credential: str | None = None,
    **kwargs: Any,
) -> VendorHttp:
    """A `VendorHttp` with a window limiter built from `limits` (None: no client-side limits);
    `credential` (the API key) names the budget the limiter counts against."""
    # Shared through Redis when REDIS_URL answers; vendors without rate headers are modelled by these counts.
    limiter = make_limiter(vendor, limits, credential=credential, window_seconds=window_seconds)
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    return VendorHttp(vendor, base_url, headers=headers, credential_setting=credential_setting, limiter=limiter,
                      max_attempts=max_attempts, **kwargs)


def _parse(text: str) -> tuple[Any, str | None]:
    try:
        return json.loads(text), None
    except ValueError as exc:
        return None, str(exc)[:120]
