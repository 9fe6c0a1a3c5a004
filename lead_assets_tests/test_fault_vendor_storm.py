"""A vendor storm: Apollo answers ~30 % of requests with 429, 5xx, malformed bodies or slowly.

Over eight hours of sprint (six storm hours checked, two more to take over what the last
storm hours left): every slice of the storm hours completes (failed slices are taken over by
later hours), the logical-call success rate stays above 90 %, no call exceeds the 3-attempt
budget, every failed attempt the sandbox injected is counted in `vendor_calls`, and no
credit is paid twice.
"""

from __future__ import annotations

import pytest
import requests

from lead_assets.clients.apollo import ApolloClient
from lead_assets.config.settings import sprint_config
from lead_assets.pipeline.search_plan import hour_keys
from lead_assets.sandbox import SandboxConfig, start_sandbox
from lead_assets.sources.collector import collect_hour, collection_context
from lead_assets.store.dedup_index import DedupIndex
from lead_assets.store.lead_store import LeadStore
from lead_assets.store.metrics import sprint_metrics

CFG = sprint_config()
HOURS = hour_keys(CFG.start, CFG.hours)
STORM_HOURS = 6
RUN_HOURS = 8
STORM = {"rate_500": 0.07, "rate_502": 0.03, "rate_503": 0.03, "rate_429": 0.07, "rate_malformed": 0.05,
         "rate_slow": 0.05, "slow_ms": 60}
TABLES = ("lead_sources, leads, raw_landings, dedup_keys, quarantine, search_slices, vendor_calls, "
          "cost_ledger, enrichment_ledger, field_provenance, crm_sync_state")


@pytest.fixture(scope="module")
def sandbox():
    with start_sandbox(SandboxConfig(population=1500)) as sb:
        yield sb


def test_thirty_percent_vendor_errors_for_hours(sandbox, pg_url):
    url = sandbox.base_url
    requests.post(f"{url}/__sandbox/reset", json={"config": True}, timeout=5)
    r = requests.post(f"{url}/__sandbox/config", json={"faults": {"apollo": STORM}}, timeout=5)
    assert r.status_code == 200, r.text
    store = LeadStore(pg_url)
    with store.transaction() as conn:
        conn.exec_driver_sql(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
    client = ApolloClient(f"{url}/apollo", "sandbox-apollo-key", sleep=lambda s: None)
    ctx = collection_context(CFG, store, DedupIndex(store, None), client=client)
    per_hour = []
    for hour in HOURS[:RUN_HOURS]:
        report = collect_hour(ctx, hour)
        per_hour.append((report.slices, report.slices_failed, report.slices_carried_over, report.vendor_calls,
                         report.vendor_errors))

    # Every slice of the storm hours ended complete (or split into complete children), none failed for good.
    slices = store.slices("apollo")
    planned_hours = set(HOURS[:STORM_HOURS])
    assert len([s for s in slices if s["parent_key"] is None and s["hour_key"] in planned_hours]) >= 5 * STORM_HOURS
    not_done = [s for s in slices if s["status"] not in ("complete", "split", "capped") and
                s["hour_key"] in planned_hours]
    assert not_done == [], not_done
    failed_slice_runs = sum(h[1] for h in per_hour)
    taken_over = sum(h[2] for h in per_hour)
    assert failed_slice_runs >= 1 and taken_over >= 1  # the storm did fail some, later hours took them over

    calls = store.read_sql("SELECT endpoint, outcome, attempts, status_code, error FROM vendor_calls")
    assert len(calls) > 0
    assert int(calls["attempts"].max()) <= 3
    ok = calls["outcome"].isin(["ok", "retried_ok"])
    success_rate = float(ok.mean())
    assert success_rate > 0.90, success_rate
    assert calls.loc[~ok, "error"].map(lambda e: isinstance(e, str) and bool(e)).all()

    stats = requests.get(f"{url}/__sandbox/stats", timeout=5).json()["vendors"]["apollo"]
    injected = stats["injected_faults"]
    attempts_seen_by_vendor = stats["requests_total"]
    attempts_recorded = int(calls["attempts"].sum())
    # every HTTP attempt the vendor received (the failed ones included) is counted in vendor_calls
    assert attempts_recorded == attempts_seen_by_vendor, (attempts_recorded, attempts_seen_by_vendor)
    failed_attempts_recorded = attempts_recorded - int(ok.sum())
    error_kinds = {k: v for k, v in injected.items() if k != "slow"}
    # every injected error (and every real 429) is a failed attempt in vendor_calls, no more, no less
    real_429 = max(0, stats["responses_429"] - error_kinds.get("429", 0))
    assert failed_attempts_recorded == sum(error_kinds.values()) + real_429
    error_share = sum(error_kinds.values()) / attempts_seen_by_vendor if error_kinds else None

    assert stats["rebought"] == {}
    metrics = sprint_metrics(store)
    unreadable_people = int(store.read_sql(
        "SELECT COUNT(*) AS n FROM quarantine WHERE reason LIKE '%unreadable after the vendor charged%'")["n"].iloc[0])
    # Credits booked (vendor_calls / cost_ledger) miss what an unreadable paid answer cost: the vendor
    # charged for it, the project cannot read how much. The gap is bounded by the people quarantined so.
    gap = stats["credits_consumed"] - metrics["credits"]
    assert 0 <= gap <= unreadable_people, (gap, unreadable_people)
    dupes = store.read_sql("SELECT linkedin_url FROM leads WHERE linkedin_url IS NOT NULL "
                           "GROUP BY linkedin_url HAVING COUNT(*) > 1")
    assert dupes.empty
    print(f"\nvendor storm: per hour (slices, failed, taken over, calls, failed calls)={per_hour}; "
          f"logical calls={len(calls)}, success rate={success_rate:.3f}, max attempts={int(calls['attempts'].max())}, "
          f"attempts={attempts_recorded} (vendor saw {attempts_seen_by_vendor}), failed attempts={failed_attempts_recorded}, "
          f"injected={injected} (error share {error_share}), retried_ok={int((calls['outcome'] == 'retried_ok').sum())}, "
          f"failed={int((~ok).sum())}, leads={len(store.read_leads())}, "
          f"people quarantined behind unreadable paid answers={unreadable_people}, credits charged={stats['credits_consumed']}, "
          f"booked={metrics['credits']} (gap {gap}), "
          f"rebought={stats['rebought']}")
    store.dispose()
