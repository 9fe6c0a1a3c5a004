"""Apollo collection end to end over real HTTP: the store must match the sandbox's ground truth.

No lead lost, none duplicated, no credit paid twice, every record a lead or a quarantine
row, slices split at the cap, failed slices taken over by a later hour.
"""

from __future__ import annotations

import json

import pytest
import redis
import requests

from lead_assets.clients.apollo import ApolloClient
from lead_assets.clients.errors import VendorAuthError
from lead_assets.config.settings import sprint_config
from lead_assets.pipeline.search_plan import hour_keys
from lead_assets.sandbox import SandboxConfig, start_sandbox
from lead_assets.sources import purchases
from lead_assets.sources.collector import collect_hour, collection_context
from lead_assets.store.dedup_index import DedupIndex
from lead_assets.store.metrics import sprint_metrics

CFG = sprint_config()
HOURS = hour_keys(CFG.start, CFG.hours)


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


def apollo_stats(sandbox):
    return requests.get(f"{sandbox.base_url}/__sandbox/stats", timeout=5).json()["vendors"]["apollo"]


def ground_truth(sandbox):
    titles = [t for r in CFG.target_roles for t in (r.role, *r.aliases)]
    body = {"person_titles": titles, "person_locations": list(CFG.locations)}
    return requests.post(f"{sandbox.base_url}/__sandbox/ground_truth", json=body, timeout=30).json()["people"]


def make_ctx(sandbox, store, redis_url=None, key="sandbox-apollo-key"):
    client = ApolloClient(f"{sandbox.base_url}/apollo", key, sleep=lambda s: None)
    return collection_context(CFG, store, DedupIndex(store, redis_url), client=client)


def assert_matches_ground_truth(sandbox, store):
    """Every reachable real person is exactly one lead, or quarantined with a reason."""
    sources = store.read_sql("SELECT vendor_person_id, lead_id FROM lead_sources")
    lead_of_vid = dict(zip(sources["vendor_person_id"], sources["lead_id"], strict=True))
    quarantined = set(store.read_sql("SELECT vendor_person_id FROM quarantine")["vendor_person_id"])
    seen_leads: dict[str, str] = {}
    missing = []
    for person in ground_truth(sandbox):
        leads = {lead_of_vid[v] for v in person["apollo_ids"] if v in lead_of_vid}
        if not leads:
            if not any(v in quarantined for v in person["apollo_ids"]):
                missing.append(person["real_id"])
            continue
        assert len(leads) == 1, f"{person['real_id']} became {len(leads)} leads"
        lead = leads.pop()
        assert lead not in seen_leads, f"{person['real_id']} and {seen_leads[lead]} merged into one lead"
        seen_leads[lead] = person["real_id"]
    assert missing == []
    assert len(store.read_leads()) == len(seen_leads)


def test_full_sprint_matches_ground_truth_and_reruns_cost_nothing(sandbox, pg_url, redis_url):
    from lead_assets.store.lead_store import LeadStore

    store = LeadStore(pg_url)
    store.ensure_schema()
    with store.transaction() as conn:
        conn.exec_driver_sql(
            "TRUNCATE lead_sources, leads, raw_landings, dedup_keys, quarantine, "
            "search_slices, vendor_calls RESTART IDENTITY CASCADE"
        )
    ctx = make_ctx(sandbox, store, redis_url)
    for hour in HOURS:
        report = collect_hour(ctx, hour)
        assert report.slices_failed == 0 and report.errors == []
    assert_matches_ground_truth(sandbox, store)
    first = apollo_stats(sandbox)
    assert first["rebought"] == {}
    metrics = sprint_metrics(store)
    assert metrics["credits"] == first["credits_consumed"]
    leads_before = len(store.read_leads())

    # Re-running every partition of a finished sprint replays the landings: nothing is paid.
    for hour in HOURS:
        collect_hour(ctx, hour)
    again = apollo_stats(sandbox)
    assert again["credits_consumed"] == first["credits_consumed"]
    assert again["requests"].get("people/bulk_match") == first["requests"].get("people/bulk_match")
    assert len(store.read_leads()) == leads_before
    store.dispose()


def test_killed_run_resumes_without_paying_twice(sandbox, store, monkeypatch):
    ctx = make_ctx(sandbox, store)
    real = purchases.store_batch
    calls = {"n": 0}

    def dying_store_batch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:  # the process dies after buying a page, before storing it
            raise SystemExit("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(purchases, "store_batch", dying_store_batch)
    with pytest.raises(SystemExit):
        collect_hour(ctx, HOURS[0])
    monkeypatch.setattr(purchases, "store_batch", real)
    bought_before = apollo_stats(sandbox)["credits_consumed"]
    report = collect_hour(make_ctx(sandbox, store), HOURS[0])
    assert report.pages_replayed >= 1
    stats = apollo_stats(sandbox)
    assert stats["rebought"] == {}
    # the replay bought only the pages the dead run never reached
    assert stats["credits_consumed"] - bought_before == report.credits
    # every person the partition's pages listed is now a lead's source record or quarantined
    listed = {
        p["id"]
        for landing in store.landings("apollo", f"{HOURS[0]}|apollo", "search_page")
        for p in json.loads(landing["payload"])["people"]
    }
    accounted = set(store.read_sql("SELECT vendor_person_id FROM lead_sources")["vendor_person_id"])
    accounted |= set(store.read_sql("SELECT vendor_person_id FROM quarantine")["vendor_person_id"])
    assert listed and listed <= accounted


def test_slices_over_the_cap_are_split_not_cut(sandbox, store):
    configure(sandbox, search_cap=10)
    ctx = make_ctx(sandbox, store)
    ctx.per_page, ctx.max_pages = 5, 2  # the project's view of the cap: 2 pages x 5 = 10
    report = collect_hour(ctx, HOURS[0])
    assert report.slices_split >= 1
    rows = store.slices("apollo")
    children = [r for r in rows if r["parent_key"]]
    assert children and all(r["status"] in ("split", "complete", "capped") for r in children)
    assert any(r["status"] == "complete" for r in children)
    split = [r for r in rows if r["status"] == "split"]
    assert {c["parent_key"] for c in children} <= {s["slice_key"] for s in split}
    capped = [r for r in children if r["status"] == "capped"]
    # anything still over the cap is said out loud, with its coverage
    assert len([e for e in report.errors if "coverage" in e]) == len(capped)
    assert all(0 < r["coverage"] < 1 for r in capped)


def test_failed_slice_is_recorded_and_taken_over_by_the_next_hour(sandbox, store):
    configure(sandbox, faults={"apollo": {"fail_next": 3, "fail_next_kind": "500", "paths": ["api_search"]}})
    ctx = make_ctx(sandbox, store)
    first = collect_hour(ctx, HOURS[0])
    assert first.slices_failed == 1 and "HTTP 500" in first.errors[0]
    failed = [r for r in store.slices("apollo") if r["status"] == "failed"]
    assert len(failed) == 1 and failed[0]["error"]
    second = collect_hour(ctx, HOURS[1])
    assert second.slices_carried_over == 1 and second.slices_failed == 0
    assert not [r for r in store.slices("apollo") if r["status"] == "failed"]
    calls = store.read_sql("SELECT outcome, attempts FROM vendor_calls WHERE outcome = 'failed'")
    assert calls["attempts"].tolist() == [3]


def test_wrong_key_stops_the_source_with_the_setting_named(sandbox, store):
    ctx = make_ctx(sandbox, store, key="wrong")
    with pytest.raises(VendorAuthError, match="APOLLO_API_KEY"):
        collect_hour(ctx, HOURS[0])


def test_redis_down_mid_run_falls_back_to_the_database(sandbox, pg_url, redis_url, monkeypatch):
    from lead_assets.store.lead_store import LeadStore

    store = LeadStore(pg_url)
    store.ensure_schema()
    with store.transaction() as conn:
        conn.exec_driver_sql(
            "TRUNCATE lead_sources, leads, raw_landings, dedup_keys, quarantine, "
            "search_slices, vendor_calls RESTART IDENTITY CASCADE"
        )
    ctx = make_ctx(sandbox, store, redis_url)
    collect_hour(ctx, HOURS[0])

    def down(*args, **kwargs):
        raise redis.ConnectionError("redis stopped")

    monkeypatch.setattr(redis.client.Pipeline, "execute", down)
    monkeypatch.setattr(redis.Redis, "mget", down, raising=False)
    report = collect_hour(ctx, HOURS[1])
    assert report.slices_failed == 0
    assert ctx.index.stats["fallbacks"] >= 1
    monkeypatch.undo()
    redis.Redis.from_url(redis_url).flushdb()  # a restarted Redis has forgotten everything
    collect_hour(ctx, HOURS[0])  # replay of hour 0 must find every person again
    assert apollo_stats(sandbox)["rebought"] == {}
    dupes = store.read_sql(
        "SELECT linkedin_url, COUNT(*) AS n FROM leads WHERE linkedin_url IS NOT NULL "
        "GROUP BY linkedin_url HAVING COUNT(*) > 1"
    )
    assert dupes.empty
    store.dispose()
