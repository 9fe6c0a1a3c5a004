"""The one retry policy every vendor client follows.

* Budget: at most `max_attempts` attempts per logical call (the brief's retry budget);
  notifiers also cap the seconds an operation may spend (`Budget`), since an alert must never
  hold up a run.
* What is retried: 429 and 5xx (`RETRYABLE_STATUS`), timeouts and dropped connections
  (`TRANSIENT_ERRORS`), and 200s with an unparsable body when nothing was charged.
  400/401/403/422 are not: the same request would fail the same way.
* How long to wait: the vendor's `Retry-After` when it sends one (capped at `max_wait`), else
  exponential backoff with full jitter, so parallel workers do not retry in step.
* Vendors whose statuses mean other things (Hunter's 403 is its rate limit, a 202 says "ask
  again") judge each outcome themselves: `call_with_retries` runs the same budget around a
  `Judge` that returns a `Retry` verdict, and polls pending answers within `max_polls`.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import requests

from lead_assets.clients.call_log import merged_record
from lead_assets.clients.errors import (
    AnswerPending,
    RateLimitExhausted,
    UnreadablePaidResponse,
    VendorCallFailed,
    VendorError,
)

if TYPE_CHECKING:
    from lead_assets.clients.http import VendorHttp, VendorResponse

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
SERVER_ERRORS = RETRYABLE_STATUS - {429}
TRANSIENT_ERRORS = (requests.Timeout, requests.ConnectionError)


def retry_after_seconds(headers: Mapping[str, Any]) -> float | None:
    """The `Retry-After` header in seconds (any header case; a list value: its first), or None."""
    for name, value in headers.items():
        if name.lower() != "retry-after":
            continue
        value = value[0] if isinstance(value, list | tuple) and value else value
        try:
            return max(0.0, float(value))
        except (TypeError, ValueError):
            return None
    return None


def exponential_backoff(attempt: int, base: float, cap: float | None = None) -> float:
    """`base * 2**(attempt - 1)` seconds after failed attempt number `attempt` (1-based), at most `cap`."""
    wait = base * 2 ** max(0, attempt - 1)
    return wait if cap is None else min(wait, cap)


@dataclass(frozen=True)
class RetryPolicy:
    """A client's retry budget: attempts per logical call, backoff base and the longest wait allowed."""

    max_attempts: int = 3
    backoff_base: float = 0.5
    max_wait: float = 90.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt `attempt`: `retry_after` if given, else full jitter."""
        if retry_after is None:
            retry_after = random.uniform(0, exponential_backoff(attempt, self.backoff_base))
        return min(retry_after, self.max_wait)


class Budget:
    """Attempts and seconds one operation may spend, retries included (the notifiers' budget)."""

    def __init__(self, attempts: int, seconds: float, clock: Callable[[], float]):
        self.clock = clock
        self.deadline = clock() + seconds
        self.left = max(1, attempts)
        self.used = 0

    def start_attempt(self) -> None:
        self.left -= 1
        self.used += 1

    def allows(self, wait: float) -> bool:
        """Another attempt after waiting `wait` seconds fits in what is left."""
        return self.left > 0 and self.clock() + wait <= self.deadline


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
            outcome = _outcome(send)
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
                delay = decision.delay if decision.delay is not None else exponential_backoff(polls, poll_interval)
            else:
                used = sum(r.attempts for r in http.calls[first:]) - polls
                if used >= max_attempts:
                    failure = _give_up(http.vendor, path, decision, outcome, used)
                    raise failure
                delay = http.policy.delay(used, decision.delay)
            # Polling is the vendor's normal way of answering; a retry means something went wrong.
            level = logging.INFO if decision.poll else logging.WARNING
            http.log.log(level, "%s %s: %s; asking again in %.1fs", http.vendor, path, decision.reason, delay)
            http.sleep(min(delay, http.policy.max_wait))
    finally:
        records = http.calls[first:]
        if records:
            http.calls[first:] = [merged_record(records, path, failure, polls)]


def _outcome(send: Callable[[], VendorResponse]) -> Any:
    try:
        return send()
    except VendorError as exc:
        return exc


def _give_up(vendor: str, path: str, decision: Retry, outcome: Any, used: int) -> VendorError:
    if decision.give_up is not None:  # responses and errors both carry the HTTP status
        return decision.give_up(vendor, f"{path}: {decision.reason} after {used} attempts",
                                status=getattr(outcome, "status", None), attempts=used)
    if isinstance(outcome, VendorError):
        return outcome
    return VendorCallFailed(vendor, f"{path}: {decision.reason} after {used} attempts", attempts=used)
