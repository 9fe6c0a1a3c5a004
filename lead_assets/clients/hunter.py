"""Hunter.io client: email-finder (paid per email found) and email-verifier (paid per answer).

Contract: shared/vendor-apis.md section 4. Base URL and key come from configuration
(`HUNTER_BASE_URL`, `HUNTER_API_KEY`); the key travels in the `X-API-KEY` header, never the URL.

Hunter's statuses differ from the house defaults of `VendorHttp`, so this client runs its
own attempt loop (`call_with_retries`, one HTTP attempt per `VendorHttp.request`):

* 403 is Hunter's *rate limit*: retried after the window resets, within the retry budget;
* 429 is the plan's *credits spent*: `QuotaExhausted` at once (no retry can help), which
  stops Hunter for the run, not the run;
* the verifier's 202 (in progress) and 222 (remote SMTP answered oddly) mean "ask again":
  polled up to `max_polls` times, then `AnswerPending` (nothing was charged).

`call_with_retries`, `Retry`, `QuotaExhausted` and `AnswerPending` are shared by the
NeverBounce and Clearbit clients, which need the same "look at the answer, maybe ask again"
loop on top of `VendorHttp`.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lead_assets.clients.errors import (
    RateLimitExhausted,
    UnreadablePaidResponse,
    VendorAuthError,
    VendorCallFailed,
    VendorError,
    VendorRequestError,
)
from lead_assets.clients.http import CallRecord, VendorHttp, VendorResponse, redact
from lead_assets.clients.rate_limit import make_limiter

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
# Shared by the enrichment clients.
# --------------------------------------------------------------------------------------------


class QuotaExhausted(VendorError):
    """The plan's credits are spent (Hunter 429): stop this provider for the run; the run goes on."""


class AnswerPending(VendorCallFailed):
    """The vendor kept saying "not ready" (Hunter 202/222, Clearbit 202) past the poll budget.

    Nothing was charged; asking again in a later run is safe.
    """


@dataclass(frozen=True)
class Retry:
    """A judge's verdict that the call should be made again.

    `poll=True`: the answer is not ready yet (counts against `max_polls`, waits `poll_interval`);
    otherwise it is a failure that counts against the retry budget. `give_up` is the error
    raised when the budget runs out (default: the last error, or `VendorCallFailed`).
    """

    reason: str
    poll: bool = False
    delay: float | None = None
    give_up: type[VendorError] | None = None


Judge = Callable[[Any], Retry | None]


def retry_transport(outcome: Any) -> Retry | None:
    """The house default: 429s, 5xx, timeouts and unreadable free answers are worth another try."""
    if isinstance(outcome, VendorCallFailed) and not isinstance(
        outcome, UnreadablePaidResponse | RateLimitExhausted | AnswerPending
    ):
        return Retry(str(outcome))
    return None


def call_with_retries(
    http: VendorHttp,
    path: str,
    send: Callable[[], VendorResponse],
    judge: Judge,
    *,
    max_attempts: int,
    max_polls: int = 0,
    poll_interval: float = 1.0,
) -> VendorResponse:
    """One logical call: `send` until `judge` is satisfied, within the retry and poll budgets.

    `judge(outcome)` sees a `VendorResponse` or the `VendorError` that `send` raised and returns
    a `Retry`, or None when the outcome is final (a response is returned, an error raised);
    it may also raise a more precise error itself. The call log keeps one record for the
    whole logical call (attempts summed), like `VendorHttp` does for its own retries.
    """
    first = len(http.calls)
    polls = 0
    failure: BaseException | None = None
    try:
        while True:
            try:
                outcome: Any = send()
            except VendorError as exc:
                outcome = exc
            try:
                decision = judge(outcome)
            except VendorError as exc:
                failure = exc
                raise
            if decision is None:
                if isinstance(outcome, VendorError):
                    failure = outcome
                    raise outcome
                return outcome
            if decision.poll:
                if polls >= max_polls:
                    failure = AnswerPending(http.vendor, f"{path}: {decision.reason} after {polls} polls")
                    raise failure
                polls += 1  # the next request is a poll
                # Ask again soon, then back off: most lookups finish within a second, a few take longer.
                delay = poll_interval * 2 ** (polls - 1) if decision.delay is None else decision.delay
            else:
                used = sum(r.attempts for r in http.calls[first:]) - polls
                if used >= max_attempts:
                    failure = _give_up(http.vendor, path, decision, outcome, used)
                    raise failure
                delay = decision.delay
                if delay is None:  # full jitter keeps parallel workers from retrying in step
                    delay = random.uniform(0, http.backoff_base * 2 ** max(0, used - 1))
            # Polling is the vendor's normal way of answering; a retry means something went wrong.
            level = logging.INFO if decision.poll else logging.WARNING
            http.log.log(level, "%s %s: %s; asking again in %.1fs", http.vendor, path, decision.reason, delay)
            http.sleep(min(delay, http.max_wait))
    finally:
        _collapse_calls(http, first, path, failure, polls)


def _give_up(vendor: str, path: str, decision: Retry, outcome: Any, used: int) -> VendorError:
    if decision.give_up is not None:  # responses and errors both carry the HTTP status
        return decision.give_up(vendor, f"{path}: {decision.reason} after {used} attempts",
                                status=getattr(outcome, "status", None), attempts=used)
    if isinstance(outcome, VendorError):
        return outcome
    return VendorCallFailed(vendor, f"{path}: {decision.reason} after {used} attempts", attempts=used)


def _collapse_calls(http: VendorHttp, first: int, path: str, failure: BaseException | None, polls: int) -> None:
    """Replace the records of one logical call's attempts (`polls` of them asking for a pending answer) by one."""
    records = http.calls[first:]
    if not records:
        return
    attempts = sum(r.attempts for r in records)
    if failure is None:  # a 404 that answers the question is a success too
        outcome, error = ("ok" if attempts - polls == 1 else "retried_ok"), None
    else:
        outcome, error = "failed", redact(str(failure))[:300]
    del http.calls[first:]
    http.calls.append(
        CallRecord(
            vendor=http.vendor,
            endpoint=path,
            status_code=records[-1].status_code,
            attempts=attempts,
            outcome=outcome,
            error=error,
            duration_ms=sum(r.duration_ms for r in records),
            called_at=records[0].called_at,
            polls=polls,
        )
    )


def set_credits(http: VendorHttp, credits: float) -> None:
    """Put the credits a logical call consumed on its call record (the last one logged)."""
    if http.calls:
        http.calls[-1].credits = credits


def parse_paid_json(http: VendorHttp, path: str, resp: VendorResponse) -> Any:
    """The JSON of a charged answer; a body we cannot read raises `UnreadablePaidResponse`."""
    try:
        return json.loads(resp.text)
    except ValueError as exc:
        if http.calls:
            http.calls[-1].outcome, http.calls[-1].error = "failed", f"malformed body: {str(exc)[:120]}"
        raise UnreadablePaidResponse(
            http.vendor, f"{path}: malformed body: {str(exc)[:120]}", text=resp.text, status=resp.status
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
    # Shared through Redis when REDIS_URL answers; Hunter sends no rate headers, so these counts are the model.
    limiter = make_limiter(vendor, limits, credential=credential, window_seconds=window_seconds)
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    return VendorHttp(
        vendor,
        base_url,
        headers=headers,
        credential_setting=credential_setting,
        limiter=limiter,
        max_attempts=max_attempts,
        **kwargs,
    )


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
        set_credits(self.http, credits)
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
        set_credits(self.http, VERIFIER_CREDITS)
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
    body = parse_paid_json(http, path, resp)
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        raise VendorCallFailed(http.vendor, f"{path}: no data object in {resp.text[:200]!r}", status=resp.status)
    return data
