"""NeverBounce v4 client: the single check (1 credit per answered check).

Contract: shared/vendor-apis.md section 5. Base URL and key come from configuration
(`NEVERBOUNCE_BASE_URL`, `NEVERBOUNCE_API_KEY`). The single check is a `GET` with query
parameters (`key`, `email`, `address_info`, `credits_info`, `timeout`), as the v4.2 reference and
the official SDKs send it (vendor-apis.md Corrections 3); the key therefore sits in the URL, and
`redact` strips `key=` from every error, and a filter on urllib3's connection log (which
writes each request line, query included, at DEBUG) strips it there too.

NeverBounce reports application errors as HTTP 200 with a `status` field, so the body is
read before anything else:

* `auth_failure` / `bad_referrer` -> `VendorAuthError` naming `NEVERBOUNCE_API_KEY`;
* `throttle_triggered` / `temp_unavail` -> asked again with backoff, within the retry budget;
* `general_failure` -> `VendorRequestError` (the request itself is wrong).

Transport failures (5xx, timeouts) are retried by `VendorHttp` as for every vendor; the retry
budget counts every HTTP attempt of the logical call.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lead_assets.clients.call_log import CallRecord, redact
from lead_assets.clients.errors import (
    RateLimitExhausted,
    VendorAuthError,
    VendorCallFailed,
    VendorRequestError,
)
from lead_assets.clients.http import VendorResponse, make_http
from lead_assets.clients.retry import Retry, call_with_retries, retry_transport

CHECK_PATH = "/v4/single/check"
# Seconds NeverBounce may spend on the SMTP check before answering `unknown` (its `timeout` parameter);
# below our read timeout so a slow mailbox is an answer, not a transport error.
CHECK_TIMEOUT_S = 20
RESULTS = frozenset({"valid", "invalid", "disposable", "catchall", "unknown"})
# No published number for the single check (UNCONFIRMED): a polite default the caller can change.
DEFAULT_LIMITS: dict[str, dict[str, int]] = {"single": {"second": 20}}
_AUTH_STATUSES = frozenset({"auth_failure", "bad_referrer"})
_RETRY_STATUSES = frozenset({"throttle_triggered", "temp_unavail"})


class _RedactQueryKey(logging.Filter):
    """Removes `key=...` from urllib3's request lines: the single check carries its key in the query."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


def _guard_urllib3_log() -> None:
    logger = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(f, _RedactQueryKey) for f in logger.filters):
        logger.addFilter(_RedactQueryKey())


_guard_urllib3_log()


@dataclass
class EmailCheck:
    """A single-check answer (`result`: valid, invalid, disposable, catchall, unknown)."""

    email: str
    result: str
    flags: list[str] = field(default_factory=list)
    suggested_correction: str = ""
    credits: float = 1.0
    response: VendorResponse | None = None


class NeverBounceClient:
    """Plain `requests` client for NeverBounce's single check."""

    vendor = "neverbounce"

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        limits: Mapping[str, Mapping[str, int | None]] | None = DEFAULT_LIMITS,
        window_seconds: Mapping[str, float] | None = None,
        timeout: tuple[float, float] = (5.0, 30.0),
        max_attempts: int = 3,
        backoff_base: float = 0.5,
        max_wait: float = 90.0,
        logger: logging.Logger | None = None,
        sleep=None,
    ):
        self.api_key = api_key
        self.check_timeout = max(1, min(CHECK_TIMEOUT_S, int(timeout[1]) - 2))
        self.max_attempts = max_attempts
        self.http = make_http(
            self.vendor,
            base_url,
            headers={"Accept": "application/json"},
            credential=api_key,
            credential_setting="NEVERBOUNCE_API_KEY",
            limits=limits,
            window_seconds=window_seconds,
            max_attempts=max_attempts,
            timeout=timeout,
            backoff_base=backoff_base,
            max_wait=max_wait,
            logger=logger,
            sleep=sleep,
        )

    def _judge(self, outcome: Any) -> Retry | None:
        if not isinstance(outcome, VendorResponse):
            return retry_transport(outcome)
        body = outcome.data if isinstance(outcome.data, dict) else {}
        status = body.get("status")
        message = str(body.get("message") or "")[:200]
        if status == "success":
            return None
        if status in _AUTH_STATUSES:
            raise VendorAuthError(
                self.vendor, f"{CHECK_PATH}: {status} ({message}): check NEVERBOUNCE_API_KEY", status=outcome.status
            )
        if status in _RETRY_STATUSES:
            give_up = RateLimitExhausted if status == "throttle_triggered" else VendorCallFailed
            return Retry(f"{status} ({message})", give_up=give_up)
        if status == "general_failure":
            raise VendorRequestError(self.vendor, f"{CHECK_PATH}: general_failure ({message})", status=outcome.status)
        raise VendorCallFailed(self.vendor, f"{CHECK_PATH}: unexpected status {status!r} in {outcome.text[:200]!r}")

    def check(self, email: str) -> EmailCheck:
        """Verify one address (1 credit when answered)."""
        params = {"key": self.api_key, "email": email, "address_info": 0, "credits_info": 1,
                  "timeout": self.check_timeout}
        resp = call_with_retries(
            self.http,
            CHECK_PATH,
            lambda: self.http.request("GET", CHECK_PATH, endpoint_class="single", params=params, paid=True),
            self._judge,
            max_attempts=self.max_attempts,
        )
        data = resp.data
        result = data.get("result")
        if result not in RESULTS:
            raise VendorCallFailed(self.vendor, f"{CHECK_PATH}: unexpected result {result!r}", status=resp.status)
        info = data.get("credits_info") if isinstance(data.get("credits_info"), dict) else {}
        used = [info.get(k) for k in ("paid_credits_used", "free_credits_used")]
        credits = float(sum(u for u in used if isinstance(u, int | float))) if info else 1.0
        self.http.set_credits(credits)
        flags = data.get("flags")
        return EmailCheck(
            email=email,
            result=result,
            flags=[f for f in flags if isinstance(f, str)] if isinstance(flags, list) else [],
            suggested_correction=str(data.get("suggested_correction") or ""),
            credits=credits,
            response=resp,
        )

    def drain_calls(self) -> list[CallRecord]:
        """Hand over the calls logged since the last drain (the caller persists them)."""
        return self.http.drain_calls()
