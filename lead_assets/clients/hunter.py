"""Hunter.io client: email-finder (paid per email found) and email-verifier (paid per answer).

Contract: shared/vendor-apis.md section 4. Base URL and key come from configuration
(`HUNTER_BASE_URL`, `HUNTER_API_KEY`); the key travels in the `X-API-KEY` header, never the URL.

Hunter's statuses differ from the house defaults of `VendorHttp`, so this client judges each
answer itself (`call_with_retries` of `clients/retry.py`, one HTTP attempt per `VendorHttp.request`):

* 403 is Hunter's *rate limit*: retried after the window resets, within the retry budget;
* 429 is the plan's *credits spent*: `QuotaExhausted` at once (no retry can help), which
  stops Hunter for the run, not the run;
* the verifier's 202 (in progress) and 222 (remote SMTP answered oddly) mean "ask again":
  polled up to `max_polls` times, then `AnswerPending` (nothing was charged).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lead_assets.clients.call_log import CallRecord
from lead_assets.clients.errors import (
    QuotaExhausted,
    RateLimitExhausted,
    VendorAuthError,
    VendorCallFailed,
    VendorRequestError,
)
from lead_assets.clients.http import VendorHttp, VendorResponse, make_http
from lead_assets.clients.retry import Judge, Retry, call_with_retries, retry_transport

FINDER_PATH = "/v2/email-finder"
VERIFIER_PATH = "/v2/email-verifier"
# Hunter's documented windows per key (vendor-apis.md 4.3); the client stays under them.
DEFAULT_LIMITS: dict[str, dict[str, int]] = {
    "search": {"second": 15, "minute": 500},
    "verifier": {"second": 10, "minute": 300},
}
FINDER_CREDITS = 1.0  # per email found; nothing found costs nothing
VERIFIER_CREDITS = 0.5  # per answered verification (unified credit system)


# --------------------------------------------------------------------------------------------
# Hunter.
# --------------------------------------------------------------------------------------------


@dataclass
class EmailFinding:
    """An email-finder answer: the address (None = not found), Hunter's score and what it knows."""

    email: str | None
    score: int | None
    domain: str | None
    accept_all: bool
    verification_status: str | None  # Hunter's own check of the address, when it made one
    credits: float
    response: VendorResponse


@dataclass
class EmailVerification:
    """An email-verifier answer (`status`: valid, invalid, accept_all, webmail, disposable, unknown)."""

    email: str
    status: str
    score: int | None
    accept_all: bool
    credits: float
    response: VendorResponse


class HunterClient:
    """Plain `requests` client for Hunter's email-finder and email-verifier."""

    vendor = "hunter"

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
        # One HTTP attempt per request(): the loop here owns retries (403 and 429 mean other things).
        self.http = make_http(
            self.vendor,
            base_url,
            headers={"X-API-KEY": api_key, "Accept": "application/json"},
            credential=api_key,
            credential_setting="HUNTER_API_KEY",
            limits=limits,
            window_seconds=window_seconds,
            max_attempts=1,
            timeout=timeout,
            backoff_base=backoff_base,
            max_wait=max_wait,
            logger=logger,
            sleep=sleep,
        )

    def _judge(self, endpoint_class: str) -> Judge:
        def judge(outcome: Any) -> Retry | None:
            if isinstance(outcome, VendorAuthError) and outcome.status == 403:
                wait = self.http.limiter.seconds_until_reset(endpoint_class) if self.http.limiter else None
                return Retry("rate limited (HTTP 403)", delay=wait or None, give_up=RateLimitExhausted)
            if isinstance(outcome, VendorCallFailed) and outcome.status == 429:
                raise QuotaExhausted(
                    self.vendor,
                    f"plan credits spent (HTTP 429): Hunter is stopped for this run; "
                    f"top up the plan of HUNTER_API_KEY ({outcome})",
                    status=429,
                )
            if isinstance(outcome, VendorResponse) and outcome.status in (202, 222):
                what = "in progress" if outcome.status == 202 else "remote SMTP answered unexpectedly"
                return Retry(f"verification {what} (HTTP {outcome.status})", poll=True)
            return retry_transport(outcome)

        return judge

    def _get(self, path: str, endpoint_class: str, params: Mapping[str, Any]) -> VendorResponse:
        def send() -> VendorResponse:
            try:
                return self.http.request(
                    "GET", path, endpoint_class=endpoint_class, params=params, expect_json=False, paid=True
                )
            except VendorRequestError as exc:
                if exc.status != 404:
                    raise
                return VendorResponse(404, "", None, {}, exc.attempts, 0)  # nothing found: an answer

        return call_with_retries(
            self.http,
            path,
            send,
            self._judge(endpoint_class),
            max_attempts=self.max_attempts,
            max_polls=self.max_polls,
            poll_interval=self.poll_interval,
        )

    def find_email(
        self, first_name: str, last_name: str, *, domain: str | None = None, company: str | None = None
    ) -> EmailFinding:
        """Email-finder by name and `domain` (preferred) or `company` (1 credit if an email is found)."""
        if not domain and not company:
            raise ValueError("find_email needs a domain or a company")
        params = {"first_name": first_name, "last_name": last_name}
        params.update({"domain": domain} if domain else {"company": company})
        resp = self._get(FINDER_PATH, "search", params)
        data = {} if resp.status == 404 else _data(self.http, FINDER_PATH, resp)
        email = data.get("email") if isinstance(data.get("email"), str) and data.get("email") else None
        verification = data.get("verification") if isinstance(data.get("verification"), dict) else {}
        score = data.get("score")
        credits = FINDER_CREDITS if email else 0.0
        self.http.set_credits(credits)
        return EmailFinding(
            email=email,
            score=int(score) if isinstance(score, int | float) and not isinstance(score, bool) else None,
            domain=data.get("domain") if isinstance(data.get("domain"), str) else None,
            accept_all=data.get("accept_all") is True,
            verification_status=verification.get("status") if isinstance(verification.get("status"), str) else None,
            credits=credits,
            response=resp,
        )

    def verify_email(self, email: str) -> EmailVerification:
        """Email-verifier for one address (0.5 credit per answer; 202/222 are polled, unpaid)."""
        resp = self._get(VERIFIER_PATH, "verifier", {"email": email})
        if resp.status == 404:
            raise VendorCallFailed(self.vendor, f"{VERIFIER_PATH}: HTTP 404 for a verification", status=404)
        data = _data(self.http, VERIFIER_PATH, resp)
        status = data.get("status")
        if not isinstance(status, str):
            raise VendorCallFailed(self.vendor, f"{VERIFIER_PATH}: no status in {resp.text[:200]!r}")
        self.http.set_credits(VERIFIER_CREDITS)
        score = data.get("score")
        return EmailVerification(
            email=email,
            status=status,
            score=int(score) if isinstance(score, int | float) and not isinstance(score, bool) else None,
            accept_all=data.get("accept_all") is True,
            credits=VERIFIER_CREDITS,
            response=resp,
        )

    def drain_calls(self) -> list[CallRecord]:
        """Hand over the calls logged since the last drain (the caller persists them)."""
        return self.http.drain_calls()


def _data(http: VendorHttp, path: str, resp: VendorResponse) -> dict:
    body = http.parse_paid_json(path, resp)
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        raise VendorCallFailed(http.vendor, f"{path}: no data object in {resp.text[:200]!r}", status=resp.status)
    return data
