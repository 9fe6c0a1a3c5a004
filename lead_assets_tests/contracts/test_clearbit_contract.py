"""Clearbit Company API (legacy): what `ClearbitClient` sends and reads, pinned to the contract.

Written from shared/vendor-apis.md section 6.2 (find by domain, Basic or Bearer auth, 200 / 202
queued / 404 unknown, the company fields), against a recording server, not the sandbox.
"""

from __future__ import annotations

import pytest

from lead_assets.clients.clearbit import FIND_PATH, ClearbitClient
from lead_assets_tests.contracts.recorder import Recorder, Reply

COMPANY = {  # 6.2's response, abridged to what a lead needs plus neighbours
    "id": "c1", "name": "Clearbit", "legalName": "APIHub, Inc.", "domain": "clearbit.com",
    "category": {"sector": "Information Technology", "industryGroup": "Software",
                 "industry": "Internet Software & Services"},
    "metrics": {"employees": 540, "employeesRange": "251-1K", "estimatedAnnualRevenue": "$50M-$100M"},
    "geo": {"city": "San Francisco", "stateCode": "CA", "countryCode": "US"},
}


@pytest.fixture
def rec():
    with Recorder() as server:
        yield server


def client(rec, **kw):
    return ClearbitClient(rec.url, "sk_key", limits=None, sleep=lambda s: None, poll_interval=0.0, **kw)


def test_find_request_and_shape(rec):
    rec.on("GET", "/v2/companies/find", Reply(200, COMPANY))
    company = client(rec).find_company("clearbit.com")
    [req] = rec.requests
    assert (req.method, req.path, req.params()) == ("GET", FIND_PATH, {"domain": "clearbit.com"})
    assert req.headers["authorization"] == "Bearer sk_key"
    assert (company.name, company.industry, company.employees, company.employees_range) == (
        "Clearbit", "Internet Software & Services", 540, "251-1K")


def test_202_is_asked_again_and_404_is_an_answer(rec):
    rec.on("GET", FIND_PATH, Reply(202), Reply(200, COMPANY))
    assert client(rec).find_company("clearbit.com").domain == "clearbit.com" and len(rec.requests) == 2
    with Recorder() as unknown:
        unknown.on("GET", FIND_PATH, Reply(404, {"error": {"type": "unknown_record", "message": "Unknown domain"}}))
        assert client(unknown).find_company("nowhere.example") is None and len(unknown.requests) == 1
