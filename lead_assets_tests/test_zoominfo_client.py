"""The ZoomInfo client against the sandbox over real HTTP: JWT, paging, 25-per-call enrich, limits, errors."""

from __future__ import annotations

import pytest
import requests

from lead_assets.clients.errors import (
    UnreadablePaidResponse,
    VendorAuthError,
    VendorCallFailed,
    VendorRequestError,
)
from lead_assets.clients.zoominfo import (
    ENRICH_MAX,
    ZoomInfoClient,
    ZoomInfoGtmClient,
    enrich_outcomes,
    jwt_claims,
    remaining_from_headers,
)
from lead_assets.config.settings import sprint_config
from lead_assets.sandbox import SandboxConfig, start_sandbox
from lead_assets.sandbox.zoominfo import world_for

USER, PASSWORD = "sandbox-zoominfo-user", "sandbox-zoominfo-password"
QUERY = {"jobTitle": "PPC Manager OR ppc lead OR Media Buyer OR Paid Search Manager", "locationSearchType": "Person"}


@pytest.fixture(scope="module")
def sandbox():
    with start_sandbox(SandboxConfig(population=1500)) as sb:
        yield sb


@pytest.fixture(autouse=True)
def reset(sandbox):
    requests.post(f"{sandbox.base_url}/__sandbox/reset", json={"config": True}, timeout=5)


def configure(sandbox, **changes):
    r = requests.post(f"{sandbox.base_url}/__sandbox/config", json=changes, timeout=5)
    assert r.status_code == 200, r.text


def settings(sandbox, **changes):
    r = requests.post(f"{sandbox.url('zoominfo')}/__sandbox/settings", json=changes, timeout=5)
    assert r.status_code == 200, r.text


def stats(sandbox):
    return requests.get(f"{sandbox.base_url}/__sandbox/stats", timeout=5).json()["vendors"]["zoominfo"]


def client(sandbox, password=PASSWORD, **kw):
    kw.setdefault("sleep", lambda s: None)  # retries without waiting in tests
    return ZoomInfoClient(sandbox.url("zoominfo"), USER, password, **kw)


def buyable(sandbox, n):
    return [str(c.id) for c in world_for(sandbox.population).contacts if c.enrich_status == "FULL_MATCH"][:n]


def test_search_pages_cover_total_results_with_one_login(sandbox):
    c = client(sandbox)
    first = c.search_contacts(QUERY, 1, rpp=50)
    assert first.total_results and first.total_results > 50
    seen = [p["id"] for p in first.contacts]
    for page in range(2, first.pages_available() + 1):
        seen += [p["id"] for p in c.search_contacts(QUERY, page, rpp=50).contacts]
    assert len(seen) == len(set(seen)) == first.total_results
    assert all("email" not in p and "externalUrls" not in p for p in first.contacts)
    assert c.authentications == 1 and stats(sandbox)["tokens_issued"] == 1
    assert c.search_contacts(QUERY, 1, rpp=500).response.data["maxResults"] == 100  # clamped before sending


def test_enrich_takes_up_to_25_ids_and_reports_outcomes_and_credits(sandbox):
    c = client(sandbox)
    world = world_for(sandbox.population)
    ids = buyable(sandbox, ENRICH_MAX - 1) + [str(next(x.id for x in world.contacts if x.opted_out))]
    batch = c.enrich_contacts(ids)
    assert list(batch.outcomes) == ids
    assert batch.matched == 24 and batch.opted_out == 1 and batch.credits == 24.0
    assert batch.outcomes[ids[-1]].status == "OPT_OUT" and batch.outcomes[ids[-1]].contact is None
    contact = batch.outcomes[ids[0]].contact
    assert str(contact["id"]) == ids[0] and "externalUrls" in contact and "email" in contact
    assert c.http.calls[-1].credits == 24.0
    with pytest.raises(ValueError, match="1..25"):
        c.enrich_contacts(buyable(sandbox, 26))
    with pytest.raises(ValueError):
        c.enrich_contacts([])
    s = stats(sandbox)
    assert s["records_enriched"] == 24 and s["requests"]["enrich/contact"] == {"200": 1}


def test_wrong_password_stops_with_the_settings_named_and_is_not_retried(sandbox):
    c = client(sandbox, password="wrong")
    with pytest.raises(VendorAuthError, match="ZOOMINFO_USERNAME / ZOOMINFO_PASSWORD") as info:
        c.search_contacts(QUERY, 1)
    assert "wrong" not in str(info.value)  # the password never reaches a message
    assert stats(sandbox)["auth_failures"] == 1
    with pytest.raises(VendorAuthError, match="ZOOMINFO_PASSWORD"):
        ZoomInfoClient(sandbox.url("zoominfo"), USER, "").search_contacts(QUERY, 1)


def test_revoked_jwt_reauthenticates_once_and_logs_reauth_not_failed(sandbox):
    c = client(sandbox)
    c.search_contacts(QUERY, 1)
    requests.post(f"{sandbox.url('zoominfo')}/__sandbox/expire_tokens", timeout=5)
    page = c.search_contacts(QUERY, 2)
    assert page.contacts
    assert c.token_refreshes == 1 and c.authentications == 2
    outcomes = [call.outcome for call in c.http.drain_calls()]
    assert outcomes == ["ok", "ok", "reauth", "ok", "ok"]  # auth, search, 401, auth, search


def test_expiring_jwt_is_refreshed_before_the_vendor_refuses_it(sandbox):
    now = [1_000.0]
    c = client(sandbox, clock=lambda: now[0])
    c.search_contacts(QUERY, 1)
    exp = jwt_claims(c.jwt)["exp"]
    now[0] = exp - 1  # inside the refresh margin
    c.search_contacts(QUERY, 1)
    assert c.authentications == 2 and c.token_refreshes == 0
    assert stats(sandbox)["token_rejections"] == 0


def test_a_fresh_jwt_refused_again_stops_the_source(sandbox):
    settings(sandbox, jwt_ttl_seconds=0)  # every JWT is dead on arrival
    c = client(sandbox)
    with pytest.raises(VendorAuthError, match="after one re-authentication.*ZOOMINFO_USERNAME"):
        c.search_contacts(QUERY, 1)
    assert c.token_refreshes == 1 and stats(sandbox)["tokens_issued"] == 2


def test_5xx_is_retried_within_the_budget_then_recorded(sandbox):
    configure(sandbox, faults={"zoominfo": {"fail_next": 2, "fail_next_kind": "500", "paths": ["search/contact"]}})
    c = client(sandbox)
    assert c.search_contacts(QUERY, 1).response.attempts == 3
    configure(sandbox, faults={"zoominfo": {"fail_next": 3, "fail_next_kind": "503", "paths": ["search/contact"]}})
    with pytest.raises(VendorCallFailed, match="HTTP 503"):
        c.search_contacts(QUERY, 1)
    last = c.http.calls[-1]
    assert last.outcome == "failed" and last.attempts == 3


def test_malformed_search_is_retried_but_an_unreadable_enrich_is_not(sandbox):
    c = client(sandbox)
    configure(sandbox, faults={"zoominfo": {"fail_next": 1, "fail_next_kind": "malformed",
                                            "paths": ["search/contact"]}})
    assert c.search_contacts(QUERY, 1).response.attempts == 2
    ids = buyable(sandbox, 3)
    configure(sandbox, faults={"zoominfo": {"fail_next": 1, "fail_next_kind": "malformed",
                                            "paths": ["enrich/contact"]}})
    with pytest.raises(UnreadablePaidResponse) as info:
        c.enrich_contacts(ids)
    assert info.value.text and info.value.status == 200
    s = stats(sandbox)
    assert s["requests"]["enrich/contact"] == {"200": 1}  # one call: never retried
    assert s["rebought"] == {}


def test_429_waits_retry_after_then_succeeds(sandbox):
    waits = []
    configure(sandbox, faults={"zoominfo": {"fail_next": 1, "fail_next_kind": "429", "paths": ["search/contact"]}})
    c = client(sandbox, sleep=waits.append)
    assert c.search_contacts(QUERY, 1).response.attempts == 2
    assert waits == [1.0]


def test_client_limiter_reads_the_windows_and_prevents_429s(sandbox):
    # The client keeps one request under the vendor's 3/s: a request that crosses a second
    # boundary on its way must not find the vendor's new window already full.
    configure(sandbox, limits={"zoominfo": {"api": {"second": 3}}})
    c = client(sandbox, limits={"api": {"second": 2, "hour": 54_000, "day": 648_000}}, sleep=None)
    for _ in range(4):
        c.search_contacts(QUERY, 1, rpp=1)
    assert stats(sandbox)["responses_429"] == 0
    page = c.search_contacts(QUERY, 1, rpp=1)
    left = remaining_from_headers(page.response.headers)
    assert set(left) == {"second", "hour", "day"} and left["hour"] == 54_000 - 5


def test_400_is_not_retried(sandbox):
    c = client(sandbox)
    with pytest.raises(VendorRequestError, match="400"):
        c.search_contacts({"person_titles": ["PPC Manager"]}, 1)
    assert c.http.calls[-1].attempts == 1


def test_pki_login_with_a_client_jwt(sandbox):
    pytest.importorskip("jwt")
    rsa = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.rsa")
    from cryptography.hazmat.primitives import serialization

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    c = ZoomInfoClient(sandbox.url("zoominfo"), USER, client_id="sandbox-zoominfo-client", private_key=pem,
                       sleep=lambda s: None)
    assert c.search_contacts(QUERY, 1).contacts
    bad = ZoomInfoClient(sandbox.url("zoominfo"), USER, client_id="unknown", private_key=pem)
    with pytest.raises(VendorAuthError, match="ZOOMINFO_CLIENT_ID"):
        bad.search_contacts(QUERY, 1)


def test_enrich_outcomes_tolerates_what_vendors_send():
    ids = ["11", "22", "33", "44"]
    payload = {"data": {"result": [
        {"input": {"personId": 22}, "data": [{"firstName": "B"}], "matchStatus": "FULL_MATCH"},
        {"input": {}, "data": [{"id": 11, "firstName": "A"}], "matchStatus": "FULL_MATCH"},  # by position
        {"input": {"personId": "33"}, "data": [], "matchStatus": "OPT_OUT"},
        "garbage",
    ]}}
    out = enrich_outcomes(payload, ids)
    assert out["22"].status == "FULL_MATCH" and out["22"].contact == {"firstName": "B", "id": "22"}
    assert out["11"].contact["id"] == 11
    assert out["33"].status == "OPT_OUT"
    assert out["44"].status == "NO_MATCH"  # not mentioned
    weird = {"data": {"result": [{"input": {"personId": 11}, "data": [], "matchStatus": "PARTIAL"}]}}
    assert enrich_outcomes(weird, ["11"])["11"].status == "NO_MATCH"
    for bad in (None, [], {"data": []}, {"data": {"result": "x"}}, {"success": False}):
        assert enrich_outcomes(bad, ids) is None


# -- the GTM API (vendor-apis.md 2.4), the same interface ----------------------------------------

GTM_ID, GTM_SECRET = "sandbox-zoominfo-gtm-client", "sandbox-zoominfo-gtm-secret"


def gtm_client(sandbox, secret=GTM_SECRET, **kw):
    kw.setdefault("sleep", lambda s: None)
    return ZoomInfoGtmClient(sandbox.url("zoominfo"), GTM_ID, secret, **kw)


def test_gtm_pages_and_enrich_answer_like_legacy(sandbox):
    g, legacy = gtm_client(sandbox), client(sandbox)
    first = g.search_contacts(QUERY, 1, rpp=50)
    assert first.total_results == legacy.search_contacts(QUERY, 1, rpp=50).total_results > 50
    seen = [p["id"] for p in first.contacts]
    for page in range(2, first.pages_available() + 1):
        seen += [p["id"] for p in g.search_contacts(QUERY, page, rpp=50).contacts]
    assert len(seen) == len(set(seen)) == first.total_results
    assert {"id", "firstName", "lastName", "jobTitle", "company"} <= set(first.contacts[0])
    ids = buyable(sandbox, 3)
    batch = g.enrich_contacts(ids)
    assert [batch.outcomes[i].status for i in ids] == ["FULL_MATCH"] * 3 and batch.credits == 3.0
    assert str(batch.outcomes[ids[0]].contact["id"]) == ids[0] and "email" in batch.outcomes[ids[0]].contact
    assert g.authentications == 1 and g.http.calls[-1].credits == 3.0
    assert [c.endpoint for c in g.http.drain_calls()][0] == ""  # the token call is in the one call log


def test_gtm_expired_token_is_fetched_again_once_and_bad_secrets_stop(sandbox):
    g = gtm_client(sandbox)
    g.search_contacts(QUERY, 1)
    requests.post(f"{sandbox.url('zoominfo')}/__sandbox/expire_tokens", timeout=5)
    assert g.search_contacts(QUERY, 2).contacts
    assert g.token_refreshes == 1 and g.authentications == 2
    with pytest.raises(VendorAuthError, match="ZOOMINFO_GTM_CLIENT_ID / ZOOMINFO_GTM_CLIENT_SECRET"):
        gtm_client(sandbox, secret="wrong").search_contacts(QUERY, 1)
    with pytest.raises(VendorAuthError, match="ZOOMINFO_GTM_CLIENT_SECRET"):
        gtm_client(sandbox, secret=None).search_contacts(QUERY, 1)


def test_the_resource_builds_the_client_zoominfo_api_names(sandbox):
    import dagster as dg

    from lead_assets.defs.resources import ZoomInfoResource

    BRIEF = sprint_config()  # noqa: N806 (the brief the resource reads its windows from)

    gtm = ZoomInfoResource(api="gtm", base_url=sandbox.url("zoominfo"), gtm_client_id=GTM_ID,
                           gtm_client_secret=GTM_SECRET).client(BRIEF)
    assert isinstance(gtm, ZoomInfoGtmClient) and gtm.search_contacts(QUERY, 1, rpp=1).contacts
    legacy = ZoomInfoResource(base_url=sandbox.url("zoominfo"), username=USER, password=PASSWORD).client(BRIEF)
    assert isinstance(legacy, ZoomInfoClient) and not isinstance(legacy, ZoomInfoGtmClient)
    with pytest.raises(dg.Failure, match="ZOOMINFO_GTM_CLIENT_ID"):
        ZoomInfoResource(api="gtm", base_url=sandbox.url("zoominfo"), username=USER, password=PASSWORD).client(BRIEF)
    with pytest.raises(dg.Failure, match="legacy, gtm"):
        ZoomInfoResource(api="v3", base_url=sandbox.url("zoominfo"), username=USER, password=PASSWORD).client(BRIEF)


def test_enrich_outcomes_reads_every_status_of_both_apis():
    ids = ["1", "2", "3", "4", "5"]
    statuses = ["CONTACT_ONLY_MATCH", "COMPANY_ONLY_MATCH", "NON_MATCH_BY_VALID_DATE", "SERVICE_ERROR",
                "LIMIT_EXCEEDED"]
    legacy = {"data": {"result": [
        {"input": {"personId": int(i)}, "data": [{"id": int(i), "firstName": "A"}] if s.endswith("_MATCH") else [],
         "matchStatus": s} for i, s in zip(ids, statuses, strict=True)]}}
    gtm = {"data": [
        {"type": "Contact", "id": i, "attributes": {"firstName": "A"}, "meta": {"matchStatus": s,
                                                                           "input": {"personId": int(i)}}}
        if s.endswith("_MATCH") else {"type": "NoMatch", "meta": {"matchStatus": s, "input": {"personId": int(i)}}}
        for i, s in zip(ids, statuses, strict=True)]}
    for payload in (legacy, gtm):
        out = enrich_outcomes(payload, ids)
        assert [out[i].status for i in ids] == statuses
        assert [out[i].hit for i in ids] == [True, False, False, False, False]
        assert [out[i].billed for i in ids] == [True, False, False, False, False]
        assert [out[i].settled for i in ids] == [True, True, True, False, False]
        assert out["2"].contact["firstName"] == "A"  # the company-only data is kept for the record
