"""Every vendor storms at once: ~30 % of all requests fail (429, 5xx, truncated bodies, slow answers).

`test_fault_vendor_storm` checks Apollo's collection call by call; this one checks the workflows
an operator sees. Three hours of sprint, every source (Apollo, ZoomInfo), each partition
materialised as the daemon would (collection, dedup, enrichment through Hunter, NeverBounce and
Clearbit, scoring, the target checks) with the assets' own retry policy, plus a HubSpot export
run after every hour, while Apollo, ZoomInfo, Hunter, NeverBounce, Clearbit, HubSpot and Slack
all answer with the same storm. Then:

* more than 90 % of the workflow runs succeed;
* no logical vendor call took more than 3 attempts (polls for a pending answer aside), and every
  one that failed has an error;
* every HTTP attempt a data vendor received is counted in `vendor_calls`;
* nobody is bought, enriched or verified twice, and the store and HubSpot hold no duplicates.
"""

from __future__ import annotations

import dagster as dg
import pytest
import requests

from lead_assets.config.settings import sprint_config
from lead_assets.crm.setup import crm_setup
from lead_assets.defs.checks import SPRINT_TARGET_CHECKS
from lead_assets.defs.collection import collect_leads
from lead_assets.defs.crm import crm_exports, qualified_leads_accounted_for
from lead_assets.defs.enrichment import enriched_leads
from lead_assets.defs.leads import scored_leads
from lead_assets.defs.partitions import sprint_partition_key
from lead_assets.defs.resources import LeadStoreResource
from lead_assets.pipeline.search_plan import hour_keys
from lead_assets.sandbox import SandboxConfig, start_sandbox
from lead_assets_tests.conftest import STORE_TABLES
from lead_assets_tests.sandbox_resources import sandbox_resources

CFG = sprint_config()
HOURS = hour_keys(CFG.start, CFG.hours)[:3]
SOURCES = ("apollo", "zoominfo")
STORM = {"rate_500": 0.06, "rate_502": 0.03, "rate_503": 0.03, "rate_429": 0.08, "rate_malformed": 0.05,
         "rate_slow": 0.05, "slow_ms": 60}
DATA_VENDORS = ("apollo", "zoominfo", "hunter", "neverbounce", "clearbit")
PARTITION_ASSETS = [collect_leads, enriched_leads, scored_leads, *SPRINT_TARGET_CHECKS]


@pytest.fixture(scope="module")
def sandbox():
    with start_sandbox(SandboxConfig(population=1200)) as sb:
        yield sb


def failures(result) -> list[str]:
    """The root cause of each step failure of a run, first line (what an operator reads first)."""
    out = []
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            error = event.step_failure_data.error
            while error.cause is not None:
                error = error.cause
            out.append(error.message.strip().splitlines()[0])
    return out


def test_every_vendor_storming_still_completes_the_workflows(sandbox, pg_url, tmp_path):
    url = sandbox.base_url
    requests.post(f"{url}/__sandbox/reset", json={"config": True}, timeout=5)
    resources = sandbox_resources(url, tmp_path, lead_store=LeadStoreResource(database_url=pg_url))
    crm_config = resources["crm"].config()
    crm_setup(crm_config.target, resources["crm"].client(crm_config), crm_config)  # the operator's one-off setup
    r = requests.post(f"{url}/__sandbox/config", json={"faults": {"*": STORM}}, timeout=5)
    assert r.status_code == 200, r.text
    store = resources["lead_store"].store()
    with store.transaction() as conn:
        conn.exec_driver_sql(f"TRUNCATE {', '.join(STORE_TABLES)} RESTART IDENTITY CASCADE")

    outcomes: list[tuple[str, bool]] = []
    with dg.instance_for_test() as instance:
        for hour in HOURS:
            for source in SOURCES:
                key = sprint_partition_key(hour, source)
                result = dg.materialize(PARTITION_ASSETS, partition_key=key, resources=resources, instance=instance,
                                        raise_on_error=False)
                outcomes.append((key, result.success, failures(result)))
            for source in SOURCES:  # the export of each hour x source, as automation requests it
                key = sprint_partition_key(hour, source)
                result = dg.materialize([crm_exports, qualified_leads_accounted_for], resources=resources,
                                        partition_key=key, instance=instance, raise_on_error=False)
                outcomes.append((f"crm_exports {key}", result.success, failures(result)))
        retried = sum(1 for record in instance.get_event_records(
            dg.EventRecordsFilter(event_type=dg.DagsterEventType.STEP_UP_FOR_RETRY)))

    succeeded = sum(ok for _, ok, _ in outcomes)
    workflow_success = succeeded / len(outcomes)
    assert workflow_success > 0.90, outcomes

    calls = store.read_sql("SELECT vendor, endpoint, outcome, attempts, polls, error FROM vendor_calls")
    assert set(DATA_VENDORS) <= set(calls["vendor"])
    tries = calls["attempts"] - calls["polls"]  # asking again for a pending answer (Clearbit's 202) is no retry
    assert int(tries.max()) <= 3, calls[tries > 3].to_dict("records")
    ok = calls["outcome"].isin(["ok", "retried_ok"])
    assert calls.loc[~ok, "error"].map(lambda e: isinstance(e, str) and bool(e)).all()
    call_success = float(ok.mean())

    stats = requests.get(f"{url}/__sandbox/stats", timeout=5).json()["vendors"]
    injected = {vendor: sum(n for kind, n in stats[vendor].get("injected_faults", {}).items() if kind != "slow")
                for vendor in (*DATA_VENDORS, "hubspot")}
    assert all(injected[v] > 0 for v in DATA_VENDORS), injected  # the storm did hit every data vendor
    attempts = calls.groupby("vendor")["attempts"].sum()
    for vendor in DATA_VENDORS:
        # every HTTP attempt the vendor received, the failed ones included, is in vendor_calls
        assert int(attempts.get(vendor, 0)) == stats[vendor]["requests_total"], (vendor, attempts.to_dict())
        assert stats[vendor]["rebought"] == {}, (vendor, stats[vendor]["rebought"])

    dupes = store.read_sql("SELECT linkedin_url FROM leads WHERE linkedin_url IS NOT NULL "
                           "GROUP BY linkedin_url HAVING COUNT(*) > 1")
    assert dupes.empty
    synced = store.read_sql("SELECT crm_id FROM crm_sync_state WHERE crm_id IS NOT NULL")
    assert len(synced) > 0 and synced["crm_id"].is_unique
    assert stats["hubspot"]["duplicate_emails"] == 0
    assert stats["hubspot"]["contacts_total"] == len(synced)
    error_share = sum(injected.values()) / sum(stats[v]["requests_total"] for v in injected)
    print(f"\nstorm workflows: {succeeded}/{len(outcomes)} runs succeeded ({workflow_success:.1%}), "
          f"step retries {retried}; {len(calls)} logical calls, {call_success:.1%} succeeded within 3 attempts; "
          f"injected errors {injected} ({error_share:.1%} of requests); "
          f"leads {int(store.read_sql('SELECT COUNT(*) AS n FROM leads')['n'].iloc[0])}, in HubSpot {len(synced)}; "
          f"failed runs {[(k, why) for k, ok, why in outcomes if not ok]}")
    store.dispose()
