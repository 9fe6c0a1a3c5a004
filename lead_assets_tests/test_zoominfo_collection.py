"""ZoomInfo collection end to end over real HTTP, alone and next to Apollo.

A person seen by both vendors is one lead with both sources recorded; no ZoomInfo record is
lost (each is a lead's source or a quarantine row with its reason); nothing is bought twice;
expired or wrong credentials stop ZoomInfo only; garbage is retried, then recorded.
"""

from __future__ import annotations

import dataclasses
import json
import math
import threading

import pytest
import requests

from lead_assets.clients.apollo import ApolloClient
from lead_assets.clients.errors import VendorAuthError
from lead_assets.clients.zoominfo import ZoomInfoClient
from lead_assets.config.settings import sprint_config
from lead_assets.core.vendor_records import MAPPED_FIELDS
from lead_assets.core.zoominfo_records import zoominfo_contact_record, zoominfo_linkedin_url
from lead_assets.pipeline.search_plan import Slice, hour_keys
from lead_assets.sandbox import SandboxConfig, start_sandbox
from lead_assets.sources import purchases
from lead_assets.sources.collector import collect_hour, collection_context
from lead_assets.sources.collector import collect_hour as collect_apollo_hour
from lead_assets.sources.zoominfo import (
    NO_MATCH_REASON,
    OPT_OUT_REASON,
    UNREADABLE_REASON,
    zoominfo_query,
)
from lead_assets.store.dedup_index import DedupIndex
from lead_assets.store.lead_store import LeadStore
from lead_assets.store.metrics import sprint_metrics
from lead_assets_tests.ground_truth import compare, reachable

CFG = sprint_config()
HOURS = hour_keys(CFG.start, CFG.hours)
USER, PASSWORD = "sandbox-zoominfo-user", "sandbox-zoominfo-password"


@pytest.fixture(scope="module")
def sandbox():
    with start_sandbox(SandboxConfig(population=1500)) as sb:
        yield sb


# The tests run the vendor faster than the Standard package's 25/s: the client's limiter holds
# them to 200/s (as it holds production to 25/s) and the sandbox allows more, so that a request
# crossing a second boundary on its way cannot turn into a 429.
LIMITS = {"api": {"second": 200, "hour": 54_000, "day": 648_000}}


@pytest.fixture(autouse=True)
def reset(sandbox):
    requests.post(f"{sandbox.base_url}/__sandbox/reset", json={"config": True}, timeout=5)
    configure(sandbox, limits={"zoominfo": {"api": {"second": 1000}}})


def configure(sandbox, **changes):
    r = requests.post(f"{sandbox.base_url}/__sandbox/config", json=changes, timeout=5)
    assert r.status_code == 200, r.text


def vendor_stats(sandbox, vendor="zoominfo"):
    return requests.get(f"{sandbox.base_url}/__sandbox/stats", timeout=5).json()["vendors"][vendor]


def zi_ctx(sandbox, store, index=None, password=PASSWORD, **kw):
    client = ZoomInfoClient(sandbox.url("zoominfo"), USER, password, limits=LIMITS, sleep=lambda s: None)
    ctx = collection_context(CFG, store, index or DedupIndex(store, None), client=client, source="zoominfo", **kw)
    return ctx


def apollo_ctx(sandbox, store, index):
    client = ApolloClient(sandbox.url("apollo"), "sandbox-apollo-key", sleep=lambda s: None)
    return collection_context(CFG, store, index, client=client)


def fresh_pg_store(pg_url) -> LeadStore:
    store = LeadStore(pg_url)
    store.ensure_schema()
    with store.transaction() as conn:
        conn.exec_driver_sql(
            "TRUNCATE lead_sources, leads, raw_landings, dedup_keys, quarantine, "
            "search_slices, vendor_calls RESTART IDENTITY CASCADE"
        )
    return store


def test_both_sources_in_parallel_make_one_lead_per_person_and_reruns_cost_nothing(sandbox, pg_url, redis_url):
    store = fresh_pg_store(pg_url)
    index = DedupIndex(store, redis_url)
    hours = HOURS[:4]
    # Apollo and ZoomInfo run at the same time, each with its own store and index connections,
    # as two Dagster runs of the same hour would.
    zi_store = LeadStore(pg_url)
    actx, zctx = apollo_ctx(sandbox, store, index), zi_ctx(sandbox, zi_store, DedupIndex(zi_store, redis_url))
    reports: dict[str, list] = {"apollo": [], "zoominfo": []}
    failures: list[BaseException] = []

    def run(source, collect, ctx):
        try:
            reports[source] = [collect(ctx, hour) for hour in hours]
        except BaseException as exc:  # surfaced below, in the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=run, args=("apollo", collect_apollo_hour, actx)),
               threading.Thread(target=run, args=("zoominfo", collect_hour, zctx))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert failures == []
    for a, z in zip(reports["apollo"], reports["zoominfo"], strict=True):
        assert a.errors == [] and z.errors == [] and z.slices_failed == 0
        assert z.bought and z.batch.records
    zi_first = vendor_stats(sandbox)
    assert zi_first["rebought"] == {}

    # Every reachable record is a lead's source or a quarantine row; nobody split or merged.
    truth = {"zoominfo": reachable(sandbox.base_url, "zoominfo", hours),
             "apollo": reachable(sandbox.base_url, "apollo", hours)}
    assert truth["zoominfo"] and truth["apollo"]
    verdict = compare(store, truth)
    assert verdict.exact, verdict.summary()
    sources = store.read_sql("SELECT source, vendor_person_id, lead_id FROM lead_sources")
    lead_of = {(s, v): lead for s, v, lead in sources.itertuples(index=False)}
    sources_of_lead: dict[str, set] = {}
    for s, _, lead in sources.itertuples(index=False):
        sources_of_lead.setdefault(lead, set()).add(s)
    both = 0
    for real_id in set(truth["zoominfo"]) & set(truth["apollo"]):
        found = {(v, lead_of[(v, i)]) for v in truth for i in truth[v][real_id] if (v, i) in lead_of}
        if {v for v, _ in found} == {"apollo", "zoominfo"}:
            both += 1  # one lead (compare said so) that records both sources
            assert sources_of_lead[found.pop()[1]] == {"apollo", "zoominfo"}
    assert both > 0.4 * len(truth["zoominfo"])
    # no lead without a real person behind it, and no duplicate LinkedIn URL across leads
    assert len(store.read_leads()) == len(set(sources["lead_id"]))
    dupes = store.read_sql(
        "SELECT linkedin_url FROM leads WHERE linkedin_url IS NOT NULL GROUP BY linkedin_url HAVING COUNT(*) > 1"
    )
    assert dupes.empty
    calls = store.read_sql("SELECT vendor, SUM(credits) AS credits FROM vendor_calls GROUP BY vendor")
    zi_credits = float(calls.set_index("vendor").loc["zoominfo", "credits"])
    assert zi_credits == zi_first["credits_consumed"] == zi_first["records_enriched"]
    assert sprint_metrics(store)["credits"] == zi_credits + vendor_stats(sandbox, "apollo")["credits_consumed"]

    # Re-running every partition replays the landings: nothing is bought again.
    leads_before = len(store.read_leads())
    for hour in hours:
        collect_apollo_hour(actx, hour)
        again = collect_hour(zctx, hour)
        assert again.bought == 0 and again.pages_fetched == 0
    zi_again = vendor_stats(sandbox)
    assert zi_again["rebought"] == {} and zi_again["records_enriched"] == zi_first["records_enriched"]
    assert zi_again["requests"]["enrich/contact"] == zi_first["requests"]["enrich/contact"]
    assert len(store.read_leads()) == leads_before
    store.dispose()
    zi_store.dispose()


def test_opt_outs_and_no_matches_are_quarantined_not_stored(sandbox, store):
    ctx = zi_ctx(sandbox, store)
    for hour in HOURS[:6]:
        collect_hour(ctx, hour)
    rows = store.read_sql("SELECT reason, vendor_person_id FROM quarantine WHERE source = 'zoominfo'")
    reasons = set(rows["reason"])
    assert OPT_OUT_REASON in reasons and NO_MATCH_REASON in reasons
    opted = set(rows.loc[rows["reason"] == OPT_OUT_REASON, "vendor_person_id"])
    stored = set(store.read_sql("SELECT vendor_person_id FROM lead_sources")["vendor_person_id"])
    assert not opted & stored


def test_jwt_expiry_mid_run_reauthenticates_once(sandbox, store):
    ctx = zi_ctx(sandbox, store)
    expired = []

    def expire_once(report):
        if not expired:
            expired.append(requests.post(f"{sandbox.url('zoominfo')}/__sandbox/expire_tokens", timeout=5).json())

    ctx.on_batch = expire_once
    report = collect_hour(ctx, HOURS[0])
    assert expired and report.errors == [] and report.slices_failed == 0 and report.pages_fetched > 1
    assert ctx.client.token_refreshes == 1 and ctx.client.authentications == 2
    calls = store.read_sql("SELECT outcome, COUNT(*) AS n FROM vendor_calls GROUP BY outcome")
    outcomes = dict(zip(calls["outcome"], calls["n"], strict=True))
    assert outcomes.get("reauth") == 1 and "failed" not in outcomes
    assert report.vendor_errors == 0


def test_wrong_password_stops_zoominfo_while_apollo_goes_on(sandbox, store):
    index = DedupIndex(store, None)
    zctx = zi_ctx(sandbox, store, index, password="expired-or-wrong")
    with pytest.raises(VendorAuthError, match="ZOOMINFO_USERNAME / ZOOMINFO_PASSWORD"):
        collect_hour(zctx, HOURS[0])
    assert vendor_stats(sandbox)["auth_failures"] == 1  # stopped at once, no hammering
    failed = [r for r in store.slices("zoominfo") if r["status"] == "failed"]
    assert len(failed) == 1 and failed[0]["error"] == "authentication failed"
    report = collect_apollo_hour(apollo_ctx(sandbox, store, index), HOURS[0])
    assert report.errors == [] and report.batch.new_leads > 0
    # with the right password the next hour takes over the failed slice and the hour's unstarted ones
    later = collect_hour(zi_ctx(sandbox, store, index), HOURS[1])
    assert later.slices_carried_over == 5 and later.slices_failed == 0
    taken = store.slices("zoominfo", HOURS[1])
    assert len(taken) == 10 and all(r["status"] == "complete" for r in taken)


def test_enrich_buys_25_people_per_call(sandbox, store):
    ctx = zi_ctx(sandbox, store)
    # One broad slice ("Manager" in New York) so a page holds far more than 25 people.
    ctx = dataclasses.replace(ctx, roles=(("Manager", ()),), locations=("New York, New York",), hours=1)
    report = collect_hour(ctx, HOURS[0])
    landings = store.landings("zoominfo", f"{HOURS[0]}|zoominfo", "enrichment")
    keys = [x["request_key"] for x in landings]
    sizes = [len(k.split("|")[0].removeprefix("ids=").split(",")) for k in keys]
    assert report.bought > 50 and sum(sizes) == report.bought  # every person sent in a paid call
    assert max(sizes) == 25 and all(1 <= n <= 25 for n in sizes)
    pages = store.landings("zoominfo", f"{HOURS[0]}|zoominfo", "search_page")
    first_asks = [k for k in keys if "|ask=" not in k]  # the rest ask SERVICE_ERROR people again
    assert len(first_asks) == sum(math.ceil(len(json.loads(p["payload"])["data"]) / 25) for p in pages)
    assert vendor_stats(sandbox)["requests"]["enrich/contact"] == {"200": len(sizes)}


def test_garbage_is_retried_within_the_budget_then_recorded(sandbox, store):
    # Two garbage search answers: retried, the third attempt succeeds.
    configure(sandbox, faults={"zoominfo": {"fail_next": 2, "fail_next_kind": "malformed",
                                            "paths": ["search/contact"]}})
    ctx = zi_ctx(sandbox, store)
    first = collect_hour(ctx, HOURS[0])
    assert first.slices_failed == 0
    calls = store.read_sql("SELECT outcome, attempts FROM vendor_calls WHERE outcome = 'retried_ok'")
    assert calls["attempts"].tolist() == [3]

    # Three: the budget is spent, the slice fails with the reason and a later hour takes it over.
    configure(sandbox, faults={"zoominfo": {"fail_next": 3, "fail_next_kind": "malformed",
                                            "paths": ["search/contact"]}})
    second = collect_hour(ctx, HOURS[1])
    assert second.slices_failed == 1 and "malformed body" in second.errors[0]
    failed = [r for r in store.slices("zoominfo") if r["status"] == "failed"]
    assert len(failed) == 1 and "malformed" in failed[0]["error"]
    calls = store.read_sql("SELECT attempts FROM vendor_calls WHERE outcome = 'failed'")
    assert calls["attempts"].tolist() == [3]
    third = collect_hour(ctx, HOURS[2])
    assert third.slices_carried_over == 1 and third.slices_failed == 0

    # A garbage enrich answer (possibly billed): landed, its people quarantined, never bought again.
    configure(sandbox, faults={"zoominfo": {"fail_next": 1, "fail_next_kind": "malformed",
                                            "paths": ["enrich/contact"]}})
    fourth = collect_hour(ctx, HOURS[3])
    assert any("unreadable" in e for e in fourth.errors)
    unreadable = store.read_sql("SELECT vendor_person_id FROM quarantine WHERE reason = :r",
                                {"r": UNREADABLE_REASON})
    assert len(unreadable) >= 1
    enrich_requests = vendor_stats(sandbox)["requests"]["enrich/contact"]
    for hour in HOURS[:4]:
        collect_hour(zi_ctx(sandbox, store, ctx.index), hour)
    stats = vendor_stats(sandbox)
    assert stats["rebought"] == {} and stats["requests"]["enrich/contact"] == enrich_requests
    assert set(unreadable["vendor_person_id"]).isdisjoint(
        store.read_sql("SELECT vendor_person_id FROM lead_sources")["vendor_person_id"]
    )


def test_killed_run_resumes_without_paying_twice(sandbox, store, monkeypatch):
    ctx = zi_ctx(sandbox, store)
    real = purchases.store_batch  # the shared page handler stores
    calls = {"n": 0}

    def dying_store_batch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:  # the process dies after buying a page, before storing it
            raise SystemExit("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(purchases, "store_batch", dying_store_batch)
    with pytest.raises(SystemExit):
        collect_hour(ctx, HOURS[0])
    monkeypatch.setattr(purchases, "store_batch", real)
    bought_before = vendor_stats(sandbox)["records_enriched"]
    report = collect_hour(zi_ctx(sandbox, store, ctx.index), HOURS[0])
    assert report.pages_replayed >= 1
    stats = vendor_stats(sandbox)
    assert stats["rebought"] == {}
    assert stats["records_enriched"] - bought_before == report.matched
    listed = {
        str(c["id"])
        for landing in store.landings("zoominfo", f"{HOURS[0]}|zoominfo", "search_page")
        for c in json.loads(landing["payload"])["data"]
    }
    accounted = set(store.read_sql("SELECT vendor_person_id FROM lead_sources")["vendor_person_id"])
    accounted |= set(store.read_sql("SELECT vendor_person_id FROM quarantine")["vendor_person_id"])
    assert listed and listed <= accounted


def test_replay_without_a_client_calls_nobody(sandbox, store):
    live = collect_hour(zi_ctx(sandbox, store), HOURS[0])
    requests_before = vendor_stats(sandbox)["requests_total"]
    replay_ctx = collection_context(CFG, store, DedupIndex(store, None), client=None, source="zoominfo")
    replay = collect_hour(replay_ctx, HOURS[0])
    assert replay.pages_replayed == live.pages_fetched and replay.pages_fetched == 0
    assert replay.slices_failed == 0 and replay.bought == 0
    assert vendor_stats(sandbox)["requests_total"] == requests_before


# -- the plan in ZoomInfo's names -------------------------------------------------------------


def test_zoominfo_query_for_plan_slices():
    # vendor-apis.md Corrections 2: titles joined with " OR ", locations as comma-separated strings.
    s = Slice("ppc@austin", ("PPC Manager", "ppc lead"), ("Austin, Texas",))
    assert zoominfo_query(s) == {"jobTitle": "PPC Manager OR ppc lead", "locationSearchType": "Person",
                                 "metroRegion": "usa.texas.austin"}
    multi = Slice("x", ("Manager, Paid Search", "Media Buyer"), ("New York, NY", "Dallas, Texas"), ("1,10", "11,20"))
    q = zoominfo_query(multi)
    assert q["jobTitle"] == "Manager, Paid Search OR Media Buyer"  # a comma is part of a title
    assert q["metroRegion"] == "usa.newyork.newyork,usa.texas.dallas"
    assert all(isinstance(v, str) for v in q.values())
    assert zoominfo_query(Slice("s", ("SEM Manager",), ("Texas", "Ohio")))["state"] == "Texas,Ohio"
    assert (q["employeeRangeMin"], q["employeeRangeMax"]) == ("1", "20")
    assert zoominfo_query(Slice("t", ("SEM Manager",), ("Texas",)))["state"] == "Texas"
    assert zoominfo_query(Slice("u", ("SEM Manager",), ("United States",)))["country"] == "United States"
    with pytest.raises(ValueError):
        zoominfo_query(Slice("m", ("SEM Manager",), ("Austin, Texas", "Texas")))
    with pytest.raises(ValueError):
        zoominfo_query(Slice("l", ("SEM Manager",), ("London, England",)))


# -- the record mapping -----------------------------------------------------------------------

CONTACT = {
    "id": 1234567890,
    "firstName": "Bob",
    "middleName": "J.",
    "lastName": "O'Brien",
    "email": "robert.obrien@acme.com",
    "phone": "(512) 555-0100",
    "mobilePhone": "(512) 555-0101",
    "directPhoneDoNotCall": False,
    "city": "Austin",
    "state": "Texas",
    "country": "United States",
    "jobTitle": "PPC Manager",
    "externalUrls": [{"type": "twitter.com", "url": "https://twitter.com/bob"},
                     {"type": "linkedin.com", "url": "www.linkedin.com/in/bob-obrien"}],
    "companyName": "Acme",
    "companyWebsite": "www.acme.com",
    "companyEmployeeCount": 120,
    "companyPrimaryIndustry": "Business Services",
    "contactAccuracyScore": "90.0",
}


def test_contact_record_maps_every_field():
    fields, problem = zoominfo_contact_record(CONTACT)
    assert problem is None and tuple(fields) == MAPPED_FIELDS
    assert fields["vendor_person_id"] == "1234567890"
    assert fields["full_name"] == "Bob J. O'Brien" and fields["first_name"] == "Bob"
    assert fields["linkedin_url"] == "www.linkedin.com/in/bob-obrien"
    assert fields["phone"] == "(512) 555-0100"
    assert (fields["company_website"], fields["company_industry"], fields["company_size"]) == (
        "www.acme.com", "Business Services", 120)
    assert (fields["location_city"], fields["location_state"]) == ("Austin", "Texas")


def test_contact_record_tolerates_wrong_types_and_withholds_do_not_call_phones():
    odd = {**CONTACT, "id": "1234567890", "jobTitle": ["PPC"], "companyEmployeeCount": True, "email": 5,
           "externalUrls": "https://www.linkedin.com/in/bob", "directPhoneDoNotCall": True,
           "mobilePhoneDoNotCall": True, "companyPrimaryIndustry": None,
           "companyIndustries": [{"name": "Software", "primary": True}], "city": {"name": "Austin"}}
    fields, problem = zoominfo_contact_record(odd)
    assert problem is None
    assert fields["vendor_person_id"] == "1234567890" and fields["job_title"] is None
    assert fields["company_size"] is None and fields["email"] == "5" and fields["location_city"] is None
    assert fields["linkedin_url"] == "https://www.linkedin.com/in/bob"
    assert fields["phone"] is None and fields["company_industry"] == "Software"
    assert zoominfo_contact_record({**CONTACT, "id": 12.0})[0]["vendor_person_id"] == "12"
    assert zoominfo_contact_record(["x"]) == (None, "zoominfo contact is list, not an object")
    assert zoominfo_contact_record({"firstName": "A"}) == (None, "zoominfo contact has no id")
    assert zoominfo_contact_record({**CONTACT, "id": True})[1] == "zoominfo contact has no id"
    assert zoominfo_linkedin_url([{"type": "other", "url": "https://linkedin.com/in/x"}]) == "https://linkedin.com/in/x"
    assert zoominfo_linkedin_url(None) is None and zoominfo_linkedin_url([{"url": 3}]) is None


def test_an_apollo_client_is_refused_before_any_call(sandbox, store):
    ctx = collection_context(CFG, store, DedupIndex(store, None),
                             client=ApolloClient(sandbox.url("apollo"), "sandbox-apollo-key"), source="zoominfo")
    with pytest.raises(TypeError, match="ZoomInfoClient"):
        collect_hour(ctx, HOURS[0])
