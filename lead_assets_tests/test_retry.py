"""The one retry policy: Retry-After in any spelling, jittered backoff within the wait allowed, budgets."""

from __future__ import annotations

import random

import requests

from lead_assets.clients.retry import (
    RETRYABLE_STATUS,
    SERVER_ERRORS,
    Budget,
    RetryPolicy,
    exponential_backoff,
    retry_after_seconds,
)


def test_retry_after_is_read_in_any_header_case_and_from_a_list_value():
    assert retry_after_seconds(requests.structures.CaseInsensitiveDict({"Retry-After": "3"})) == 3.0
    assert retry_after_seconds({"retry-after": ["2.5"]}) == 2.5  # slack-sdk keeps header values in lists
    assert retry_after_seconds({"Retry-After": "-4"}) == 0.0
    assert retry_after_seconds({"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}) is None
    assert retry_after_seconds({}) is None


def test_backoff_is_exponential_with_full_jitter_and_never_longer_than_the_wait_allowed():
    policy = RetryPolicy(max_attempts=5, backoff_base=0.5, max_wait=3.0)
    random.seed(7)
    for attempt in range(1, 6):
        ceiling = exponential_backoff(attempt, 0.5)
        assert 0 <= policy.delay(attempt) <= min(ceiling, policy.max_wait)
    assert policy.delay(1, retry_after=30.0) == policy.max_wait  # a long Retry-After is capped
    assert policy.delay(1, retry_after=1.5) == 1.5
    assert [exponential_backoff(n, 0.5, cap=5.0) for n in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 4.0, 5.0]


def test_a_budget_counts_attempts_and_seconds():
    now = [0.0]
    budget = Budget(attempts=2, seconds=10.0, clock=lambda: now[0])
    budget.start_attempt()
    assert budget.allows(9.0) and not budget.allows(11.0)
    now[0] = 5.0
    assert not budget.allows(6.0)  # past the deadline
    budget.start_attempt()
    assert budget.used == 2 and not budget.allows(0.0)  # no attempt left


def test_429_and_server_errors_are_retried_client_errors_are_not():
    assert 429 in RETRYABLE_STATUS and SERVER_ERRORS == RETRYABLE_STATUS - {429}
    assert not {400, 401, 403, 404, 422} & RETRYABLE_STATUS
