"""Clearbit (legacy Company API) client: company by domain (1 lookup per answered domain).

Contract: shared/vendor-apis.md section 6. Base URL and key come from configuration
(`CLEARBIT_BASE_URL`, `CLEARBIT_API_KEY`); the key is sent as `Authorization: Bearer`.

Clearbit answers 202 while it looks a company up: the client asks again after
`poll_interval` seconds (doubling each time), at most `max_polls` times (then `AnswerPending`, unpaid). 200 is the
company, 404 an unknown domain (an answer: `None`, and billed). 429 and 5xx are retried by
`VendorHttp`, honouring `Retry-After`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lead_assets.clients.call_log import CallRecord
from lead_assets.clients.errors import VendorCallFailed, VendorRequestError
from lead_assets.clients.http import VendorResponse, make_http
from lead_assets.clients.retry import Retry, call_with_retries

FIND_PATH = "/v2/companies/find"
# 600/min per key is the commonly cited figure (UNCONFIRMED); the caller can change it.
DEFAULT_LIMITS: dict[str, dict[str, int]] = {"find": {"minute": 600}}
LOOKUP_CREDITS = 1.0


@dataclass
class CompanyProfile:
    """The firmographics the lead store needs from a Clearbit company (None = Clearbit lacks it)."""

    domain: str
    name: str | None
    industry: str | None
    employees: int | None
    employees_range: str | None
    raw: dict


class ClearbitClient:
    """Plain `requests` client for Clearbit's company find."""

    vendor = "clearbit"

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
        max_polls: int = 4,
        poll_interval: float = 0.5,
        logger: logging.Logger | None = None,
        sleep=None,
    ):
        self.max_attempts = max_attempts
        self.max_polls = max_polls
        self.poll_interval = poll_interval
        self.http = make_http(
            self.vendor,
            base_url,
            headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"},
            credential=api_key,
            credential_setting="CLEARBIT_API_KEY",
            limits=limits,
            window_seconds=window_seconds,
            max_attempts=max_attempts,
            timeout=timeout,
            backoff_base=backoff_base,
            max_wait=max_wait,
            logger=logger,
            sleep=sleep,
        )

    @staticmethod
    def _judge(outcome: Any) -> Retry | None:
        if isinstance(outcome, VendorResponse) and outcome.status == 202:
            return Retry("company lookup queued (HTTP 202)", poll=True)
        return None  # VendorHttp already spent the retry budget on 429/5xx/timeouts

    def find_company(self, domain: str) -> CompanyProfile | None:
        """The company behind `domain`, or None when Clearbit does not know it (both are billed)."""

        def send() -> VendorResponse:
            try:
                return self.http.request(
                    "GET", FIND_PATH, endpoint_class="find", params={"domain": domain}, expect_json=False, paid=True
                )
            except VendorRequestError as exc:
                if exc.status != 404:
                    raise
                return VendorResponse(404, "", None, {}, exc.attempts, 0)  # unknown company: an answer

        resp = call_with_retries(
            self.http,
            FIND_PATH,
            send,
            self._judge,
            max_attempts=self.max_attempts,
            max_polls=self.max_polls,
            poll_interval=self.poll_interval,
        )
        self.http.set_credits(LOOKUP_CREDITS)
        if resp.status == 404:
            return None
        body = self.http.parse_paid_json(FIND_PATH, resp)
        if not isinstance(body, dict):
            raise VendorCallFailed(self.vendor, f"{FIND_PATH}: not a company object: {resp.text[:200]!r}")
        category = body.get("category") if isinstance(body.get("category"), dict) else {}
        metrics = body.get("metrics") if isinstance(body.get("metrics"), dict) else {}
        employees = metrics.get("employees")
        return CompanyProfile(
            domain=body.get("domain") if isinstance(body.get("domain"), str) else domain,
            name=body.get("name") if isinstance(body.get("name"), str) else None,
            industry=category.get("industry") if isinstance(category.get("industry"), str) else None,
            employees=employees if isinstance(employees, int) and not isinstance(employees, bool) else None,
            employees_range=metrics.get("employeesRange") if isinstance(metrics.get("employeesRange"), str) else None,
            raw=body,
        )

    def drain_calls(self) -> list[CallRecord]:
        """Hand over the calls logged since the last drain (the caller persists them)."""
        return self.http.drain_calls()
