"""Hunter v2 email-finder and email-verifier: what `HunterClient` sends and reads, pinned to the contract.

Written from shared/vendor-apis.md section 4 (4.1 base, auth, envelope; 4.2 endpoints and the
202/222 verifier answers; 4.3 statuses: 403 = rate limit, 429 = plan credits, and credits),
against a recording server, not the sandbox.
"""

from __future__ import annotations

import pytest

from lead_assets.clients.errors import RateLimitExhausted
from lead_assets.clients.hunter import FINDER_PATH, VERIFIER_PATH, HunterClient, QuotaExhausted
from lead_assets_tests.contracts.recorder import Recorder, Reply

FOUND = {  # 4.2's email-finder body
    "data": {"first_name": "Jane", "last_name": "Doe", "email": "jane.doe@acme.com", "score": 92,
             "domain": "acme.com", "accept_all": False, "position": "CFO", "twitter": None,
             "linkedin_url": "https://www.linkedin.com/in/janedoe", "phone_number": None, "company": "Acme",
             "sources": [], "verification": {"date": "2026-09-01", "status": "valid"}},
    "meta": {"params": {"first_name": "Jane", "last_name": "Doe", "full_name": None, "domain": "acme.com",
                        "company": None}},
}
VERIFIED = {  # 4.2's email-verifier body
    "data": {"status": "valid", "result": "deliverable", "score": 100, "email": "x@y.com", "regexp": True,
             "gibberish": False, "disposable": False, "webmail": False, "mx_records": True, "smtp_server": True,
             "smtp_check": True, "accept_all": False, "block": False, "sources": []},
    "meta": {"params": {"email": "x@y.com"}},
}


@pytest.fixture
def rec():
    with Recorder() as server:
        yield server


def client(rec, **kw):
    return HunterClient(rec.url, "hunter-key", limits=None, sleep=lambda s: None, poll_interval=0.0, **kw)


def test_email_finder_request_and_shape(rec):
    rec.on("GET", "/v2/email-finder", Reply(200, FOUND))
    found = client(rec).find_email("Jane", "Doe", domain="acme.com")
    [req] = rec.requests
    assert (req.method, req.path) == ("GET", "/v2/email-finder") and FINDER_PATH == req.path
    assert req.headers["x-api-key"] == "hunter-key" and "api_key" not in req.params()  # 4.1: header auth
    assert req.params() == {"first_name": "Jane", "last_name": "Doe", "domain": "acme.com"}
    assert (found.email, found.score, found.verification_status, found.credits) == (
        "jane.doe@acme.com", 92, "valid", 1.0)  # 4.3: 1 credit per email found


def test_email_finder_by_company_when_no_domain(rec):
    rec.on("GET", FINDER_PATH, Reply(200, {"data": {**FOUND["data"], "email": None}, "meta": {}}))
    found = client(rec).find_email("Jane", "Doe", company="Acme")
    assert rec.requests[0].params()["company"] == "Acme" and found.email is None and found.credits == 0.0


def test_email_verifier_polls_202_and_reads_the_status(rec):
    # 4.2: 202 = still verifying, ask again (one request until answered); 0.5 credit per answer.
    rec.on("GET", "/v2/email-verifier", Reply(202, {"data": {}, "meta": {}}), Reply(200, VERIFIED))
    check = client(rec).verify_email("x@y.com")
    assert [r.params() for r in rec.requests] == [{"email": "x@y.com"}] * 2 and VERIFIER_PATH == "/v2/email-verifier"
    assert (check.status, check.score, check.credits) == ("valid", 100, 0.5)


def test_403_is_a_rate_limit_and_429_the_plan_credits(rec):
    # 4.3: 403 = rate limit reached (retry), 429 = usage limit reached (stop, do not retry).
    limited = Reply(403, {"errors": [{"id": "too_many_requests", "code": 403, "details": "rate limit"}]})
    rec.on("GET", FINDER_PATH, limited, Reply(200, FOUND))
    assert client(rec).find_email("Jane", "Doe", domain="acme.com").email == "jane.doe@acme.com"
    with Recorder() as spent:
        spent.on("GET", FINDER_PATH, Reply(429, {"errors": [{"id": "too_many_requests", "code": 429,
                                                              "details": "You've reached the limit"}]}))
        with pytest.raises(QuotaExhausted, match="HUNTER_API_KEY"):
            client(spent).find_email("Jane", "Doe", domain="acme.com")
        assert len(spent.requests) == 1
    with Recorder() as always:
        always.on("GET", FINDER_PATH, limited)
        with pytest.raises(RateLimitExhausted):
            client(always, max_attempts=3).find_email("Jane", "Doe", domain="acme.com")
        assert len(always.requests) == 3
