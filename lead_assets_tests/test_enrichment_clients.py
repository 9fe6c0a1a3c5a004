"""The Hunter, NeverBounce and Clearbit clients against the sandbox, over real HTTP.

Each vendor's odd statuses must map to the right behaviour: Hunter's 403 is a retryable rate
limit and 429 a spent plan (no retry); the verifier's 202/222 and Clearbit's 202 are polled
within a bound; NeverBounce's errors arrive as HTTP 200. One call-log record per logical call.
"""

from __future__ import annotations

import pytest
import requests

from lead_assets.clients.clearbit import ClearbitClient
from lead_assets.clients.errors import (
    AnswerPending,
    QuotaExhausted,
    RateLimitExhausted,
    VendorAuthError,
    VendorCallFailed,
    VendorRequestError,
)
from lead_assets.clients.hunter import HunterClient
from lead_assets.clients.neverbounce import NeverBounceClient
from lead_assets.sandbox import SandboxConfig, start_sandbox
from lead_assets.sandbox.hunter import world_of

NO_WAIT = {"sleep": lambda s: None}


@pytest.fixture(scope="module")
def sandbox():
    with start_sandbox(SandboxConfig(population=600, seed=5)) as sb:
        yield sb


@pytest.fixture(autouse=True)
def reset(sandbox):
    requests.post(f"{sandbox.base_url}/__sandbox/reset", json={"config": True}, timeout=5)


@pytest.fixture(scope="module")
def world(sandbox):
    return world_of(sandbox.population)


def configure(sandbox, patch):
    r = requests.post(f"{sandbox.base_url}/__sandbox/config", json=patch, timeout=5)
    assert r.status_code == 200, r.text


def vendor_stats(sandbox, vendor):
    return requests.get(f"{sandbox.base_url}/__sandbox/stats", timeout=5).json()["vendors"][vendor]


def hunter(sandbox, key="sandbox-hunter-key", **kw):
    return HunterClient(sandbox.url("hunter"), key, limits=None, **{**NO_WAIT, **kw})


def neverbounce(sandbox, key="secret_sandbox-neverbounce-key", **kw):
    return NeverBounceClient(sandbox.url("neverbounce"), key, limits=None, **{**NO_WAIT, **kw})


def clearbit(sandbox, key="sk_sandbox-clearbit-key", **kw):
    return ClearbitClient(sandbox.url("clearbit"), key, limits=None, **{**NO_WAIT, **kw})


def someone(sandbox, world, outcome="found", **truth):
    for p in sandbox.population.people:
        if p.duplicate_of or world.finder_outcome(p) != outcome:
            continue
        if truth and world.mailbox_status(p.work_email) != truth["status"]:
            continue
        if "delay" in truth and world.verification_delay(p.work_email) != truth["delay"]:
            continue
        return p
    raise AssertionError("nobody fits")


# -- Hunter ------------------------------------------------------------------------------------


def test_hunter_finds_parses_and_logs_credits(sandbox, world):
    p = someone(sandbox, world, status="valid")
    client = hunter(sandbox)
    found = client.find_email(p.first_name, p.last_name, company=p.company.name)
    assert found.email == p.work_email and found.domain == p.company.domain
    assert found.score >= 55 and found.verification_status == "valid" and found.credits == 1
    missing = someone(sandbox, world, "none")
    nothing = client.find_email(missing.first_name, missing.last_name, domain=missing.company.domain)
    assert nothing.email is None and nothing.credits == 0
    calls = client.drain_calls()
    assert [(c.endpoint, c.outcome, c.credits) for c in calls] == [
        ("/v2/email-finder", "ok", 1.0), ("/v2/email-finder", "ok", 0.0)]
    with pytest.raises(ValueError, match="domain or a company"):
        client.find_email("A", "B")


def test_hunter_403_is_a_rate_limit_retried_within_the_budget(sandbox, world):
    p = someone(sandbox, world)
    configure(sandbox, {"faults": {"hunter": {"fail_next": 2, "fail_next_kind": "429"}}})  # Hunter says 403
    client = hunter(sandbox)
    assert client.find_email(p.first_name, p.last_name, domain=p.company.domain).email == p.work_email
    [call] = client.drain_calls()
    assert (call.attempts, call.outcome, call.credits) == (3, "retried_ok", 1.0)

    configure(sandbox, {"faults": {"hunter": {"fail_next": 3, "fail_next_kind": "429"}}})
    with pytest.raises(RateLimitExhausted, match="rate limited"):
        client.find_email(p.first_name, p.last_name, domain=p.company.domain)
    [call] = client.drain_calls()
    assert (call.attempts, call.outcome) == (3, "failed")


def test_hunter_429_means_the_plan_is_spent_and_is_not_retried(sandbox, world):
    p = someone(sandbox, world)
    configure(sandbox, {"keys": {"hunter": {"credits": 0}}})
    client = hunter(sandbox)
    with pytest.raises(QuotaExhausted, match="HUNTER_API_KEY") as info:
        client.find_email(p.first_name, p.last_name, domain=p.company.domain)
    assert info.value.status == 429
    assert vendor_stats(sandbox, "hunter")["requests"]["email-finder"] == {"429": 1}
    with pytest.raises(VendorAuthError, match="HUNTER_API_KEY"):
        hunter(sandbox, key="wrong").find_email(p.first_name, p.last_name, domain=p.company.domain)


def test_hunter_verifier_polls_202_and_gives_up_on_222(sandbox, world):
    pending = next(p.work_email for p in sandbox.population.people
                   if world.verification_delay(p.work_email) == "pending")
    flaky = next(p.work_email for p in sandbox.population.people if world.verification_delay(p.work_email) == "flaky")
    client = hunter(sandbox, max_polls=2)
    verdict = client.verify_email(pending)
    assert verdict.status == world.mailbox_status(pending) and verdict.credits == 0.5
    [call] = client.drain_calls()
    # two requests, one of them a poll for the pending verdict: no retry happened
    assert (call.attempts, call.polls, call.outcome, call.status_code, call.credits) == (2, 1, "ok", 200, 0.5)
    with pytest.raises(AnswerPending, match="222"):
        client.verify_email(flaky)
    [call] = client.drain_calls()
    assert call.attempts == 3 and call.polls == 2 and call.outcome == "failed" and call.credits == 0
    assert vendor_stats(sandbox, "hunter")["credits_consumed"] == 0.5


# -- NeverBounce -------------------------------------------------------------------------------


def test_neverbounce_checks_and_maps_its_200_errors(sandbox, world):
    p = someone(sandbox, world, status="valid")
    client = neverbounce(sandbox)
    result = client.check(p.work_email)
    assert result.result == "valid" and "smtp_connectable" in result.flags and result.credits == 1
    catchall = someone(sandbox, world, status="accept_all")
    assert client.check(catchall.work_email).result == "catchall"

    with pytest.raises(VendorAuthError, match="auth_failure.*NEVERBOUNCE_API_KEY"):
        neverbounce(sandbox, key="secret_wrong").check(p.work_email)
    with pytest.raises(VendorRequestError, match="general_failure"):
        client.check("")
    client.drain_calls()

    configure(sandbox, {"faults": {"neverbounce": {"fail_next": 1, "fail_next_kind": "429"}}})
    assert client.check(p.work_email).result == "valid"  # throttle_triggered, then answered
    configure(sandbox, {"faults": {"neverbounce": {"fail_next": 1, "fail_next_kind": "503"}}})
    assert client.check(p.work_email).result == "valid"  # temp_unavail, then answered
    assert [(c.attempts, c.outcome) for c in client.drain_calls()] == [(2, "retried_ok"), (2, "retried_ok")]

    configure(sandbox, {"faults": {"neverbounce": {"fail_next": 3, "fail_next_kind": "429"}}})
    with pytest.raises(RateLimitExhausted, match="throttle_triggered"):
        client.check(p.work_email)
    configure(sandbox, {"faults": {"neverbounce": {"fail_next": 3, "fail_next_kind": "500"}}})
    with pytest.raises(VendorCallFailed, match="HTTP 500"):
        client.check(p.work_email)
    calls = client.drain_calls()
    assert [(c.attempts, c.outcome) for c in calls] == [(3, "failed"), (3, "failed")]
    assert "secret_" not in repr(calls)  # the key travels in the body, never in a logged URL


# -- Clearbit ----------------------------------------------------------------------------------


def test_clearbit_polls_202_then_reads_the_company(sandbox):
    company = next(c for c in sandbox.population.companies if c.gaps)
    client = clearbit(sandbox)
    found = client.find_company(company.domain)
    assert found.domain == company.domain and found.name == company.name
    assert found.industry or found.employees
    [call] = client.drain_calls()
    assert (call.attempts, call.polls, call.outcome, call.credits) == (2, 1, "ok", 1.0)  # a poll is no retry
    assert client.find_company(company.domain).name == company.name  # answered at once the second time
    assert client.drain_calls()[0].attempts == 1


def test_clearbit_unknown_is_none_pending_is_bounded_and_auth_names_the_setting(sandbox):
    client = clearbit(sandbox)
    assert client.find_company("never-heard-of-it.example") is None
    [call] = client.drain_calls()
    assert (call.status_code, call.outcome, call.credits) == (404, "ok", 1.0)
    company = sandbox.population.companies[-1]
    with pytest.raises(AnswerPending, match="202"):
        clearbit(sandbox, max_polls=0).find_company(company.domain)
    with pytest.raises(VendorAuthError, match="CLEARBIT_API_KEY"):
        clearbit(sandbox, key="nope").find_company(company.domain)
    with pytest.raises(VendorRequestError, match="422"):
        client.find_company("")
