"""NeverBounce v4 single check: what `NeverBounceClient` sends and reads, pinned to the published contract.

Written from shared/vendor-apis.md section 5 (5.1 base, auth, errors-as-HTTP-200; 5.2 single
check) and Corrections 3 (GET with query parameters, as the v4.2 reference and the SDKs), against
a recording server, not the sandbox.
"""

from __future__ import annotations

import pytest

from lead_assets.clients.errors import RateLimitExhausted, VendorAuthError, VendorRequestError
from lead_assets.clients.neverbounce import CHECK_PATH, NeverBounceClient
from lead_assets_tests.contracts.recorder import Recorder, Reply

KEY = "secret_contract-key"
# Section 5.2's success body, verbatim shape.
SUCCESS = {
    "status": "success", "result": "valid", "flags": ["has_dns", "has_dns_mx", "smtp_connectable"],
    "suggested_correction": "", "execution_time": 350,
    "credits_info": {"paid_credits_used": 1, "free_credits_used": 0, "paid_credits_remaining": 9950778,
                     "free_credits_remaining": 0},
}


@pytest.fixture
def rec():
    with Recorder() as server:
        yield server


def client(rec, **kw):
    return NeverBounceClient(rec.url, KEY, limits=None, sleep=lambda s: None, **kw)


def test_single_check_is_a_get_with_query_parameters(rec):
    # Corrections 3: GET /v4/single/check?key=&email=&address_info=&credits_info=&timeout= (no body).
    rec.on("GET", "/v4/single/check", Reply(200, SUCCESS))
    check = client(rec).check("jane@acme.com")
    [req] = rec.requests
    assert (req.method, req.path) == ("GET", "/v4/single/check") and CHECK_PATH == req.path
    params = req.params()
    assert params["key"] == KEY and params["email"] == "jane@acme.com"
    assert set(params) <= {"key", "email", "address_info", "credits_info", "timeout"}
    assert params["credits_info"] == "1"  # the credits block is what the cost ledger reads
    assert 0 < int(params["timeout"]) < 30  # NeverBounce's own timeout, inside our read timeout
    assert req.body == b"" and "json" not in req.headers.get("content-type", "")
    # Read: result, flags, suggested_correction, credits_info.{paid,free}_credits_used.
    assert (check.result, check.flags, check.credits) == ("valid", SUCCESS["flags"], 1.0)


@pytest.mark.parametrize("result", ["valid", "invalid", "disposable", "catchall", "unknown"])
def test_every_published_result_is_read(rec, result):
    rec.on("GET", CHECK_PATH, Reply(200, {**SUCCESS, "result": result}))
    assert client(rec).check("a@b.co").result == result


def test_errors_arrive_as_http_200_with_a_status(rec):
    # 5.1: auth_failure -> the key's setting is named; general_failure -> the request is wrong.
    rec.on("GET", CHECK_PATH, Reply(200, {"status": "auth_failure", "message": "Invalid API key", "execution_time": 5}))
    with pytest.raises(VendorAuthError, match="NEVERBOUNCE_API_KEY"):
        client(rec).check("a@b.co")
    assert len(rec.requests) == 1


def test_general_failure_is_not_retried(rec):
    rec.on("GET", CHECK_PATH, Reply(200, {"status": "general_failure", "message": "Missing required parameter 'email'",
                                          "execution_time": 5}))
    with pytest.raises(VendorRequestError, match="general_failure"):
        client(rec).check("a@b.co")
    assert len(rec.requests) == 1


def test_throttle_triggered_backs_off_and_asks_again(rec):
    # 5.1: throttle_triggered has no Retry-After: back off and retry, within the retry budget.
    throttled = Reply(200, {"status": "throttle_triggered", "message": "slow down", "execution_time": 1})
    rec.on("GET", CHECK_PATH, throttled, Reply(200, SUCCESS))
    assert client(rec).check("a@b.co").result == "valid" and len(rec.requests) == 2


def test_a_throttle_that_lasts_gives_up_after_the_retry_budget(rec):
    rec.on("GET", CHECK_PATH, Reply(200, {"status": "throttle_triggered", "message": "slow", "execution_time": 1}))
    with pytest.raises(RateLimitExhausted):
        client(rec, max_attempts=3).check("a@b.co")
    assert len(rec.requests) == 3
