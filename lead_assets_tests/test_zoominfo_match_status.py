"""ZoomInfo enrich answers every documented matchStatus; the collection keeps what was paid for, asks
again what was transient, stops on a spent allowance, reports a filter that finds nobody, and runs the
same over the GTM API (vendor-apis.md Corrections 1-2, section 2.4).

One sandbox of 3,000 people serves the module: its first 12 hours reach people of every status
(CONTACT_ONLY, COMPANY_ONLY, the four NON_MATCH_BY_*, INVALID_INPUT, SERVICE_ERROR, OPT_OUT,
NO_MATCH), and `record_limit` makes it answer LIMIT_EXCEEDED once the allowance is spent.
"""

from __future__ import annotations

import json
from collections import Counter

import dagster as dg
import pytest
import requests

from lead_assets.clients.zoominfo import (
    MATCH_STATUSES,
    ZoomInfoClient,
    ZoomInfoGtmClient,
    ZoomInfoLimitExceeded,
    enrich_outcomes,
)
from lead_assets.config.settings import sprint_config
from lead_assets.core.zoominfo_records import COMPANY_ONLY_REASON, INVALID_INPUT_REASON, NO_MATCH_REASON
from lead_assets.defs.collection import collect_leads
from lead_assets.defs.partitions import sprint_partition_key
from lead_assets.pipeline.search_plan import hour_keys
from lead_assets.sandbox import SandboxConfig, start_sandbox
from lead_assets.sources import zoominfo as zoominfo_collection
from lead_assets.sources.collector import collect_hour, collection_context
from lead_assets.sources.zoominfo import EMPTY_SLICE_ERROR
from lead_assets.store.dedup_index import DedupIndex
from lead_assets.store.lead_store import LeadStore
from lead_assets_tests.ground_truth import compare, reachable
from lead_assets_tests.sandbox_resources import sandbox_resources

CFG = sprint_config()
HOURS = hour_keys(CFG.start, CFG.hours)
USER, PASSWORD = "sandbox-zoominfo-user", "sandbox-zoominfo-password"
GTM_ID, GTM_SECRET = "sandbox-zoominfo-gtm-client", "sandbox-zoominfo-gtm-secret"
LIMITS = {"api": {"second": 200, "hour": 54_000, "day": 648_000}}


@pytest.fixture(scope="module")
def sandbox():
    with start_sandbox(SandboxConfig(population=3000)) as sb:
        yield sb


@pytest.fixture(autouse=True)
def reset(sandbox):
    requests.post(f"{sandbox.base_url}/__sandbox/reset", json={"config": True}, timeout=5)
    requests.post(f"{sandbox.base_url}/__sandbox/config", json={"limits": {"zoominfo": {"api": {"second": 1000}}}},
                  timeout=5)


@pytest.fixture
def sqlite_store(sqlite_url):
    store = LeadStore(sqlite_url)
    store.ensure_schema()
    yield store
    store.dispose()


def settings(sandbox, **changes):
    r = requests.post(f"{sandbox.url('zoominfo')}/__sandbox/settings", json=changes, timeout=5)
    assert r.status_code == 200, r.text


def vendor_stats(sandbox):
    return requests.get(f"{sandbox.base_url}/__sandbox/stats", timeout=5).json()["vendors"]["zoominfo"]


def zi_ctx(sandbox, store, api="legacy", index=None):
    if api == "gtm":
        client = ZoomInfoGtmClient(sandbox.url("zoominfo"), GTM_ID, GTM_SECRET, limits=LIMITS, sleep=lambda s: None)
    else:
        client = ZoomInfoClient(sandbox.url("zoominfo"), USER, PASSWORD, limits=LIMITS, sleep=lambda s: None)
    return collection_context(CFG, store, index or DedupIndex(store, None), client=client, source="zoominfo")


def answers(store) -> list[tuple[str, dict]]:
    """(landing key, person id -> outcome) of every landed enrich answer, in landing order."""
    rows = store.read_sql("SELECT request_key, payload FROM raw_landings WHERE source = 'zoominfo' "
                          "AND request_kind = 'enrichment' ORDER BY landing_id")
    out = []
    for key, payload in rows.itertuples(index=False):
        ids = key.split("|")[0].removeprefix("ids=").split(",")
        out.append((key, enrich_outcomes(json.loads(payload), ids)))
    return out


def quarantine_reasons(store) -> Counter:
    rows = store.read_sql("SELECT reason FROM quarantine WHERE source = 'zoominfo'")
    return Counter(rows["reason"])


def test_every_match_status_leads_and_credits_before_and_after(sandbox, sqlite_store, capsys):
    store = sqlite_store
    hours = HOURS[:12]
    settings(sandbox, record_limit=300)  # the allowance runs out part way through the hours
    ctx = zi_ctx(sandbox, store)
    stopped_at = None
    for hour in hours:
        try:
            collect_hour(ctx, hour)
        except ZoomInfoLimitExceeded as exc:
            stopped_at = hour
            assert "LIMIT_EXCEEDED" in str(exc) and "allowance" in str(exc)
            break
    assert stopped_at is not None
    assert vendor_stats(sandbox)["credits_consumed"] == 300
    limited = {pid for _, got in answers(store) for pid, o in got.items() if o.status == "LIMIT_EXCEEDED"}
    assert limited
    # Nobody the limit concerned is settled: not a lead, not quarantined.
    settled = set(store.read_sql("SELECT vendor_person_id FROM lead_sources WHERE source = 'zoominfo'")
                  ["vendor_person_id"]) | set(store.read_sql("SELECT vendor_person_id FROM quarantine")["vendor_person_id"])
    assert not limited & settled

    # The allowance is raised: the stopped hour runs again (replaying what was paid) and the rest follow.
    settings(sandbox, record_limit=None)
    for hour in hours[hours.index(stopped_at):]:
        report = collect_hour(ctx, hour)
        assert report.slices_failed == 0 and not [e for e in report.errors if "empty" in e]

    landed = answers(store)
    seen = Counter(o.status for _, got in landed for o in got.values())
    assert set(seen) == set(MATCH_STATUSES), seen  # every documented status came back at least once
    final: dict[str, object] = {}
    first: dict[str, object] = {}
    for _, got in landed:
        for pid, o in got.items():
            first.setdefault(pid, o)
            if o.settled:
                final[pid] = o
    stats = vendor_stats(sandbox)
    assert stats["rebought"] == {}  # asking SERVICE_ERROR / LIMIT_EXCEEDED people again bought nobody twice

    # After: every person whose data came back is a lead, and the credits booked are ZoomInfo's bill.
    hits = {pid for pid, o in final.items() if o.hit}
    stored = set(store.read_sql("SELECT vendor_person_id FROM lead_sources WHERE source = 'zoominfo' "
                                "AND COALESCE(match_method, '') <> 'name_company'")["vendor_person_id"])
    quarantined = set(store.read_sql("SELECT vendor_person_id FROM quarantine WHERE source = 'zoominfo'")
                      ["vendor_person_id"])
    assert hits <= stored | quarantined  # a hit without a usable name is quarantined by identify, not lost
    booked = float(store.read_sql("SELECT SUM(credits) AS c FROM vendor_calls WHERE vendor = 'zoominfo'")["c"][0])
    assert booked == stats["credits_consumed"] == len({pid for pid, o in final.items() if o.billed})
    contact_only = {pid for pid, o in final.items() if o.status == "CONTACT_ONLY_MATCH"}
    assert contact_only and contact_only <= stored

    # Each miss is recorded with its own reason; nothing transient is.
    reasons = quarantine_reasons(store)
    assert reasons[COMPANY_ONLY_REASON] == sum(o.status == "COMPANY_ONLY_MATCH" for o in final.values()) > 0
    assert COMPANY_ONLY_REASON.startswith("company only")
    assert reasons[INVALID_INPUT_REASON] > 0 and reasons[NO_MATCH_REASON] > 0
    assert sum(n for r, n in reasons.items() if "NON_MATCH_BY_" in r) == sum(
        o.status.startswith("NON_MATCH_BY_") for o in final.values()) > 0
    assert not any("SERVICE_ERROR" in r or "LIMIT_EXCEEDED" in r for r in reasons)
    truth = reachable(sandbox.base_url, "zoominfo", hours)
    verdict = compare(store, {"zoominfo": truth})
    assert verdict.exact, verdict.summary()

    # Before: the old client kept FULL_MATCH only, settled every other status as NO_MATCH on its first
    # answer (never asking again) and booked FULL_MATCHes as credits, on these same answers.
    before_leads = sum(o.status == "FULL_MATCH" and o.contact is not None for o in first.values())
    before_credits = sum(o.status == "FULL_MATCH" for o in first.values())
    billed_first = sum(o.billed for o in first.values())
    after_leads = len(hits & stored)
    with capsys.disabled():
        print(f"\nZoomInfo, 12 hours of a 3,000-person sandbox, {len(first)} people asked; statuses {dict(seen)}")
        print(f"  before: {before_leads} leads, {before_credits} credits booked, while ZoomInfo billed "
              f"{billed_first} on those answers; {len(first) - before_leads} people settled as NO_MATCH")
        print(f"  after:  {after_leads} leads, {booked:.0f} credits booked = {stats['credits_consumed']} billed; "
              f"{len(limited)} LIMIT_EXCEEDED and {seen['SERVICE_ERROR']} SERVICE_ERROR answers asked again")
    assert after_leads > before_leads and booked > before_credits


def test_service_errors_past_the_budget_leave_people_unsettled_and_a_later_hour_buys_them(sandbox, sqlite_store):
    settings(sandbox, service_error_attempts=3)  # three asks fail: the whole 3-attempt budget
    ctx = zi_ctx(sandbox, sqlite_store)
    report = collect_hour(ctx, HOURS[0])
    waiting = {pid for key, got in answers(sqlite_store) if "|ask=3" in key
               for pid, o in got.items() if o.status == "SERVICE_ERROR"}
    assert waiting and report.slices_failed >= 1
    assert any("SERVICE_ERROR on every attempt" in e for e in report.errors)
    failed = [r for r in sqlite_store.slices("zoominfo") if r["status"] == "failed"]
    assert failed and all("SERVICE_ERROR" in r["error"] for r in failed)
    assert not waiting & set(sqlite_store.read_sql("SELECT vendor_person_id FROM quarantine")["vendor_person_id"])
    # ZoomInfo recovers; the next hour takes the failed slices over and the fourth ask answers.
    settings(sandbox, service_error_attempts=1)
    later = collect_hour(ctx, HOURS[1])
    assert later.slices_carried_over == len(failed) and later.slices_failed == 0
    stored = set(sqlite_store.read_sql("SELECT vendor_person_id FROM lead_sources")["vendor_person_id"])
    assert waiting <= stored
    assert vendor_stats(sandbox)["rebought"] == {}


def test_a_spent_allowance_fails_the_run_without_retries(sandbox, tmp_path):
    settings(sandbox, record_limit=5)
    resources = sandbox_resources(sandbox.base_url, tmp_path)
    with dg.instance_for_test() as instance:
        result = dg.materialize([collect_leads], partition_key=sprint_partition_key(HOURS[0], "zoominfo"),
                                resources=resources, instance=instance, raise_on_error=False)
    assert not result.success
    failures = result.get_step_failure_events()
    assert len(failures) == 1 and "LIMIT_EXCEEDED" in failures[0].step_failure_data.error.message
    assert not [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    store = resources["lead_store"].store()
    assert len(store.read_sql("SELECT lead_id FROM leads")) >= 5  # what was paid for is stored


def test_a_slice_that_finds_nobody_is_reported_not_settled(sandbox, sqlite_store, monkeypatch):
    real = zoominfo_collection.zoominfo_query

    def malformed(s):  # what the old code sent for several metros: an array where a string is expected
        q = real(s)
        return {**q, "metroRegion": [q["metroRegion"]]}

    monkeypatch.setattr(zoominfo_collection, "zoominfo_query", malformed)
    report = collect_hour(zi_ctx(sandbox, sqlite_store), HOURS[0])
    rows = sqlite_store.slices("zoominfo", HOURS[0])
    assert rows and all(r["status"] == "empty" and r["error"] == EMPTY_SLICE_ERROR for r in rows)
    assert report.slices_complete == 0 and report.bought == 0
    assert len(report.errors) == len(rows) and all("0 results where the plan expected people" in e
                                                   for e in report.errors)


def test_gtm_collection_finds_what_the_legacy_api_finds(sandbox, tmp_path):
    stores = {api: LeadStore(f"sqlite:///{tmp_path / f'{api}.db'}") for api in ("legacy", "gtm")}
    reports = {}
    for api, store in stores.items():
        store.ensure_schema()
        requests.post(f"{sandbox.base_url}/__sandbox/reset", json={}, timeout=5)
        ctx = zi_ctx(sandbox, store, api)
        reports[api] = [collect_hour(ctx, hour) for hour in HOURS[:2]]
        assert all(r.errors == [] and r.slices_failed == 0 for r in reports[api])
        assert vendor_stats(sandbox)["rebought"] == {}
    sources = {api: set(s.read_sql("SELECT vendor_person_id FROM lead_sources")["vendor_person_id"])
               for api, s in stores.items()}
    reasons = {api: quarantine_reasons(s) for api, s in stores.items()}
    assert sources["gtm"] == sources["legacy"] and sources["gtm"]
    assert reasons["gtm"] == reasons["legacy"]
    assert [r.credits for r in reports["gtm"]] == [r.credits for r in reports["legacy"]]
    truth = reachable(sandbox.base_url, "zoominfo", HOURS[:2])
    assert compare(stores["gtm"], {"zoominfo": truth}).exact
    # GTM landings replay without a client, like legacy ones.
    replay = collect_hour(collection_context(CFG, stores["gtm"], DedupIndex(stores["gtm"], None), client=None,
                                             source="zoominfo"), HOURS[0])
    assert replay.pages_replayed == reports["gtm"][0].pages_fetched and replay.slices_failed == 0
    requests_total = vendor_stats(sandbox)["requests"]
    assert "gtm/data/v1/contacts/enrich" in requests_total and "gtm/data/v1/contacts/search" in requests_total
    for store in stores.values():
        store.dispose()
