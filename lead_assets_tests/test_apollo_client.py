"""The Apollo client against the sandbox over real HTTP: paging, limits, retries, errors."""

import pytest
import requests

from lead_assets.clients.apollo import ApolloClient, remaining_from_headers
from lead_assets.clients.errors import (
    UnreadablePaidResponse,
    VendorAuthError,
    VendorCallFailed,
    VendorRequestError,
)
from lead_assets.sandbox import SandboxConfig, start_sandbox

QUERY = {"person_titles": ["PPC Manager", "ppc lead"], "person_locations": ["Austin, Texas"]}


@pytest.fixture(scope="module")
def sandbox():
    with start_sandbox(SandboxConfig(population=3000)) as sb:
        yield sb


@pytest.fixture(autouse=True)
def reset(sandbox):
    requests.post(f"{sandbox.base_url}/__sandbox/reset", json={"config": True}, timeout=5)
    yield


def configure(sandbox, **changes):
    r = requests.post(f"{sandbox.base_url}/__sandbox/config", json=changes, timeout=5)
    assert r.status_code == 200, r.text


def stats(sandbox):
    return requests.get(f"{sandbox.base_url}/__sandbox/stats", timeout=5).json()["vendors"]["apollo"]


def client(sandbox, key="sandbox-apollo-key", **kw):
    kw.setdefault("sleep", lambda s: None)  # retries without waiting in tests
    return ApolloClient(f"{sandbox.base_url}/apollo", key, **kw)


def test_search_pages_cover_total_entries_without_repeats(sandbox):
    c = client(sandbox)
    first = c.search_people(QUERY, 1, per_page=100)
    assert first.total_entries and first.total_entries > 0
    seen = [p["id"] for p in first.people]
    for page in range(2, first.pages_available + 1):
        seen += [p["id"] for p in c.search_people(QUERY, page).people]
    assert len(seen) == len(set(seen)) == first.total_entries
    # api_search never reveals emails or LinkedIn URLs: they are bought through bulk_match
    assert all("email" not in p and "linkedin_url" not in p for p in first.people)


def test_pages_available_respects_the_display_cap(sandbox):
    configure(sandbox, search_cap=150)
    c = client(sandbox)
    page = c.search_people({"person_titles": ["Manager"]}, 1)
    assert page.total_entries > 150
    assert page.pages_available == min(-(-page.total_entries // 100), 500)
    assert c.search_people({"person_titles": ["Manager"]}, 3).people == []  # beyond the cap: empty


def test_bulk_match_returns_people_in_order_and_counts_credits(sandbox):
    c = client(sandbox)
    ids = [p["id"] for p in c.search_people({"person_titles": ["Manager"]}, 1).people[:9]] + ["0" * 24]
    assert len(ids) == 10
    batch = c.bulk_match(ids)
    assert len(batch.matches) == 10
    assert batch.matches[-1] is None  # unknown id: null, no credit
    assert [m["id"] for m in batch.matches[:9]] == ids[:9]
    assert batch.credits_consumed == 9 == stats(sandbox)["credits_consumed"]
    assert c.http.calls[-1].credits == 9


def test_bulk_match_refuses_more_than_ten_before_calling(sandbox):
    with pytest.raises(ValueError):
        client(sandbox).bulk_match([f"{i:024x}" for i in range(11)])
    assert stats(sandbox)["requests_total"] == 0


def test_wrong_key_stops_with_the_setting_to_fix(sandbox):
    with pytest.raises(VendorAuthError, match="APOLLO_API_KEY"):
        client(sandbox, key="nope").search_people(QUERY, 1)
    assert stats(sandbox)["requests_total"] == 1  # an auth failure is not retried


def test_non_master_key_gets_403_api_inaccessible(sandbox):
    configure(sandbox, keys={"apollo": {"valid": ["sandbox-apollo-key", "plain"], "non_master": ["plain"]}})
    with pytest.raises(VendorAuthError, match="API_INACCESSIBLE"):
        client(sandbox, key="plain").search_people(QUERY, 1)


def test_5xx_is_retried_within_the_budget(sandbox):
    configure(sandbox, faults={"apollo": {"fail_next": 2, "fail_next_kind": "503"}})
    c = client(sandbox)
    page = c.search_people(QUERY, 1)
    assert page.people
    assert page.response.attempts == 3
    assert c.http.calls[-1].outcome == "retried_ok"


def test_budget_is_three_attempts_then_recorded(sandbox):
    configure(sandbox, faults={"apollo": {"fail_next": 5, "fail_next_kind": "500"}})
    c = client(sandbox)
    with pytest.raises(VendorCallFailed, match="HTTP 500"):
        c.search_people(QUERY, 1)
    assert stats(sandbox)["requests_total"] == 3
    call = c.http.drain_calls()[-1]
    assert (call.attempts, call.outcome, call.status_code) == (3, "failed", 500)


def test_malformed_search_page_is_retried(sandbox):
    configure(sandbox, faults={"apollo": {"fail_next": 1, "fail_next_kind": "malformed"}})
    page = client(sandbox).search_people(QUERY, 1)
    assert page.people and page.response.attempts == 2


def test_unreadable_paid_answer_is_not_retried(sandbox):
    c = client(sandbox)
    ids = [p["id"] for p in c.search_people(QUERY, 1).people[:3]]
    configure(sandbox, faults={"apollo": {"fail_next": 1, "fail_next_kind": "malformed"}})
    with pytest.raises(UnreadablePaidResponse) as exc:
        c.bulk_match(ids)
    assert exc.value.text  # the body is kept for the landing table
    s = stats(sandbox)
    assert s["credits_consumed"] == 3 and s["rebought"] == {}  # charged once, never twice


def test_429_waits_retry_after_then_succeeds(sandbox):
    configure(sandbox, faults={"apollo": {"fail_next": 1, "fail_next_kind": "429"}})
    slept = []
    c = client(sandbox, sleep=slept.append)
    assert c.search_people(QUERY, 1).people
    assert slept == [1.0]  # the sandbox's Retry-After


def test_rate_headers_are_read_in_both_spellings(sandbox):
    page = client(sandbox).search_people(QUERY, 1)
    left = remaining_from_headers(page.response.headers)
    assert set(left) == {"minute", "hour", "day"}
    assert remaining_from_headers({"x-24-hour-requests-left": "7"}) == {"day": 7}
    assert remaining_from_headers({"x-minute-requests-left": "garbage"}) == {}


def test_client_limiter_prevents_429s_under_a_small_window(sandbox):
    configure(sandbox, limits={"apollo": {"search": {"minute": 5, "hour": 1000, "day": 10000}}},
              windows={"minute": 2, "hour": 3600, "day": 86400})
    c = ApolloClient(f"{sandbox.base_url}/apollo", "sandbox-apollo-key",
                     limits={"search": {"minute": 5}}, window_seconds={"minute": 2})
    for _ in range(12):
        c.search_people(QUERY, 1)
    s = stats(sandbox)
    assert s["responses_429"] == 0
    assert s["requests_total"] == 12


def test_422_is_not_retried(sandbox):
    configure(sandbox, search_cap=100, search_beyond_cap="422")
    c = client(sandbox)
    with pytest.raises(VendorRequestError, match="422"):
        c.search_people({"person_titles": ["Manager"]}, 5)
    assert stats(sandbox)["requests_total"] == 1
