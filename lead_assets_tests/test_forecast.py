"""`lead-sprint forecast` over real HTTP against the sandbox: a free search pass that buys and stores nothing.

The forecast's new people must equal the sandbox's ground truth minus what the store already
collected; the sandbox must show no credit spent and no bulk_match call; after a full
collection the forecast must find nobody new and project no Apollo spend.
"""

from __future__ import annotations

import pytest
import requests

from lead_assets.clients.apollo import ApolloClient
from lead_assets.config.settings import sprint_config
from lead_assets.core.enrichment_config import load_enrichment_config
from lead_assets.forecast_cli import add_forecast_commands
from lead_assets.pipeline.forecast import Forecast, forecast_sprint
from lead_assets.pipeline.search_plan import hour_keys
from lead_assets.sandbox import SandboxConfig, start_sandbox
from lead_assets.sources.collector import collect_hour, collection_context
from lead_assets.store.dedup_index import DedupIndex
from lead_assets.store.lead_store import LeadStore

CFG = sprint_config()
HOURS = hour_keys(CFG.start, CFG.hours)
ENRICHMENT = load_enrichment_config(sprint=CFG)
UNLIMITED_SEARCH = {"apollo": {"search": {"minute": None, "hour": None, "day": None}}}


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


def apollo_stats(sandbox) -> dict:
    return requests.get(f"{sandbox.base_url}/__sandbox/stats", timeout=5).json()["vendors"]["apollo"]


def truth_ids(sandbox) -> set[str]:
    titles = [t for r in CFG.target_roles for t in (r.role, *r.aliases)]
    body = {"person_titles": titles, "person_locations": list(CFG.locations)}
    people = requests.post(f"{sandbox.base_url}/__sandbox/ground_truth", json=body, timeout=30).json()["people"]
    return {pid for p in people for pid in p["apollo_ids"]}


def collected_ids(store) -> set[str]:
    """Apollo ids the store has paid for: a lead's source record or a quarantine row."""
    ids = set(store.read_sql("SELECT vendor_person_id FROM lead_sources WHERE source = 'apollo'")["vendor_person_id"])
    ids |= set(store.read_sql("SELECT vendor_person_id FROM quarantine WHERE source = 'apollo' "
                              "AND vendor_person_id IS NOT NULL")["vendor_person_id"])
    return ids


def counts(store) -> dict[str, int]:
    tables = ("leads", "lead_sources", "raw_landings", "search_slices", "vendor_calls", "cost_ledger", "quarantine")
    return {t: int(store.read_sql(f"SELECT count(*) AS n FROM {t}")["n"].iloc[0]) for t in tables}


def client_for(sandbox, **kwargs) -> ApolloClient:
    return ApolloClient(f"{sandbox.base_url}/apollo", "sandbox-apollo-key", sleep=lambda s: None, **kwargs)


def test_forecast_counts_new_people_buys_nothing_and_sees_a_finished_sprint(sandbox, store):
    configure(sandbox, limits=UNLIMITED_SEARCH)
    index = DedupIndex(store, None)
    ctx = collection_context(CFG, store, index, client=client_for(sandbox))
    for hour in HOURS[:2]:
        assert collect_hour(ctx, hour).errors == []
    already = collected_ids(store)
    assert already
    truth = truth_ids(sandbox)
    before_stats, before_rows = apollo_stats(sandbox), counts(store)

    fc = forecast_sprint(client_for(sandbox), store, index, CFG, ENRICHMENT)

    after_stats = apollo_stats(sandbox)
    assert after_stats["credits_consumed"] == before_stats["credits_consumed"]
    assert after_stats["requests"].get("people/bulk_match") == before_stats["requests"].get("people/bulk_match")
    assert counts(store) == before_rows  # no leads, landings, slices, calls or costs written
    assert fc.slices_failed == 0 and fc.errors == []
    assert fc.distinct_ids == len(truth)
    assert fc.new_people_found == len(truth - already)
    assert fc.already_known + fc.already_bought == len(truth & already)
    assert fc.apollo_credits == fc.new_people_found
    assert fc.apollo_cost_usd == pytest.approx(fc.new_people_found * CFG.prices_usd["apollo_credit"])
    assert fc.projected_spend_usd >= fc.apollo_cost_usd
    assert fc.rate_sources["lead_yield"] == "store"  # two hours of leads are enough to observe
    assert sum(fc.new_by_hour.values()) == fc.new_people_found
    d = fc.as_dict()
    assert {"new_people", "apollo_cost_usd", "enrichment_cost_usd", "projected_spend_usd",
            "projected_cost_per_qualified_lead", "rates", "rate_sources", "within_budget"} <= set(d)
    assert "new" in fc.format() and "per qualified lead" in fc.format()

    for hour in HOURS:
        collect_hour(ctx, hour)
    done = forecast_sprint(client_for(sandbox), store, index, CFG, ENRICHMENT)
    assert done.new_people_found == len(truth - collected_ids(store)) == 0
    assert done.apollo_cost_usd == 0 and done.projected_spend_usd == pytest.approx(0)
    assert apollo_stats(sandbox)["rebought"] == {}


def test_forecast_stays_inside_the_search_windows(sandbox, sqlite_url):
    # A 40-a-second search window on both sides: the client's limiter must wait, never earn a 429.
    configure(sandbox, limits={"apollo": {"search": {"minute": 40, "hour": None, "day": None}}},
              windows={"minute": 1.0})
    store = LeadStore(sqlite_url)
    store.ensure_schema()
    client = ApolloClient(f"{sandbox.base_url}/apollo", "sandbox-apollo-key",
                          limits={"search": {"minute": 40}}, window_seconds={"minute": 1.0})
    fc = forecast_sprint(client, store, DedupIndex(store, None), CFG, ENRICHMENT)
    stats = apollo_stats(sandbox)
    assert fc.search_calls >= 120 and fc.slices_failed == 0
    assert fc.seconds >= 1.0  # 120 calls at 40 a window span 3 windows: 2 boundaries waited for
    assert stats["rate_limited"] == {} and stats["requests"].get("people/bulk_match") is None
    assert stats["credits_consumed"] == 0
    # an empty store: every rate is a stated default, and the projection is still made
    assert set(fc.rate_sources.values()) == {"default"}
    assert fc.new_people_found == fc.distinct_ids > 0 and fc.projected_cost_per_qualified_lead is not None
    store.dispose()


def test_sampling_extrapolates_and_cli_parses(sandbox, sqlite_url):
    import argparse

    configure(sandbox, limits=UNLIMITED_SEARCH)
    store = LeadStore(sqlite_url)
    store.ensure_schema()
    client = client_for(sandbox)
    cfg = CFG.__class__(**{**CFG.__dict__, "collection": {"apollo": {"per_page": 5, "max_pages": 500}}})
    fc: Forecast = forecast_sprint(client, store, DedupIndex(store, None), cfg, ENRICHMENT,
                                   max_pages_per_slice=1, hours=HOURS[:3])
    assert fc.sampled and fc.rows_listed < fc.rows_reachable
    assert fc.new_people > fc.new_people_found
    parser = argparse.ArgumentParser()
    add_forecast_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["forecast", "--max-pages", "2", "--json"])
    assert args.max_pages == 2 and args.json and args.func.__name__ == "cmd_forecast"
    store.dispose()
