"""Contract tests of the sandbox's Apollo emulator, over real HTTP with ``requests``.

One in-process sandbox (small population) serves the module; every test starts from a reset
(counters and the startup config restored), so tests can change config without leaking.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from pathlib import Path

import pytest
import requests

from lead_assets.sandbox import SandboxConfig, start_sandbox
from lead_assets.sandbox.launcher import ensure_sandbox, health, stop_sandbox
from lead_assets.sandbox.population import Population, canonical_slug, linkedin_url

KEY = "sandbox-apollo-key"
HEADERS = {"x-api-key": KEY, "Content-Type": "application/json", "Cache-Control": "no-cache"}
SEARCH = "/apollo/api/v1/mixed_people/api_search"
BULK = "/apollo/api/v1/people/bulk_match"
METROS = [
    "New York, New York",
    "Los Angeles, California",
    "Chicago, Illinois",
    "San Francisco, California",
    "Austin, Texas",
    "Dallas, Texas",
    "Houston, Texas",
    "Boston, Massachusetts",
    "Seattle, Washington",
    "Atlanta, Georgia",
    "Miami, Florida",
    "Denver, Colorado",
]
ROLE_TITLES = [
    "Performance Marketing Manager",
    "Paid Media Manager",
    "PPC Manager",
    "Media Buyer",
    "Paid Search Manager",
    "Paid Social Manager",
    "SEM Manager",
    "Growth Marketing Manager",
    "Digital Marketing Manager",
    "User Acquisition Manager",
]
SEARCH_ROW_KEYS = {
    "id",
    "first_name",
    "last_name_obfuscated",
    "title",
    "last_refreshed_at",
    "has_email",
    "has_city",
    "has_state",
    "has_country",
    "has_direct_phone",
    "organization",
}
ORG_ROW_KEYS = {
    "name",
    "has_industry",
    "has_phone",
    "has_city",
    "has_state",
    "has_country",
    "has_zip_code",
    "has_revenue",
    "has_employee_count",
}
RATE_HEADER_NAMES = [
    "x-rate-limit-minute",
    "x-minute-usage",
    "x-minute-requests-left",
    "x-rate-limit-hourly",
    "x-hourly-usage",
    "x-hourly-requests-left",
    "x-rate-limit-daily",
    "x-daily-usage",
    "x-daily-requests-left",
    "x-rate-limit-24-hour",
    "x-24-hour-usage",
    "x-24-hour-requests-left",
]


@pytest.fixture(scope="module")
def sandbox():
    server = start_sandbox(SandboxConfig(seed=11, population=1500))
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def fresh(sandbox):
    requests.post(f"{sandbox.base_url}/__sandbox/reset", json={"config": True}, timeout=5).raise_for_status()
    yield


def post(sandbox, path, body=None, headers=HEADERS, **kwargs):
    return requests.post(f"{sandbox.base_url}{path}", json=body, headers=headers, timeout=10, **kwargs)


def configure(sandbox, patch):
    resp = requests.post(f"{sandbox.base_url}/__sandbox/config", json=patch, timeout=5)
    assert resp.status_code == 200, resp.text
    return resp.json()


def stats(sandbox):
    return requests.get(f"{sandbox.base_url}/__sandbox/stats", timeout=5).json()["vendors"]["apollo"]


def search_all(sandbox, body):
    """Every id a paged search returns (per_page 100)."""
    ids, page = [], 1
    while True:
        resp = post(sandbox, SEARCH, {**body, "page": page, "per_page": 100})
        assert resp.status_code == 200, resp.text
        people = resp.json()["people"]
        if not people:
            return ids, resp.json()["total_entries"]
        ids += [p["id"] for p in people]
        page += 1


# -- api_search ------------------------------------------------------------------------------


def test_search_row_shape_is_the_locked_api_search_shape(sandbox):
    resp = post(sandbox, SEARCH, {"person_titles": ROLE_TITLES, "person_locations": METROS, "per_page": 25})
    assert resp.status_code == 200
    body = resp.json()
    assert set(body) == {"total_entries", "people"}  # no pagination object
    assert isinstance(body["total_entries"], int) and body["total_entries"] > 25
    assert len(body["people"]) == 25
    for row in body["people"]:
        assert set(row) == SEARCH_ROW_KEYS  # no email, linkedin_url or last_name
        assert set(row["organization"]) == ORG_ROW_KEYS
        assert re.fullmatch(r"[0-9a-f]{24}", row["id"])
        assert re.fullmatch(r".{1,2}\*\*\*.?", row["last_name_obfuscated"])
        assert row["has_direct_phone"] in ("Yes", "Maybe: please request direct dial via people/bulk_match")
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", row["last_refreshed_at"])
    ids = [row["id"] for row in body["people"]]
    assert ids == sorted(ids)  # deterministic order


def test_pagination_returns_every_match_once_in_id_order(sandbox):
    body = {"person_titles": ["PPC Manager", "Media Buyer"], "person_locations": METROS}
    ids, total = search_all(sandbox, body)
    assert len(ids) == total == len(set(ids))
    assert ids == sorted(ids)
    page2 = post(sandbox, SEARCH, {**body, "page": 2, "per_page": 7}).json()["people"]
    assert [p["id"] for p in page2] == ids[7:14]


def test_per_page_above_100_is_silently_100(sandbox):
    resp = post(sandbox, SEARCH, {"per_page": 500})
    assert resp.status_code == 200
    assert len(resp.json()["people"]) == 100
    assert resp.json()["total_entries"] == 1500


def test_display_cap_hides_rows_but_reports_the_true_total(sandbox):
    configure(sandbox, {"search_cap": 250})
    sizes = [len(post(sandbox, SEARCH, {"page": p, "per_page": 100}).json()["people"]) for p in (1, 2, 3, 4)]
    assert sizes == [100, 100, 50, 0]
    beyond = post(sandbox, SEARCH, {"page": 4, "per_page": 100}).json()
    assert beyond == {"total_entries": 1500, "people": []}
    configure(sandbox, {"search_beyond_cap": "422"})
    resp = post(sandbox, SEARCH, {"page": 4, "per_page": 100})
    assert resp.status_code == 422
    assert resp.json() == {"error": "Invalid parameters"}


def test_similar_titles_match_on_words_and_exact_titles_on_equality(sandbox):
    pop = sandbox.population
    ids, _ = search_all(sandbox, {"person_titles": ["PPC Manager"]})
    titles = [pop.by_id[i].title for i in ids]
    assert titles and all({"ppc", "manager"} <= set(re.findall(r"[a-z0-9]+", t.lower())) for t in titles)
    assert any(t.lower() != "ppc manager" for t in titles)  # "Senior PPC Manager" and friends
    exact, _ = search_all(sandbox, {"person_titles": ["PPC Manager"], "include_similar_titles": False})
    assert exact and all(pop.by_id[i].title.lower() == "ppc manager" for i in exact)
    assert set(exact) < set(ids)
    expected = [p.id for p in pop.people if p.title and p.title.strip().lower() == "ppc manager"]
    assert exact == expected


def test_location_filters_city_state_country(sandbox):
    pop = sandbox.population
    austin, _ = search_all(sandbox, {"person_locations": ["Austin, Texas"]})
    assert austin and all((pop.by_id[i].city, pop.by_id[i].state_name) == ("Austin", "Texas") for i in austin)
    assert {pop.by_id[i].state for i in austin} == {"Texas", "TX"}  # both spellings found
    texas, _ = search_all(sandbox, {"person_locations": ["texas"]})
    assert set(austin) < set(texas)
    assert all(pop.by_id[i].state_name == "Texas" for i in texas)
    us, _ = search_all(sandbox, {"person_locations": ["united states"]})
    non_us = [p.id for p in pop.people if p.country != "United States"]
    assert non_us and len(us) == 1500 - len(non_us)
    assert not set(us) & set(non_us)
    both, _ = search_all(
        sandbox, {"person_titles": ["Media Buyer"], "person_locations": ["Austin, Texas", "Miami, Florida"]}
    )
    assert all(
        pop.by_id[i].city in ("Austin", "Miami") and "buyer" in pop.by_id[i].title.lower() for i in both
    )


def test_query_parameters_with_brackets_equal_the_json_body(sandbox):
    body = {
        "person_titles": ["Paid Social Manager", "SEM Manager"],
        "person_locations": ["California"],
        "per_page": 50,
    }
    from_body = post(sandbox, SEARCH, body).json()
    params = [("person_titles[]", t) for t in body["person_titles"]] + [
        ("person_locations[]", "California"),
        ("per_page", "50"),
    ]
    from_query = requests.post(
        f"{sandbox.base_url}{SEARCH}", params=params, headers={"x-api-key": KEY}, timeout=10
    ).json()
    assert from_query == from_body
    assert from_body["total_entries"] > 0


def test_root_mount_and_legacy_v1_paths_answer_too(sandbox):
    a = post(sandbox, SEARCH, {"per_page": 5}).json()
    b = post(sandbox, "/api/v1/mixed_people/api_search", {"per_page": 5}).json()
    assert a == b
    resp = post(sandbox, "/apollo/v1/people/match", {"id": a["people"][0]["id"]})
    assert resp.status_code == 200 and resp.json()["person"]["id"] == a["people"][0]["id"]


def test_bad_request_bodies_get_422_and_the_server_survives(sandbox):
    resp = requests.post(
        f"{sandbox.base_url}{SEARCH}", data=b'{"person_titles": [', headers=HEADERS, timeout=5
    )
    assert resp.status_code == 422 and resp.json() == {"error": "Invalid parameters"}
    assert post(sandbox, SEARCH, {"page": "two"}).status_code == 422
    assert post(sandbox, SEARCH, ["not", "an", "object"]).status_code == 422
    assert (
        requests.post(f"{sandbox.base_url}{BULK}", data=b"\xff\xfe", headers=HEADERS, timeout=5).status_code
        == 422
    )
    assert post(sandbox, "/apollo/api/v1/nope", {}).status_code == 404
    assert post(sandbox, SEARCH, {"per_page": 1}).status_code == 200


# -- bulk_match ------------------------------------------------------------------------------


def test_bulk_match_shape_credits_and_nulls(sandbox):
    ids = [
        p["id"] for p in post(sandbox, SEARCH, {"person_titles": ROLE_TITLES, "per_page": 3}).json()["people"]
    ]
    details = [{"id": i} for i in ids] + [{"id": "0" * 24}]
    resp = post(
        sandbox, BULK, {"details": details, "reveal_personal_emails": False, "reveal_phone_number": False}
    )
    assert resp.status_code == 200
    body = resp.json()
    assert {k: body[k] for k in body if k != "matches"} == {
        "status": "success",
        "error_code": None,
        "error_message": None,
        "total_requested_enrichments": 4,
        "unique_enriched_records": 3,
        "missing_records": 1,
        "credits_consumed": 3,
    }
    assert [m["id"] if m else None for m in body["matches"]] == [*ids, None]  # input order, null for a miss
    person = body["matches"][0]
    for key in (
        "id",
        "first_name",
        "last_name",
        "name",
        "linkedin_url",
        "title",
        "email_status",
        "email",
        "headline",
        "photo_url",
        "twitter_url",
        "github_url",
        "facebook_url",
        "city",
        "state",
        "country",
        "organization_id",
        "organization",
        "seniority",
        "departments",
        "employment_history",
    ):
        assert key in person
    assert "personal_emails" not in person
    assert person["name"] == f"{person['first_name']} {person['last_name']}"
    assert person["email_status"] in ("verified", "unverified", "unavailable", None)
    for key in (
        "id",
        "name",
        "website_url",
        "linkedin_url",
        "primary_domain",
        "industry",
        "estimated_num_employees",
        "phone",
        "city",
        "state",
        "country",
    ):
        assert key in person["organization"]
    first = stats(sandbox)
    assert first["credits_consumed"] == 3 and first["rebought"] == {}
    # Buying the same people again costs again, and the stats say so.
    post(sandbox, BULK, {"details": [{"id": i} for i in ids[:2]]})
    again = stats(sandbox)
    assert again["credits_consumed"] == 5
    assert again["rebought"] == {ids[0]: 2, ids[1]: 2}
    assert again["purchases"][ids[2]] == 1


def test_bulk_match_finds_people_by_linkedin_email_and_name(sandbox):
    pop = sandbox.population
    with_email = next(
        p
        for p in pop.people
        if p.email_kind == "valid"
        and p.linkedin_slug
        and p.duplicate_of is None
        and len(pop.by_real_id[p.real_id]) == 1
    )
    with_slug = next(
        p
        for p in pop.people
        if p.linkedin_slug and len(pop.by_slug[p.linkedin_slug]) == 1 and p.id != with_email.id
    )
    details = [
        {"linkedin_url": linkedin_url(with_slug.linkedin_slug, 6)},  # upper-case variant
        {"email": with_email.email.upper()},
        {
            "first_name": with_email.first_name,
            "last_name": with_email.last_name,
            "domain": f"www.{with_email.company.domain}",
        },
        {
            "name": f"{with_email.first_name} {with_email.last_name}",
            "organization_name": with_email.company.name,
        },
        {"linkedin_url": "https://www.linkedin.com/in/nobody-here-000"},
        {"email": "someone@example.com"},
    ]
    matches = post(sandbox, BULK, {"details": details}).json()["matches"]
    assert [m["id"] if m else None for m in matches] == [with_slug.id, *[with_email.id] * 3, None, None]


def test_bulk_match_rejects_more_than_ten_details(sandbox):
    resp = post(sandbox, BULK, {"details": [{"id": p.id} for p in sandbox.population.people[:11]]})
    assert resp.status_code == 422
    assert isinstance(resp.json()["error"], str) and "10" in resp.json()["error"]
    assert stats(sandbox)["credits_consumed"] == 0
    assert post(sandbox, BULK, {"details": []}).status_code == 422


def test_linkedin_urls_vary_across_answers_but_share_one_slug(sandbox):
    configure(sandbox, {"linkedin_variant_rate": 0.9})
    person = next(p for p in sandbox.population.people if p.linkedin_slug and not p.linkedin_form)
    urls = {
        post(sandbox, BULK, {"details": [{"id": person.id}]}).json()["matches"][0]["linkedin_url"]
        for _ in range(12)
    }
    assert len(urls) > 2
    assert {canonical_slug(u) for u in urls} == {person.linkedin_slug}


def test_personal_emails_only_on_request(sandbox):
    person = next(p for p in sandbox.population.people if p.personal_email)
    hidden = post(sandbox, BULK, {"details": [{"id": person.id}]}).json()["matches"][0]
    shown = post(sandbox, BULK, {"details": [{"id": person.id}], "reveal_personal_emails": True}).json()[
        "matches"
    ][0]
    assert "personal_emails" not in hidden and shown["personal_emails"] == [person.personal_email]
    assert (
        post(sandbox, BULK, {"details": [{"id": person.id}], "reveal_phone_number": True}).status_code == 422
    )


# -- auth ------------------------------------------------------------------------------------


def test_missing_or_unknown_key_is_401_plain_text(sandbox):
    for headers in ({}, {"x-api-key": "wrong"}, {"Authorization": "Bearer wrong"}):
        resp = requests.post(f"{sandbox.base_url}{SEARCH}", json={}, headers=headers, timeout=5)
        assert resp.status_code == 401
        assert resp.text == "Invalid access credentials."
        assert resp.headers["Content-Type"].startswith("text/plain")
    ok = requests.post(
        f"{sandbox.base_url}{SEARCH}", json={}, headers={"Authorization": f"Bearer {KEY}"}, timeout=5
    )
    assert ok.status_code == 200


def test_non_master_key_is_403_on_search_only(sandbox):
    configure(sandbox, {"keys": {"apollo": {"non_master": ["plain-key"]}}})
    headers = {"x-api-key": "plain-key"}
    resp = post(sandbox, SEARCH, {}, headers=headers)
    assert resp.status_code == 403
    assert resp.json() == {
        "error": "api/v1/mixed_people/api_search is not accessible with this api_key",
        "error_code": "API_INACCESSIBLE",
    }
    assert (
        post(
            sandbox, BULK, {"details": [{"id": sandbox.population.people[0].id}]}, headers=headers
        ).status_code
        == 200
    )


# -- rate limits -----------------------------------------------------------------------------


def test_every_answer_carries_rate_headers_and_429_names_endpoint_limit_and_window(sandbox):
    configure(sandbox, {"windows": {"minute": 30}, "limits": {"apollo": {"search": {"minute": 3}}}})
    lefts = []
    for _ in range(3):
        resp = post(sandbox, SEARCH, {"per_page": 1})
        assert resp.status_code == 200
        assert all(name in resp.headers for name in RATE_HEADER_NAMES)
        assert resp.headers["x-daily-usage"] == resp.headers["x-24-hour-usage"]
        lefts.append(int(resp.headers["x-minute-requests-left"]))
    assert lefts == [2, 1, 0]
    resp = post(sandbox, SEARCH, {"per_page": 1})
    assert resp.status_code == 429
    assert resp.json() == {
        "message": "The maximum number of api calls allowed for api/v1/mixed_people/api_search "
        "is 3 times per minute. Please upgrade your plan from "
        "https://app.apollo.io/#/settings/plans/upgrade."
    }
    assert 1 <= int(resp.headers["Retry-After"]) <= 30
    assert resp.headers["x-minute-usage"] == "3"  # the rejected call was not counted
    # Enrichment has its own bucket.
    assert post(sandbox, BULK, {"details": [{"id": sandbox.population.people[0].id}]}).status_code == 200
    s = stats(sandbox)
    assert s["rate_limited"] == {"search": 1} and s["responses_429"] == 1
    assert s["peak_rate"]["search"]["minute"] == {"used": 3, "attempts": 4}


def test_hourly_limit_message_and_window_reset(sandbox):
    configure(
        sandbox,
        {"windows": {"minute": 1, "hour": 2}, "limits": {"apollo": {"search": {"minute": 50, "hour": 2}}}},
    )
    assert [post(sandbox, SEARCH, {"per_page": 1}).status_code for _ in range(2)] == [200, 200]
    resp = post(sandbox, SEARCH, {"per_page": 1})
    assert resp.status_code == 429
    assert "is 2 times per hour." in resp.json()["message"]
    time.sleep(int(resp.headers["Retry-After"]))
    assert post(sandbox, SEARCH, {"per_page": 1}).status_code == 200


def test_retry_after_can_be_switched_off(sandbox):
    configure(
        sandbox,
        {
            "send_retry_after": False,
            "windows": {"minute": 30},
            "limits": {"apollo": {"enrichment": {"minute": 1}}},
        },
    )
    body = {"details": [{"id": sandbox.population.people[0].id}]}
    assert post(sandbox, BULK, body).status_code == 200
    resp = post(sandbox, BULK, body)
    assert resp.status_code == 429 and "Retry-After" not in resp.headers
    assert "api/v1/people/bulk_match is 1 times per minute" in resp.json()["message"]
    assert stats(sandbox)["credits_consumed"] == 1


# -- faults ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind,status", [("500", 500), ("502", 502), ("503", 503), ("429", 429), ("malformed", 200)]
)
def test_fail_next_injects_each_fault_kind_then_recovers(sandbox, kind, status):
    configure(sandbox, {"faults": {"apollo": {"fail_next": 2, "fail_next_kind": kind}}})
    for _ in range(2):
        resp = post(sandbox, SEARCH, {"per_page": 2})
        assert resp.status_code == status
        if kind == "malformed":
            with pytest.raises(ValueError):
                json.loads(resp.text)
        if kind == "429":
            assert (
                resp.headers["Retry-After"] == "1" and "maximum number of api calls" in resp.json()["message"]
            )
        if kind in ("502", "503"):
            assert resp.headers["Content-Type"].startswith("text/html")
    assert post(sandbox, SEARCH, {"per_page": 2}).json()["people"]
    assert stats(sandbox)["injected_faults"] == {kind: 2}


def test_slow_fault_delays_the_answer(sandbox):
    configure(sandbox, {"faults": {"apollo": {"rate_slow": 1.0, "slow_ms": 300}}})
    started = time.monotonic()
    assert post(sandbox, SEARCH, {"per_page": 1}).status_code == 200
    assert time.monotonic() - started >= 0.3


def test_fault_rates_and_path_filter(sandbox):
    configure(sandbox, {"faults": {"apollo": {"rate_503": 1.0, "paths": ["bulk_match"]}}})
    assert post(sandbox, SEARCH, {"per_page": 1}).status_code == 200
    resp = post(sandbox, BULK, {"details": [{"id": sandbox.population.people[0].id}]})
    assert resp.status_code == 503
    assert stats(sandbox)["credits_consumed"] == 0  # failed before the vendor handled it
    configure(sandbox, {"faults": {"apollo": {"rate_503": 0.0, "rate_500": 0.5, "paths": []}}})
    codes = [post(sandbox, SEARCH, {"per_page": 1}).status_code for _ in range(40)]
    assert 5 < codes.count(500) < 35 and codes.count(200) == 40 - codes.count(500)


def test_malformed_answer_from_bulk_match_still_charged(sandbox):
    configure(sandbox, {"faults": {"apollo": {"fail_next": 1, "fail_next_kind": "malformed"}}})
    resp = post(sandbox, BULK, {"details": [{"id": sandbox.population.people[0].id}]})
    assert resp.status_code == 200
    with pytest.raises(ValueError):
        resp.json()
    assert stats(sandbox)["credits_consumed"] == 1


def test_config_rejects_unknown_and_immutable_keys(sandbox):
    for patch in (
        {"nope": 1},
        {"seed": 99},
        {"faults": {"apollo": {"rate_5000": 1}}},
        {"faults": {"apollo": {"fail_next_kind": "teapot"}}},
    ):
        resp = requests.post(f"{sandbox.base_url}/__sandbox/config", json=patch, timeout=5)
        assert resp.status_code == 400, patch
        assert "error" in resp.json()
    assert requests.get(f"{sandbox.base_url}/__sandbox/health", timeout=5).json()["ok"] is True


# -- population and ground truth --------------------------------------------------------------


def test_population_is_deterministic_fast_and_flawed_as_documented():
    started = time.monotonic()
    a = Population.build(seed=5, size=6000)
    elapsed = time.monotonic() - started
    b = Population.build(seed=5, size=6000)
    assert elapsed < 4.0  # < 2 s on a normal machine; slack for loaded CI
    assert a.people == b.people
    assert Population.build(seed=6, size=300).people != Population.build(seed=5, size=300).people
    assert Population.generate(seed=5, size=300) is Population.generate(seed=5, size=300)
    rates = a.summary()["rates"]
    assert 0.50 <= rates["email_missing"] <= 0.60
    assert 0.02 <= rates["email_malformed"] <= 0.045
    assert 0.10 <= rates["company_gap"] <= 0.14
    assert 0.70 <= rates["title_target"] <= 0.80
    assert 0.84 <= rates["location_metro"] <= 0.92
    assert 0.03 <= rates["location_non_us"] <= 0.07
    assert 0.015 <= rates["duplicate_record"] <= 0.025
    assert rates["hostile_string"] > 0 and rates["title_none"] > 0 and rates["missing_linkedin"] > 0
    assert 0.6 <= rates["metro_and_target"] <= 0.7
    assert all(re.fullmatch(r"[0-9a-f]{24}", p.id) for p in a.people)
    assert len({p.id for p in a.people}) == 6000
    # Duplicates: a second id for one real person, linked by slug or email.
    dupes = [p for p in a.people if p.duplicate_of]
    for dupe in dupes:
        original = a.by_id[dupe.duplicate_of]
        assert dupe.real_id == original.real_id and dupe.id != original.id
        assert (dupe.linkedin_slug and dupe.linkedin_slug == original.linkedin_slug) or (
            dupe.email and dupe.email.lower() == original.email.lower()
        )


def test_ground_truth_matches_a_full_search(sandbox):
    filters = {"person_titles": ROLE_TITLES, "person_locations": METROS}
    ids, total = search_all(sandbox, filters)
    params = [("titles", t) for t in ROLE_TITLES] + [("locations", m) for m in METROS]
    truth = requests.get(f"{sandbox.base_url}/__sandbox/ground_truth", params=params, timeout=10).json()
    assert truth["total_entries"] == total == truth["reachable_entries"]
    assert sorted(i for person in truth["people"] for i in person["apollo_ids"]) == sorted(ids)
    assert truth["distinct_people"] == len(truth["people"]) <= total
    assert len({p["real_id"] for p in truth["people"]}) == truth["distinct_people"]
    assert any(len(p["apollo_ids"]) == 2 for p in truth["people"])  # duplicates to find
    for person in truth["people"]:
        assert (
            person["canonical_slug"] is None or person["canonical_slug"] == person["canonical_slug"].lower()
        )
        assert person["email"] is None or "@" in person["email"]
    # POST with the search's own parameter names gives the same answer; the cap limits reachability.
    configure(sandbox, {"search_cap": 100})
    capped = requests.post(f"{sandbox.base_url}/__sandbox/ground_truth", json=filters, timeout=10).json()
    assert capped["total_entries"] == total and capped["reachable_entries"] == 100
    assert sorted(i for p in capped["people"] for i in p["apollo_ids"]) == sorted(ids)[:100]


def test_stats_reset_keeps_population(sandbox):
    post(sandbox, SEARCH, {"per_page": 1})
    assert stats(sandbox)["requests"] == {"mixed_people/api_search": {"200": 1}}
    requests.post(f"{sandbox.base_url}/__sandbox/reset", timeout=5)
    assert stats(sandbox)["requests"] == {}
    summary = requests.get(f"{sandbox.base_url}/__sandbox/population", timeout=5).json()
    assert summary["records"] == 1500 and summary["seed"] == 11


# -- launcher --------------------------------------------------------------------------------


def test_ensure_sandbox_starts_once_reuses_and_stops(tmp_path: Path):
    state = tmp_path / "sandbox.json"
    state.write_text(json.dumps({"url": "http://127.0.0.1:9", "pid": 2**22 + 1}))  # stale: nobody answers
    urls: list[str] = []
    threads = [
        threading.Thread(target=lambda: urls.append(ensure_sandbox(state, population=300, seed=3)))
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    try:
        assert len(urls) == 2 and urls[0] == urls[1]
        assert ensure_sandbox(state, population=300) == urls[0]
        recorded = json.loads(state.read_text())
        assert recorded["url"] == urls[0] and recorded["pid"] != os.getpid()
        info = health(urls[0])
        assert info["ok"] is True and info["population"] == 300 and info["pid"] == recorded["pid"]
        resp = requests.post(f"{urls[0]}{SEARCH}", json={"per_page": 5}, headers=HEADERS, timeout=5)
        assert resp.json()["total_entries"] == 300
        with pytest.raises(RuntimeError):
            ensure_sandbox(state, population=301)
        assert (tmp_path / "sandbox.log").exists()
    finally:
        assert stop_sandbox(state) is True
    assert not state.exists()
    assert health(urls[0], timeout=0.5) is None
    assert stop_sandbox(state) is False
