"""Waterfall enrichment end to end over real HTTP, on leads the Apollo collection stored, on both dialects.

Fill rates rise; a re-run costs $0.00 more (the sandbox sees no re-buy, the cost ledger does not
move); a lookup that found nothing is not repeated until its TTL ends; the budget guard stops
before the budget and says so; a spent Hunter plan stops Hunter, not the run; a refused
NeverBounce key is reported by its setting's name; an undeliverable email is kept, not counted.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
import requests

from lead_assets.clients.apollo import ApolloClient
from lead_assets.config.settings import sprint_config
from lead_assets.core.enrichment_config import load_enrichment_config
from lead_assets.pipeline import enrichment
from lead_assets.pipeline.enrichment import clients_from_env, enrich_leads
from lead_assets.pipeline.search_plan import hour_keys
from lead_assets.sandbox import SandboxConfig, start_sandbox
from lead_assets.sources.collector import collect_hour, collection_context
from lead_assets.store.dedup_index import DedupIndex
from lead_assets.store.enrichment_ledger import read_costs, read_provenance, spend_by_vendor, total_spend
from lead_assets.store.lead_store import utc_now
from lead_assets.store.metrics import sprint_metrics

SPRINT = sprint_config()
CONFIG = load_enrichment_config()
HOURS = hour_keys(SPRINT.start, SPRINT.hours)[:6]
ENRICHMENT_TABLES = "enrichment_ledger, field_provenance, cost_ledger"
VENDORS = ("hunter", "neverbounce", "clearbit")
UNIT_PRICES = {"hunter": SPRINT.prices_usd["hunter_credit"],
               "neverbounce": SPRINT.prices_usd["neverbounce_verification"],
               "clearbit": SPRINT.prices_usd["clearbit_lookup"]}


@pytest.fixture(scope="module")
def sandbox():
    with start_sandbox(SandboxConfig(population=600, seed=7)) as sb:
        yield sb


@pytest.fixture(autouse=True)
def reset(sandbox):
    requests.post(f"{sandbox.base_url}/__sandbox/reset", json={"config": True}, timeout=5)
    # The tests measure behaviour, not Hunter's 15 requests a second.
    configure(sandbox, {"limits": {
        "hunter": {"search": {"second": None, "minute": None}, "verifier": {"second": None, "minute": None}},
        "neverbounce": {"single": {"second": None, "minute": None}},
    }})


def configure(sandbox, patch):
    r = requests.post(f"{sandbox.base_url}/__sandbox/config", json=patch, timeout=5)
    assert r.status_code == 200, r.text


def vendors(sandbox):
    return requests.get(f"{sandbox.base_url}/__sandbox/stats", timeout=5).json()["vendors"]


def env(sandbox, **overrides):
    values = {
        "HUNTER_BASE_URL": sandbox.url("hunter"), "HUNTER_API_KEY": "sandbox-hunter-key",
        "NEVERBOUNCE_BASE_URL": sandbox.url("neverbounce"), "NEVERBOUNCE_API_KEY": "secret_sandbox-neverbounce-key",
        "CLEARBIT_BASE_URL": sandbox.url("clearbit"), "CLEARBIT_API_KEY": "sk_sandbox-clearbit-key",
    }
    return {**values, **overrides}


def clients(sandbox, **overrides):
    return clients_from_env(CONFIG, env(sandbox, **overrides), limits=None, sleep=lambda s: None)


@pytest.fixture
def leads(sandbox, store):
    """The store with a few hours of Apollo collection in it; returns the lead ids."""
    if store.dialect == "postgresql":  # the shared database keeps rows the store fixture does not truncate
        with store.transaction() as conn:
            conn.exec_driver_sql(f"TRUNCATE {ENRICHMENT_TABLES} RESTART IDENTITY")
    client = ApolloClient(sandbox.url("apollo"), "sandbox-apollo-key", sleep=lambda s: None)
    ctx = collection_context(SPRINT, store, DedupIndex(store, None), client=client)
    for hour in HOURS:
        collect_hour(ctx, hour)
    ids = store.read_leads()["lead_id"].tolist()
    assert len(ids) > 80
    return ids


def enrichment_spend(store) -> float:
    """What the cost ledger booked for the enrichment vendors (Apollo's purchases are booked there too)."""
    by_vendor = spend_by_vendor(store)
    return sum(by_vendor.get(v, 0.0) for v in VENDORS)


def paid_per_sandbox(sandbox) -> float:
    """What the sandbox charged, priced as the sprint brief prices it."""
    stats = vendors(sandbox)
    return sum(stats[v]["credits_consumed"] * UNIT_PRICES[v] for v in VENDORS)


def test_fill_rates_rise_and_a_rerun_costs_nothing(sandbox, store, leads):
    first = enrich_leads(store, leads, clients(sandbox), CONFIG, run_id="run-1", partition_key="p1")
    assert first.email_availability_after >= first.email_availability_before + 0.2
    assert first.company_completeness_after > first.company_completeness_before
    metrics = sprint_metrics(store)  # the scoreboard agrees with the report
    assert metrics["email_availability"] == pytest.approx(first.email_availability_after)
    assert metrics["company_completeness"] == pytest.approx(first.company_completeness_after)
    assert first.calls["hunter email-finder"] == first.needing_email
    assert first.hits["hunter"] >= 0.5 * first.needing_email and first.errors == []

    # Every dollar in the cost ledger is a credit the vendor charged, priced from configuration.
    assert enrichment_spend(store) == pytest.approx(first.spend_usd) == pytest.approx(paid_per_sandbox(sandbox))
    assert set(spend_by_vendor(store)) == {"apollo", *VENDORS}  # collection and enrichment, one ledger
    costs = read_costs(store)
    costs = costs[costs["vendor"] != "apollo"]  # the collection's purchases, booked by the fixture
    assert (costs["run_id"] == "run-1").all() and (costs["partition_key"] == "p1").all()
    assert costs["cost_usd"].to_numpy() == pytest.approx((costs["units"] * costs["unit_price_usd"]).to_numpy())
    first_stats = vendors(sandbox)
    assert all(first_stats[v]["rebought"] == {} for v in VENDORS)

    # Provenance: every filled field says who, when, at what cost, how verified.
    stored = store.fetch_leads(leads).set_index("lead_id")
    provenance = read_provenance(store, leads)
    emails = provenance[provenance["field"] == "email"].set_index("lead_id")
    assert len(emails) == first.emails_found > 0
    assert (emails["provider"] == "hunter").all() and (emails["cost_usd"] > 0).all()
    assert emails["verification_status"].str.startswith("neverbounce:").all()
    assert (stored.loc[emails.index, "email"] == emails["value"]).all()
    company_fields = provenance[provenance["field"].str.startswith("company_")]
    assert set(company_fields["provider"]) == {"clearbit"} and len(company_fields) >= first.companies_filled

    # An address that failed verification is kept, marked, and not counted as available.
    undeliverable = stored[stored["email_status"] == "undeliverable"]
    assert len(undeliverable) == first.emails_undeliverable >= 1
    assert undeliverable["email"].notna().all() and not undeliverable["email_verified"].any()
    assert emails.loc[undeliverable.index, "verification_status"].isin(
        ["neverbounce:invalid", "neverbounce:disposable"]).all()
    usable = stored["email"].notna() & (stored["email_status"] != "undeliverable")
    assert metrics["email_availability"] == pytest.approx(usable.mean())

    # A re-run (another run, another partition) buys nothing: not the finds, not the misses.
    ledger = store.read_sql("SELECT outcome, provider FROM enrichment_ledger")
    assert ((ledger["provider"] == "hunter") & (ledger["outcome"] == "not_found")).sum() >= 1
    second = enrich_leads(store, leads, clients(sandbox), CONFIG, run_id="run-2", partition_key="p2")
    assert second.spend_usd == 0 and second.calls == {}
    assert enrichment_spend(store) == pytest.approx(first.spend_usd)
    assert len(read_costs(store).query("vendor != 'apollo'")) == len(costs)
    again = vendors(sandbox)
    for v in VENDORS:
        assert again[v]["requests"] == first_stats[v]["requests"] and again[v]["rebought"] == {}
    assert second.email_availability_after == first.email_availability_after

    # Past the TTL the ledger forgets: the misses are asked again (and nothing else is).
    later = utc_now() + timedelta(days=CONFIG.ledger_ttl_days + 1)
    third = enrich_leads(store, leads, clients(sandbox), CONFIG, run_id="run-3", now=later)
    assert third.calls["hunter email-finder"] == second.needing_email


def test_budget_guard_stops_paid_calls_before_the_budget_and_says_so(sandbox, store, leads):
    collected = total_spend(store)  # one budget covers every vendor: Apollo's purchases count too
    budget = collected + 0.30
    report = enrich_leads(store, leads, clients(sandbox), CONFIG, budget=budget, run_id="tiny")
    assert report.budget_stopped and "budget" in report.budget_message and f"${budget:.2f}" in report.budget_message
    assert 0 < report.spend_usd <= 0.30 and total_spend(store) <= budget
    assert paid_per_sandbox(sandbox) == pytest.approx(enrichment_spend(store))
    assert report.email_availability_after > report.email_availability_before  # what was bought is used
    # The next run starts where the budget stands: no paid call, and it says so again.
    again = enrich_leads(store, leads, clients(sandbox), CONFIG, budget=0.30, run_id="tiny-2")
    assert again.calls == {} and again.budget_stopped and again.spend_usd == 0


def test_spent_hunter_plan_stops_hunter_and_the_waterfall_goes_on(sandbox, store, leads):
    configure(sandbox, {"keys": {"hunter": {"credits": 3}}})
    report = enrich_leads(store, leads, clients(sandbox), CONFIG, run_id="quota")
    assert "HTTP 429" in report.stopped_providers["hunter"]
    finder = vendors(sandbox)["hunter"]["requests"]["email-finder"]
    assert finder.get("429") == 1  # asked once more, told the plan is spent, and never again
    assert report.calls["hunter email-finder"] == finder["200"]
    assert report.calls["clearbit companies/find"] > 0 and report.companies_filled > 0
    assert report.emails_found <= 3


def test_refused_neverbounce_key_is_reported_by_name_and_hunter_verifies(sandbox, store, leads):
    report = enrich_leads(store, leads, clients(sandbox, NEVERBOUNCE_API_KEY="secret_wrong"), CONFIG, run_id="nb")
    assert "NEVERBOUNCE_API_KEY" in report.stopped_providers["neverbounce"]
    assert "auth_failure" in report.stopped_providers["neverbounce"]
    assert vendors(sandbox)["neverbounce"]["requests"]["single/check"] == {"200": 1}
    provenance = read_provenance(store)
    statuses = provenance.loc[provenance["field"] == "email", "verification_status"]
    assert len(statuses) > 0 and statuses.dropna().str.startswith("hunter:").all()


def test_per_lead_ceiling_skips_what_a_lead_cannot_afford(sandbox, store, leads):
    # A find (0.049) fits under 0.05; its NeverBounce check (0.008) and a Clearbit lookup (0.10) do not,
    # so Hunter's own verification is the word that counts, and the run neither stalls nor stops.
    config = dataclasses.replace(CONFIG, max_spend_per_lead_usd=0.05)
    report = enrich_leads(store, leads, clients(sandbox), config, run_id="ceiling")
    assert set(report.calls) == {"hunter email-finder"} and not report.budget_stopped
    assert report.emails_found > 0
    per_lead = read_costs(store).groupby("lead_id")["cost_usd"].sum()
    assert (per_lead <= 0.05 + 1e-9).all()
    provenance = read_provenance(store)
    statuses = provenance.loc[provenance["field"] == "email", "verification_status"]
    assert statuses.dropna().str.startswith("hunter:").all() and statuses.isna().any()


def test_a_killed_run_never_buys_twice(sandbox, store, leads, monkeypatch):
    real = enrichment.record_lookup
    calls = {"n": 0}

    def dies_after_25(*args, **kwargs):
        real(*args, **kwargs)  # the lookup is on disk ...
        calls["n"] += 1
        if calls["n"] == 25:
            raise SystemExit("killed")  # ... and the process dies before the leads are updated

    monkeypatch.setattr(enrichment, "record_lookup", dies_after_25)
    with pytest.raises(SystemExit):
        enrich_leads(store, leads, clients(sandbox), CONFIG, run_id="killed")
    monkeypatch.setattr(enrichment, "record_lookup", real)
    resumed = enrich_leads(store, leads, clients(sandbox), CONFIG, run_id="resumed")
    assert all(vendors(sandbox)[v]["rebought"] == {} for v in VENDORS)
    assert enrichment_spend(store) == pytest.approx(paid_per_sandbox(sandbox))
    # the dead run's purchases reached the leads anyway, for free
    provenance = read_provenance(store)
    assert (provenance["run_id"] == "resumed").sum() >= resumed.emails_found > 0
    assert resumed.emails_found > resumed.calls.get("neverbounce single/check", 0)


def test_runs_enriching_the_same_people_at_once_never_pay_twice(sandbox, store, leads):
    """Two runs of one hour share people and companies: each is bought by one run, once."""
    import threading

    from lead_assets.store.lead_store import LeadStore

    if store.dialect != "postgresql":
        pytest.skip("SQLite has one writer: runs never enrich at once")
    configure(sandbox, {"latency": 20})  # long enough for the two runs to overlap
    stores = [LeadStore(store.url), LeadStore(store.url)]  # two runs: two sessions
    reports, failures = [], []

    def run(s, ids):
        try:
            reports.append(enrich_leads(s, ids, clients(sandbox), CONFIG, run_id=f"r{len(reports)}"))
        except BaseException as exc:  # surfaced in the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(s, ids)) for s, ids in
               zip(stores, (leads, list(reversed(leads))), strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    for s in stores:
        s.dispose()
    assert failures == []
    stats = vendors(sandbox)
    assert {v: stats[v]["rebought"] for v in VENDORS} == {v: {} for v in VENDORS}
    assert sum(r.leads for r in reports) == len(leads)  # every lead enriched by exactly one run
    assert sum(r.held_elsewhere for r in reports) > 0  # and they did overlap
    assert total_spend(store) == pytest.approx(paid_per_sandbox(sandbox) + spend_by_vendor(store).get("apollo", 0))


def test_namesakes_at_one_employer_share_what_was_bought_for_the_first(sandbox, store, leads):
    """Two people of one name at one employer: the finder answers the name, the verifier the
    address, so the second lead reads both answers from the ledger (free) instead of buying them."""
    stored = store.read_leads()
    needy = stored[stored["email"].isna() & stored["company_website"].notna() & stored["first_name"].notna()]
    first = needy.iloc[0]
    enrich_leads(store, [first["lead_id"]], clients(sandbox), CONFIG, run_id="first")
    paid = store.read_sql("SELECT provider, field, value, cost_usd FROM enrichment_ledger WHERE lead_id = :l",
                          {"l": first["lead_id"]})
    assert (paid["cost_usd"] > 0).any()
    twin = first.copy()
    twin["lead_id"], twin["linkedin_url"] = "ld_namesake_of_first", "https://www.linkedin.com/in/another-person-0042"
    store.upsert_leads(twin.to_frame().T.reset_index(drop=True))
    before = vendors(sandbox)
    report = enrich_leads(store, [twin["lead_id"]], clients(sandbox), CONFIG, run_id="twin")
    after = vendors(sandbox)
    assert all(after[v]["credits_consumed"] == before[v]["credits_consumed"] for v in ("hunter", "neverbounce"))
    assert all(after[v]["rebought"] == {} for v in VENDORS)
    copied = store.read_sql("SELECT provider, field, value, cost_usd FROM enrichment_ledger WHERE lead_id = :l",
                            {"l": twin["lead_id"]})
    email_rows = copied[copied["field"].isin(["email", "email_verification"])]
    assert len(email_rows) >= 1 and (email_rows["cost_usd"] == 0).all()
    assert report.replayed >= len(email_rows)
    assert set(email_rows["value"].dropna()) <= set(paid["value"].dropna())
