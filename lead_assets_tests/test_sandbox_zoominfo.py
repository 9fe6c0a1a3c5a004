"""Contract tests of the sandbox's ZoomInfo emulator, over real HTTP with ``requests``.

One in-process sandbox (small population) serves the module; every test starts from a reset
(tokens, counters, windows and the startup config restored).
"""

from __future__ import annotations

import base64
import json
import time
from collections import Counter

import pytest
import requests

from lead_assets.sandbox import SandboxConfig, start_sandbox
from lead_assets.sandbox.population import canonical_slug
from lead_assets.sandbox.zoominfo import (
    COVERAGE,
    ENRICH_OUTPUT_FIELDS,
    NICKNAMES,
    ZoomInfoWorld,
    world_for,
)

USER, PASSWORD = "sandbox-zoominfo-user", "sandbox-zoominfo-password"
SEARCH_ROW_KEYS = {
    "id", "firstName", "middleName", "lastName", "validDate", "lastUpdatedDate", "jobTitle",
    "contactAccuracyScore", "hasEmail", "hasSupplementalEmail", "hasDirectPhone", "hasMobilePhone",
    "hasCompanyIndustry", "hasCompanyPhone", "hasCompanyStreet", "hasCompanyState", "hasCompanyZipCode",
    "hasCompanyCountry", "hasCompanyRevenue", "hasCompanyEmployeeCount", "directPhoneDoNotCall",
    "mobilePhoneDoNotCall", "company",
}
TITLES = "PPC Manager OR ppc lead OR Paid Search Manager OR Media Buyer OR Digital Marketing Manager"


@pytest.fixture(scope="module")
def sandbox():
    with start_sandbox(SandboxConfig(population=1500)) as sb:
        yield sb


@pytest.fixture(autouse=True)
def reset(sandbox):
    requests.post(f"{sandbox.base_url}/__sandbox/reset", json={"config": True}, timeout=5)


def url(sandbox, path):
    return f"{sandbox.url('zoominfo')}{path}"


def configure(sandbox, **changes):
    r = requests.post(f"{sandbox.base_url}/__sandbox/config", json=changes, timeout=5)
    assert r.status_code == 200, r.text


def settings(sandbox, **changes):
    r = requests.post(url(sandbox, "/__sandbox/settings"), json=changes, timeout=5)
    assert r.status_code == 200, r.text


def stats(sandbox):
    return requests.get(f"{sandbox.base_url}/__sandbox/stats", timeout=5).json()["vendors"]["zoominfo"]


def login(sandbox) -> dict[str, str]:
    r = requests.post(url(sandbox, "/authenticate"), data={"username": USER, "password": PASSWORD}, timeout=5)
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['jwt']}"}


def claims(token: str) -> dict:
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def search(sandbox, headers, **body):
    return requests.post(url(sandbox, "/search/contact"), json=body, headers=headers, timeout=10)


def enrich(sandbox, headers, inputs, fields=("firstName", "email", "externalUrls")):
    body = {"matchPersonInput": inputs, "outputFields": list(fields)}
    return requests.post(url(sandbox, "/enrich/contact"), json=body, headers=headers, timeout=10)


def all_ids(sandbox, headers, **filters):
    first = search(sandbox, headers, **filters, rpp=100, page=1).json()
    ids = [c["id"] for c in first["data"]]
    for page in range(2, -(-first["totalResults"] // 100) + 1):
        ids += [c["id"] for c in search(sandbox, headers, **filters, rpp=100, page=page).json()["data"]]
    return first["totalResults"], ids


def assert_gateway_error(resp, status, code):
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    assert error["code"] == code and error["status"] == status
    assert {"message", "requestId", "retryable"} <= set(error)


# -- auth -------------------------------------------------------------------------------------


def test_authenticate_form_or_json_gives_a_jwt_with_the_configured_lifetime(sandbox):
    r = requests.post(url(sandbox, "/authenticate"), data={"username": USER, "password": PASSWORD}, timeout=5)
    c = claims(r.json()["jwt"])
    assert c["username"] == USER and c["exp"] - c["iat"] in (3599, 3600)
    settings(sandbox, jwt_ttl_seconds=120)
    r = requests.post(url(sandbox, "/authenticate"), json={"username": USER, "password": PASSWORD}, timeout=5)
    c = claims(r.json()["jwt"])
    assert c["exp"] - c["iat"] in (119, 120)
    # the root mount answers too (a client whose base URL is the vendor's host)
    root = requests.post(f"{sandbox.base_url}/authenticate", data={"username": USER, "password": PASSWORD}, timeout=5)
    assert root.status_code == 200 and "jwt" in root.json()


def test_wrong_or_missing_credentials_are_401_in_the_gateway_shape(sandbox):
    r = requests.post(url(sandbox, "/authenticate"), data={"username": USER, "password": "nope"}, timeout=5)
    assert_gateway_error(r, 401, "ZI0001")
    assert_gateway_error(requests.post(url(sandbox, "/authenticate"), timeout=5), 401, "ZI0001")
    assert_gateway_error(requests.get(url(sandbox, "/authenticate"), timeout=5), 404, "ZI9998")
    assert stats(sandbox)["auth_failures"] == 2


def test_pki_client_jwt_is_exchanged_for_an_access_jwt(sandbox):
    def client_jwt(**overrides):
        body = {"aud": "enterprise_api", "iss": "api-client@zoominfo.com", "iat": int(time.time()),
                "exp": int(time.time()) + 300, "client_id": "sandbox-zoominfo-client", "username": USER}
        body.update(overrides)
        enc = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()  # noqa: E731
        return f"{enc({'alg': 'RS256'})}.{enc(body)}.c2lnbmF0dXJl"

    ok = requests.post(url(sandbox, "/authenticate"), headers={"Authorization": f"Bearer {client_jwt()}"}, timeout=5)
    assert ok.status_code == 200 and claims(ok.json()["jwt"])["username"] == USER
    for bad in ({"client_id": "someone"}, {"aud": "other"}, {"exp": int(time.time()) - 1}):
        r = requests.post(url(sandbox, "/authenticate"),
                          headers={"Authorization": f"Bearer {client_jwt(**bad)}"}, timeout=5)
        assert_gateway_error(r, 401, "ZI0001")


def test_missing_invalid_and_expired_jwts_are_401(sandbox):
    assert_gateway_error(search(sandbox, {}, jobTitle="PPC Manager"), 401, "ZI0002")
    assert_gateway_error(search(sandbox, {"Authorization": "Bearer x.y.z"}, jobTitle="PPC Manager"), 401, "ZI0002")
    headers = login(sandbox)
    assert search(sandbox, headers, jobTitle="PPC Manager").status_code == 200
    assert requests.post(url(sandbox, "/__sandbox/expire_tokens"), timeout=5).json() == {"expired": 1}
    assert_gateway_error(search(sandbox, headers, jobTitle="PPC Manager"), 401, "ZI0003")
    settings(sandbox, jwt_ttl_seconds=0.3)
    short = login(sandbox)
    time.sleep(0.4)
    assert_gateway_error(search(sandbox, short, jobTitle="PPC Manager"), 401, "ZI0003")


# -- search -----------------------------------------------------------------------------------


def test_search_envelope_rows_and_paging(sandbox):
    headers = login(sandbox)
    r = search(sandbox, headers, jobTitle=TITLES, rpp=7, page=1)
    body = r.json()
    assert set(body) == {"maxResults", "totalResults", "currentPage", "data"}
    assert body["maxResults"] == 7 and body["currentPage"] == 1 and len(body["data"]) == 7
    for row in body["data"]:
        assert set(row) == SEARCH_ROW_KEYS
        assert set(row["company"]) == {"id", "name"}
        assert isinstance(row["id"], int) and len(str(row["id"])) == 10
    total, ids = all_ids(sandbox, headers, jobTitle=TITLES)
    assert len(ids) == len(set(ids)) == total > 100
    assert ids == sorted(ids)
    past = search(sandbox, headers, jobTitle=TITLES, rpp=100, page=99).json()
    assert past["data"] == [] and past["totalResults"] == total


def test_display_cap_hides_rows_but_keeps_the_total(sandbox):
    settings(sandbox, search_cap=30)
    headers = login(sandbox)
    total, ids = all_ids(sandbox, headers, jobTitle=TITLES)
    assert total > 30 and len(ids) == 30


def test_bad_search_requests_are_400_json_api_or_404_zi9998(sandbox):
    headers = login(sandbox)
    for body in ({"jobTitle": "x", "rpp": 101}, {"rpp": 0}, {"page": 0}, {"person_titles": ["x"]},
                 {"locationSearchType": "Anywhere"}, {"managementLevel": "Boss"}, {"rpp": "many"}):
        r = search(sandbox, headers, **body)
        assert r.status_code == 400, body
        payload = r.json()
        assert {"title", "detail", "errors"} <= set(payload)
        assert payload["errors"][0]["code"].startswith("PFAPI")
    r = requests.post(url(sandbox, "/search/contact"), data="{not json", headers=headers, timeout=5)
    assert r.status_code == 400
    assert_gateway_error(requests.get(url(sandbox, "/search/contact"), headers=headers, timeout=5), 404, "ZI9998")
    assert_gateway_error(requests.put(url(sandbox, "/enrich/contact"), headers=headers, timeout=5), 404, "ZI9998")
    fields = requests.get(url(sandbox, "/lookup/inputfields/contact/search"), headers=headers, timeout=5).json()
    assert {"jobTitle", "metroRegion", "state", "rpp"} <= {f["fieldName"] for f in fields}


def test_title_and_location_filters(sandbox):
    headers = login(sandbox)
    either = all_ids(sandbox, headers, jobTitle="PPC Manager OR ppc lead")
    ppc_manager = all_ids(sandbox, headers, jobTitle="PPC Manager")
    assert either[0] > ppc_manager[0] > 0
    metros = [all_ids(sandbox, headers, jobTitle=TITLES, metroRegion=m) for m in ("usa.texas.austin", "US - TX - Austin")]
    assert metros[0][0] > 0 and all(m == metros[0] for m in metros)
    state_name = all_ids(sandbox, headers, jobTitle=TITLES, state="Texas")
    state_code = all_ids(sandbox, headers, jobTitle=TITLES, state="TX")
    assert state_name == state_code and state_name[0] > metros[0][0]
    both = all_ids(sandbox, headers, jobTitle=TITLES, metroRegion="usa.texas.austin,usa.texas.dallas")
    dallas = all_ids(sandbox, headers, jobTitle=TITLES, metroRegion="usa.texas.dallas")
    assert both[0] == metros[0][0] + dallas[0]
    person = all_ids(sandbox, headers, jobTitle=TITLES, state="Texas", locationSearchType="Person")
    hq = all_ids(sandbox, headers, jobTitle=TITLES, state="Texas", locationSearchType="HQ")
    assert person != hq
    sized = all_ids(sandbox, headers, jobTitle=TITLES, employeeRangeMin="1", employeeRangeMax="50")
    assert 0 < sized[0] < all_ids(sandbox, headers, jobTitle=TITLES)[0]
    world = world_for(sandbox.population)
    for cid in sized[1]:
        assert 1 <= world.by_id[cid].company.employee_count <= 50


# -- enrich -----------------------------------------------------------------------------------


def test_enrich_statuses_fields_and_match_keys(sandbox):
    headers = login(sandbox)
    world = world_for(sandbox.population)
    good = [c for c in world.contacts if c.enrich_status == "FULL_MATCH" and c.email][:3]
    opted = next(c for c in world.contacts if c.opted_out)
    stale = next(c for c in world.contacts if c.stale)
    inputs = [
        {"personId": good[0].id},
        {"personId": str(good[1].id)},
        {"emailAddress": good[2].email.upper()},
        {"firstName": good[0].first_name, "lastName": good[0].last_name, "companyName": good[0].company.name},
        {"personId": opted.id},
        {"personId": stale.id},
        {"emailAddress": "nobody@nowhere.example"},
    ]
    r = enrich(sandbox, headers, inputs)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["success"] is True
    assert body["data"]["outputFields"] == ["id", "firstName", "email", "externalUrls"]
    result = body["data"]["result"]
    assert [x["matchStatus"] for x in result] == ["FULL_MATCH"] * 4 + ["OPT_OUT", "NO_MATCH", "NO_MATCH"]
    assert [x["input"] for x in result] == inputs
    got = [x["data"][0]["id"] for x in result[:4]]
    assert got == [good[0].id, good[1].id, good[2].id, good[0].id]
    assert all(set(x["data"][0]) == {"id", "firstName", "email", "externalUrls"} for x in result[:4])
    assert all(x["data"] == [] for x in result[4:])
    s = stats(sandbox)
    assert s["enrichment_matches"] == 4 and s["enrichment_opt_outs"] == 1 and s["enrichment_misses"] == 2
    assert s["credits_consumed"] == 3  # good[0] twice in one call: billed once, counted twice
    assert s["rebought"] == {str(good[0].id): 2}


def test_reenrichment_is_free_but_counted_as_a_rebuy(sandbox):
    headers = login(sandbox)
    cid = next(c.id for c in world_for(sandbox.population).contacts if c.enrich_status == "FULL_MATCH")
    enrich(sandbox, headers, [{"personId": cid}])
    enrich(sandbox, headers, [{"personId": cid}])
    s = stats(sandbox)
    assert s["credits_consumed"] == 1 and s["records_enriched"] == 2
    assert s["purchases"] == {str(cid): 2} and s["rebought"] == {str(cid): 2}
    settings(sandbox, management_window_seconds=0)  # outside the window: billed again
    enrich(sandbox, headers, [{"personId": cid}])
    assert stats(sandbox)["credits_consumed"] == 2


def test_enrich_validation(sandbox):
    headers = login(sandbox)
    too_many = [{"personId": i} for i in range(26)]
    r = enrich(sandbox, headers, too_many)
    assert r.status_code == 400 and "at most 25" in r.json()["detail"]
    assert enrich(sandbox, headers, [{"personId": 1}], fields=()).status_code == 400
    r = enrich(sandbox, headers, [{"personId": 1}], fields=("email", "shoeSize"))
    assert r.status_code == 400 and "shoeSize" in r.json()["detail"]
    r = requests.post(url(sandbox, "/enrich/contact"), json={"matchPersonInput": [{"personId": 1}]},
                      headers=headers, timeout=5)
    assert r.status_code == 400 and r.json()["errors"][0]["source"] == {"parameter": "outputFields"}
    assert enrich(sandbox, headers, ["1"]).status_code == 400
    assert stats(sandbox)["records_enriched"] == 0
    full = requests.get(url(sandbox, "/lookup/outputfields/contact/enrich"), headers=headers, timeout=5).json()
    assert [f["fieldName"] for f in full] == list(ENRICH_OUTPUT_FIELDS)


# -- windows ----------------------------------------------------------------------------------


def test_every_answer_carries_rate_headers_and_the_second_window_answers_429(sandbox):
    # A 1-hour "second" window keeps the test off a window boundary.
    configure(sandbox, limits={"zoominfo": {"api": {"second": 3}}}, windows={"second": 3600})
    headers = login(sandbox)
    answers = [search(sandbox, headers, jobTitle="PPC Manager", rpp=1) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    first = answers[0].headers
    assert first["X-RateLimit-Limit"] == "3" and first["X-RateLimit-Limit-Second"] == "3"
    assert first["X-RateLimit-Remaining-Second"] == "2"
    assert first["X-RateLimit-Limit-Hour"] == "54000" and first["X-RateLimit-Remaining-Hour"] == "53999"
    assert first["X-RateLimit-Limit-Day"] == "648000"
    assert_gateway_error(answers[3], 429, "ZI0004")
    assert int(answers[3].headers["Retry-After"]) >= 1
    # the rejected request used no quota in the other windows
    assert answers[3].headers["X-RateLimit-Remaining-Hour"] == "53997"
    assert stats(sandbox)["rate_limited"] == {"second": 1}
    # authenticate is not counted
    assert requests.post(url(sandbox, "/authenticate"), data={"username": USER, "password": PASSWORD},
                         timeout=5).status_code == 200


def test_sliding_hour_window_refuses_then_reopens(sandbox):
    configure(sandbox, limits={"zoominfo": {"api": {"hour": 3}}}, windows={"hour": 1.2})
    headers = login(sandbox)
    codes = [search(sandbox, headers, jobTitle="PPC Manager", rpp=1).status_code for _ in range(3)]
    refused = search(sandbox, headers, jobTitle="PPC Manager", rpp=1)
    assert codes == [200, 200, 200] and refused.status_code == 429
    assert "overall API query request limit" in refused.json()["error"]["message"]
    assert refused.headers["X-RateLimit-Remaining-Hour"] == "0"
    assert 1 <= int(refused.headers["Retry-After"]) <= 2
    time.sleep(1.3)
    assert search(sandbox, headers, jobTitle="PPC Manager", rpp=1).status_code == 200


# -- faults -----------------------------------------------------------------------------------


def test_injected_faults_use_the_gateway_shape_and_malformed_enrich_is_still_billed(sandbox):
    headers = login(sandbox)
    configure(sandbox, faults={"zoominfo": {"fail_next": 1, "fail_next_kind": "500"}})
    assert_gateway_error(search(sandbox, headers, jobTitle="PPC Manager"), 500, "ZI0500")
    configure(sandbox, faults={"zoominfo": {"fail_next": 1, "fail_next_kind": "429"}})
    r = search(sandbox, headers, jobTitle="PPC Manager")
    assert_gateway_error(r, 429, "ZI0004")
    assert r.headers["Retry-After"] == "1"
    cid = next(c.id for c in world_for(sandbox.population).contacts if c.enrich_status == "FULL_MATCH")
    configure(sandbox, faults={"zoominfo": {"fail_next": 1, "fail_next_kind": "malformed"}})
    r = enrich(sandbox, headers, [{"personId": cid}])
    assert r.status_code == 200
    with pytest.raises(ValueError):
        r.json()
    assert stats(sandbox)["purchases"] == {str(cid): 1}


# -- population and ground truth --------------------------------------------------------------


def test_population_overlaps_apollo_with_zoominfo_variants(sandbox):
    pop = sandbox.population
    world = world_for(pop)
    share = len(world.contacts) / len(pop.by_real_id)
    assert abs(share - COVERAGE) < 0.05
    assert [c.id for c in ZoomInfoWorld(pop).contacts] == [c.id for c in world.contacts]  # deterministic
    assert len({c.real_id for c in world.contacts}) == len(world.contacts)
    nick = [c for c in world.contacts if c.person.first_name in NICKNAMES]
    assert any(c.first_name == NICKNAMES[c.person.first_name] for c in nick)
    assert any(c.first_name == c.person.first_name for c in nick)
    assert 0.1 < sum(c.middle_name is not None for c in world.contacts) / len(world.contacts) < 0.3
    assert {type(c.accuracy_value) for c in world.contacts} == {int, str}
    assert any(c.title_drift for c in world.contacts)
    with_url = [c for c in world.contacts if c.linkedin]
    assert any(not c.linkedin.startswith("http") for c in with_url)
    assert len({c.linkedin_form for c in with_url}) > 3
    for c in with_url:  # ZoomInfo's URL forms name the same profile as Apollo's records
        assert canonical_slug(c.linkedin) == c.linkedin_slug
        assert c.linkedin_slug in {r.linkedin_slug for r in pop.by_real_id[c.real_id]}
    for c in world.contacts:
        assert c.email is None or c.email == c.person.work_email.lower()
    assert 0.6 < sum(c.email is not None for c in world.contacts) / len(world.contacts) < 0.8


def test_ground_truth_matches_a_full_search_and_names_both_vendors_ids(sandbox):
    headers = login(sandbox)
    titles = ["PPC Manager", "ppc lead", "Media Buyer"]
    locations = ["Austin, Texas", "New York, New York"]
    r = requests.post(f"{sandbox.base_url}/__sandbox/ground_truth?vendor=zoominfo",
                      json={"titles": titles, "locations": locations}, timeout=10)
    truth = r.json()
    ids = set()
    for metro in ("usa.texas.austin", "usa.newyork.newyork"):
        ids |= set(all_ids(sandbox, headers, jobTitle=" OR ".join(titles), metroRegion=metro)[1])
    assert {int(i) for p in truth["people"] for i in p["zoominfo_ids"]} == ids
    assert truth["distinct_people"] == len(truth["people"]) == len(ids)
    world = world_for(sandbox.population)
    for person in truth["people"]:
        contact = world.by_id[int(person["zoominfo_ids"][0])]
        assert contact.real_id == person["real_id"]
        assert set(person["apollo_ids"]) == {r.id for r in sandbox.population.by_real_id[person["real_id"]]}


# -- every matchStatus, malformed filters, the GTM API (vendor-apis.md Corrections 1-2, 2.4) ------


def test_every_enrich_status_at_a_small_fixed_rate(sandbox):
    world = world_for(sandbox.population)
    shares = Counter(c.enrich_status for c in world.contacts)
    assert [ZoomInfoWorld(sandbox.population).contacts[i].enrich_status for i in range(50)] == [
        c.enrich_status for c in world.contacts[:50]]  # fixed per seed
    assert shares["FULL_MATCH"] / len(world.contacts) > 0.9
    for status in ("CONTACT_ONLY_MATCH", "COMPANY_ONLY_MATCH", "OPT_OUT", "NO_MATCH", "SERVICE_ERROR"):
        assert 0 < shares[status] / len(world.contacts) < 0.03, status
    headers = login(sandbox)
    pick = {s: next(c for c in world.contacts if c.enrich_status == s)
            for s in ("FULL_MATCH", "CONTACT_ONLY_MATCH", "COMPANY_ONLY_MATCH", "NON_MATCH_BY_CONTACT_ACCURACY_MIN",
                      "SERVICE_ERROR")}
    inputs = [{"personId": c.id} for c in pick.values()] + [{"personId": "not-an-id"}]
    fields = ("firstName", "email", "jobTitle", "companyName", "companyWebsite")
    result = enrich(sandbox, headers, inputs, fields).json()["data"]["result"]
    assert [r["matchStatus"] for r in result] == [*list(pick)[:4], "SERVICE_ERROR", "INVALID_INPUT"]
    full, contact_only, company_only = (r["data"] for r in result[:3])
    assert set(full[0]) == {"id", *fields}
    assert set(contact_only[0]) == {"id", "firstName", "email", "jobTitle"}  # the contact, no company data
    assert set(company_only[0]) == {"companyName", "companyWebsite"}  # the company, no person
    assert all(r["data"] == [] for r in result[3:])
    again = enrich(sandbox, headers, [{"personId": pick["SERVICE_ERROR"].id}], fields).json()["data"]["result"]
    assert again[0]["matchStatus"] == "FULL_MATCH"  # transient: the next ask answers
    s = stats(sandbox)
    assert s["credits_consumed"] == 3  # FULL_MATCH, CONTACT_ONLY_MATCH, the recovered SERVICE_ERROR
    assert s["enrichment_statuses"]["SERVICE_ERROR"] == 1 and s["enrichment_statuses"]["COMPANY_ONLY_MATCH"] == 1


def test_limit_exceeded_once_the_record_limit_is_spent(sandbox):
    settings(sandbox, record_limit=2)
    headers = login(sandbox)
    ids = [c.id for c in world_for(sandbox.population).contacts if c.enrich_status == "FULL_MATCH"][:4]
    result = enrich(sandbox, headers, [{"personId": i} for i in ids]).json()["data"]["result"]
    assert [r["matchStatus"] for r in result] == ["FULL_MATCH", "FULL_MATCH", "LIMIT_EXCEEDED", "LIMIT_EXCEEDED"]
    assert result[2]["data"] == []
    again = enrich(sandbox, headers, [{"personId": ids[0]}]).json()["data"]["result"]
    assert again[0]["matchStatus"] == "FULL_MATCH"  # a record under management costs nothing more
    assert stats(sandbox)["credits_consumed"] == 2


def test_malformed_filters_answer_nothing_without_an_error(sandbox):
    headers = login(sandbox)
    titles = ["PPC Manager", "Media Buyer"]
    good = all_ids(sandbox, headers, jobTitle=" OR ".join(titles), state="Texas,California")
    assert good[0] > 20
    comma_joined = all_ids(sandbox, headers, jobTitle=",".join(titles), state="Texas,California")
    assert comma_joined[0] < good[0] / 10  # read as one title almost nobody holds
    for body in ({"jobTitle": titles}, {"jobTitle": "PPC Manager", "state": ["Texas"]},
                 {"jobTitle": "PPC Manager", "metroRegion": ["usa.texas.austin"]},
                 {"jobTitle": "PPC Manager", "country": ["United States"]},
                 {"jobTitle": "PPC Manager", "metroRegion": "Austin, Texas"}):
        r = search(sandbox, headers, **body)
        assert r.status_code == 200 and r.json()["totalResults"] == 0, body


def gtm_token(sandbox, client_id="sandbox-zoominfo-gtm-client", secret="sandbox-zoominfo-gtm-secret", **form):
    return requests.post(url(sandbox, "/gtm/oauth/v1/token"), auth=(client_id, secret),
                         data={"grant_type": "client_credentials", **form}, timeout=5)


def gtm_post(sandbox, path, token, body, **params):
    return requests.post(url(sandbox, f"/gtm/data/v1{path}"), json=body, params=params, timeout=10,
                         headers={"Authorization": f"Bearer {token}", "Content-Type": "application/vnd.api+json"})


def test_gtm_token_is_a_client_credentials_grant(sandbox):
    r = gtm_token(sandbox)
    assert r.status_code == 200 and r.json()["token_type"] == "Bearer" and r.json()["expires_in"] == 3600
    assert gtm_token(sandbox, secret="wrong").json()["error"] == "invalid_client"
    assert gtm_token(sandbox, secret="wrong").status_code == 401
    bad_grant = requests.post(url(sandbox, "/gtm/oauth/v1/token"), data={
        "grant_type": "password", "client_id": "sandbox-zoominfo-gtm-client",
        "client_secret": "sandbox-zoominfo-gtm-secret"}, timeout=5)
    assert bad_grant.status_code == 400 and bad_grant.json()["error"] == "unsupported_grant_type"
    # a GTM token opens no legacy endpoint, a legacy JWT no GTM one
    assert_gateway_error(search(sandbox, {"Authorization": f"Bearer {r.json()['access_token']}"},
                                jobTitle="PPC Manager"), 401, "ZI0002")
    legacy_jwt = login(sandbox)["Authorization"].split()[1]
    body = {"data": {"type": "ContactSearch", "attributes": {"jobTitle": "PPC Manager"}}}
    assert_gateway_error(gtm_post(sandbox, "/contacts/search", legacy_jwt, body), 401, "ZI0002")


def test_gtm_search_is_json_api_paged_by_query_with_record_and_page_totals(sandbox):
    token = gtm_token(sandbox).json()["access_token"]
    body = {"data": {"type": "ContactSearch", "attributes": {"jobTitle": TITLES}}}
    r = gtm_post(sandbox, "/contacts/search", token, body, **{"page[number]": 2, "page[size]": 7})
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/vnd.api+json"
    page = r.json()
    total, legacy_ids = all_ids(sandbox, login(sandbox), jobTitle=TITLES)
    assert page["meta"]["totalResults"] == total and page["meta"]["page"] == {
        "number": 2, "size": 7, "total": -(-total // 7)}
    assert [int(x["id"]) for x in page["data"]] == legacy_ids[7:14]
    assert all(x["type"] == "Contact" and isinstance(x["id"], str) and "id" not in x["attributes"]
               for x in page["data"])
    assert set(page["data"][0]["attributes"]) == SEARCH_ROW_KEYS - {"id"}
    for bad, params in (({"data": {"type": "ContactEnrich", "attributes": {}}}, {}),
                        ({"jobTitle": "x"}, {}), (body, {"page[size]": 101}),
                        ({"data": {"type": "ContactSearch", "attributes": {"jobTitle": "x", "rpp": 5}}}, {})):
        r = gtm_post(sandbox, "/contacts/search", token, bad, **params)
        assert r.status_code == 400 and r.json()["errors"][0]["code"].startswith("PFAPI"), bad
    wrong_verb = requests.get(url(sandbox, "/gtm/data/v1/contacts/search"),
                              headers={"Authorization": f"Bearer {token}"}, timeout=5)
    assert_gateway_error(wrong_verb, 404, "ZI9998")


def test_gtm_enrich_items_carry_match_status_in_meta_and_bill_like_legacy(sandbox):
    token = gtm_token(sandbox).json()["access_token"]
    world = world_for(sandbox.population)
    good = next(c for c in world.contacts if c.enrich_status == "FULL_MATCH")
    opted = next(c for c in world.contacts if c.enrich_status == "OPT_OUT")
    inputs = [{"personId": good.id}, {"personId": opted.id}]
    body = {"data": {"type": "ContactEnrich", "attributes": {"matchPersonInput": inputs,
                                                            "outputFields": ["firstName", "email"]}}}
    data = gtm_post(sandbox, "/contacts/enrich", token, body).json()["data"]
    assert data[0] == {"type": "Contact", "id": str(good.id), "attributes": {"firstName": good.first_name,
                                                                            "email": good.email},
                       "meta": {"matchStatus": "FULL_MATCH", "input": inputs[0]}}
    assert data[1] == {"type": "NoMatch", "meta": {"matchStatus": "OPT_OUT", "input": inputs[1]}}
    assert stats(sandbox)["credits_consumed"] == 1
    usage = requests.get(url(sandbox, "/gtm/data/v1/users/usage"), headers={"Authorization": f"Bearer {token}"},
                         timeout=5).json()
    assert usage["data"]["attributes"]["creditsUsed"] == 1 and stats(sandbox)["credits_consumed"] == 1
