"""Apollo.io People API Search and Bulk People Enrichment: what `ApolloClient` sends and reads.

Written from shared/vendor-apis.md section 1 (1.1 base and `x-api-key` auth, JSON body filters;
1.2 api_search: `total_entries`, no pagination object, 100 per page, 500 pages; 1.5 bulk_match:
<= 10 details, `matches` aligned with `null` for misses, `credits_consumed`; 1.7 the
`x-*-requests-left` headers; 429 body), against a recording server, not the sandbox.
"""

from __future__ import annotations

import pytest

from lead_assets.clients.apollo import BULK_MATCH_PATH, SEARCH_PATH, ApolloClient
from lead_assets.clients.errors import VendorAuthError
from lead_assets_tests.contracts.recorder import Recorder, Reply

SEARCH_BODY = {  # 1.2's official example, abridged
    "total_entries": 232764882,
    "people": [{"id": "67bdafd0c3a4c50001bbd7c2", "first_name": "Andrew", "last_name_obfuscated": "Hu***n",
                "title": None, "last_refreshed_at": "2025-11-04T23:20:32.690+00:00", "has_email": True,
                "has_direct_phone": "Yes", "organization": {"name": "Scicomm Media", "has_industry": True}}],
}
MATCH = {"id": "66b8a5d38d90c000011cce51", "first_name": "Tim", "last_name": "Zheng", "name": "Tim Zheng",
         "linkedin_url": "http://www.linkedin.com/in/tim-zheng-677ba010", "title": "Founder & CEO",
         "email_status": "verified", "email": "tim@apollo.io", "organization": {"name": "Apollo.io"}}


@pytest.fixture
def rec():
    with Recorder() as server:
        yield server


def client(rec, **kw):
    return ApolloClient(rec.url, "apollo-key", sleep=lambda s: None, **kw)


def test_api_search_request_and_shape(rec):
    rec.on("POST", "/api/v1/mixed_people/api_search", Reply(200, SEARCH_BODY))
    query = {"person_titles": ["ppc manager"], "person_locations": ["austin, texas"], "include_similar_titles": False}
    page = client(rec).search_people(query, page=3, per_page=250)
    [req] = rec.requests
    assert (req.method, req.path) == ("POST", SEARCH_PATH)
    assert req.headers["x-api-key"] == "apollo-key" and req.headers["content-type"] == "application/json"
    assert req.headers["cache-control"] == "no-cache"
    assert req.json() == {**query, "page": 3, "per_page": 100}  # at most 100 per page
    assert page.total_entries == 232764882 and page.pages_available == 500 and len(page.people) == 1


def test_bulk_match_request_and_shape(rec):
    rec.on("POST", "/api/v1/people/bulk_match", Reply(200, {
        "status": "success", "error_code": None, "error_message": None, "total_requested_enrichments": 2,
        "unique_enriched_records": 1, "missing_records": 1, "credits_consumed": 1, "matches": [MATCH, None]}))
    batch = client(rec).bulk_match(["66b8a5d38d90c000011cce51", "nobody"])
    body = rec.requests[0].json()
    assert rec.requests[0].path == BULK_MATCH_PATH
    assert body["details"] == [{"id": "66b8a5d38d90c000011cce51"}, {"id": "nobody"}]
    assert body["reveal_personal_emails"] is False and body["reveal_phone_number"] is False  # no webhook, no phones
    assert batch.matches == [MATCH, None] and batch.credits_consumed == 1.0
    with pytest.raises(ValueError):
        client(rec).bulk_match([str(i) for i in range(11)])  # up to ten people per call


def test_429_waits_and_403_stops(rec):
    limited = Reply(429, {"message": "The maximum number of api calls allowed for api/v1/mixed_people/api_search "
                                     "is 600 times per hour."}, {"Retry-After": "1"})
    rec.on("POST", SEARCH_PATH, limited, Reply(200, SEARCH_BODY))
    assert client(rec).search_people({}, page=1).total_entries == 232764882 and len(rec.requests) == 2
    with Recorder() as refused:
        refused.on("POST", SEARCH_PATH, Reply(403, {"error": "api/v1/mixed_people/api_search is not accessible with "
                                                             "this api_key", "error_code": "API_INACCESSIBLE"}))
        with pytest.raises(VendorAuthError, match="APOLLO_API_KEY"):
            client(refused).search_people({}, page=1)
        assert len(refused.requests) == 1
