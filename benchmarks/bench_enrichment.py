"""Waterfall enrichment vs the naive baseline, on the sandbox population.

Prints figures, asserts nothing. In one process it
  1. collects the sprint's hours from the sandbox's Apollo into a scratch store,
  2. runs the waterfall (`enrich_leads`) over every lead, then runs it again,
  3. runs the naive baseline on the same leads: every lead asked of every provider (Hunter's
     finder, NeverBounce on whatever address there is, Clearbit on the employer's domain), no
     ledger, no sharing, the same acceptance rules,
and reports email availability and company completeness before/after, spend and cost per
qualified lead of both, their ratio (target <= 0.5 at the same fill rate), and what the re-run
cost (target $0.00). Spend is what the sandbox charged, priced from sprint.yaml.

    python benchmarks/bench_enrichment.py [--population 6000] [--hours 24] [--database URL] [--vendor-limits]

`--vendor-limits` keeps the vendors' real rate windows (Hunter 15/s ...): slower, same figures.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import pandas as pd
import requests

from lead_assets.clients.apollo import ApolloClient
from lead_assets.clients.errors import VendorError
from lead_assets.config.settings import sprint_config
from lead_assets.core.enrichment_config import load_enrichment_config
from lead_assets.core.waterfall import (
    company_complete,
    confident,
    email_available,
    email_status_for,
    work_needed,
)
from lead_assets.pipeline.enrichment import clients_from_env, enrich_leads
from lead_assets.pipeline.search_plan import hour_keys
from lead_assets.sandbox import SandboxConfig, start_sandbox
from lead_assets.sources.collector import collect_hour, collection_context
from lead_assets.store.dedup_index import DedupIndex
from lead_assets.store.lead_store import LeadStore

VENDORS = ("hunter", "neverbounce", "clearbit")
UNLIMITED = {"limits": {
    "hunter": {"search": {"second": None, "minute": None}, "verifier": {"second": None, "minute": None}},
    "neverbounce": {"single": {"second": None, "minute": None}},
    "clearbit": {"find": {"minute": None}},
}}


def sandbox_spend(url: str, prices: dict[str, float]) -> tuple[float, dict[str, float]]:
    """USD the sandbox charged since its last reset, and the credits per vendor."""
    stats = requests.get(f"{url}/__sandbox/stats", timeout=10).json()["vendors"]
    credits = {v: float(stats[v]["credits_consumed"]) for v in VENDORS}
    return sum(credits[v] * prices[v] for v in VENDORS), credits


def naive(leads: pd.DataFrame, clients: dict, config) -> pd.DataFrame:
    """Ask every provider about every lead; return the leads as the naive run would leave them."""
    out = leads.copy()
    work = work_needed(leads)
    hunter, nb, clearbit = clients["hunter"], clients["neverbounce"], clients["clearbit"]
    threshold = config.min_confidence("hunter")
    for i, lead in leads.iterrows():
        domain, found = work.at[i, "domain"], None
        try:
            found = hunter.find_email(lead["first_name"], lead["last_name"], domain=domain,
                                      company=None if domain else lead["company_name"])
        except VendorError:
            pass
        domain = domain or (found.domain if found else None)
        address = lead["email"] if isinstance(lead["email"], str) and lead["email"] else (found and found.email)
        verdict = None
        if address:
            try:
                verdict = nb.check(address).result
            except VendorError:
                pass
        if work.at[i, "needs_email"] and found and found.email and confident(found.score, threshold):
            out.at[i, "email"], out.at[i, "email_status"] = found.email, email_status_for(verdict)
        if domain:
            try:
                company = clearbit.find_company(domain)
            except VendorError:
                company = None
            if company is not None:
                for column, value in (("company_website", company.domain), ("company_industry", company.industry),
                                      ("company_size", company.employees)):
                    if pd.isna(out.at[i, column]) and value is not None:
                        out.at[i, column] = value
    for client in clients.values():
        client.drain_calls()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--population", type=int, default=6000)
    parser.add_argument("--hours", type=int, default=24)
    parser.add_argument("--database", help="lead store URL (default: a scratch SQLite file)")
    parser.add_argument("--vendor-limits", action="store_true", help="keep the vendors' real rate windows")
    args = parser.parse_args()

    # Prompt keep-alive answers from the sandbox (a fix requested in server.py).
    sprint, config = sprint_config(), load_enrichment_config()
    prices = {"hunter": sprint.prices_usd["hunter_credit"], "neverbounce": sprint.prices_usd["neverbounce_verification"],
              "clearbit": sprint.prices_usd["clearbit_lookup"]}
    url = args.database or f"sqlite:///{tempfile.mkdtemp(prefix='bench_enrichment_')}/leads.db"
    with start_sandbox(SandboxConfig(population=args.population)) as sb:
        if not args.vendor_limits:
            requests.post(f"{sb.base_url}/__sandbox/config", json=UNLIMITED, timeout=5).raise_for_status()
        store = LeadStore(url)
        started = time.monotonic()
        apollo = ApolloClient(sb.url("apollo"), "sandbox-apollo-key", sleep=lambda s: None)
        ctx = collection_context(sprint, store, DedupIndex(store, None), client=apollo)
        for hour in hour_keys(sprint.start, sprint.hours)[: args.hours]:
            collect_hour(ctx, hour)
        before = store.read_leads()
        ids = before["lead_id"].tolist()
        print(f"collected {len(ids):,} leads from a population of {args.population:,} "
              f"in {time.monotonic() - started:.1f}s ({url.split(':', 1)[0]})")

        env = {"HUNTER_BASE_URL": sb.url("hunter"), "HUNTER_API_KEY": "sandbox-hunter-key",
               "NEVERBOUNCE_BASE_URL": sb.url("neverbounce"), "NEVERBOUNCE_API_KEY": "secret_sandbox-neverbounce-key",
               "CLEARBIT_BASE_URL": sb.url("clearbit"), "CLEARBIT_API_KEY": "sk_sandbox-clearbit-key"}
        kwargs = {} if args.vendor_limits else {"limits": None}
        clients = clients_from_env(config, env, sleep=time.sleep if args.vendor_limits else (lambda s: None),
                                   **kwargs)

        requests.post(f"{sb.base_url}/__sandbox/reset", timeout=5)
        started = time.monotonic()
        first = enrich_leads(store, ids, clients, config, run_id="bench-1")
        waterfall_seconds = time.monotonic() - started
        waterfall_usd, waterfall_credits = sandbox_spend(sb.base_url, prices)
        started = time.monotonic()
        second = enrich_leads(store, ids, clients, config, run_id="bench-2")
        rerun_seconds = time.monotonic() - started
        after_rerun_usd, _ = sandbox_spend(sb.base_url, prices)

        requests.post(f"{sb.base_url}/__sandbox/reset", timeout=5)
        started = time.monotonic()
        naive_leads = naive(before, clients, config)
        naive_seconds = time.monotonic() - started
        naive_usd, naive_credits = sandbox_spend(sb.base_url, prices)
        store.dispose()

    qualified = first.qualified
    rows = [
        ("email availability", f"{first.email_availability_before:.1%}", f"{first.email_availability_after:.1%}",
         f"{email_available(naive_leads).mean():.1%}"),
        ("company completeness", f"{first.company_completeness_before:.1%}", f"{first.company_completeness_after:.1%}",
         f"{company_complete(naive_leads).mean():.1%}"),
        ("spend (sandbox charges)", "", f"${waterfall_usd:,.2f}", f"${naive_usd:,.2f}"),
        ("credits hunter/neverbounce/clearbit", "",
         "/".join(f"{waterfall_credits[v]:g}" for v in VENDORS), "/".join(f"{naive_credits[v]:g}" for v in VENDORS)),
        (f"$ per qualified lead ({qualified:,})", "", f"${waterfall_usd / qualified:.4f}",
         f"${naive_usd / qualified:.4f}"),
        ("seconds", "", f"{waterfall_seconds:.1f}", f"{naive_seconds:.1f}"),
    ]
    print(f"\n{'':38} {'before':>10} {'waterfall':>14} {'naive':>14}")
    for name, b, w, n in rows:
        print(f"{name:38} {b:>10} {w:>14} {n:>14}")
    ratio = waterfall_usd / naive_usd if naive_usd else float("nan")
    print(f"\nwaterfall / naive spend: {ratio:.2f} (target <= 0.50)")
    print(f"cost ledger agrees with the sandbox: ${first.spend_usd:,.2f} recorded vs ${waterfall_usd:,.2f} charged")
    print(f"re-run: ${after_rerun_usd - waterfall_usd:.2f} more charged, ${second.spend_usd:.2f} recorded, "
          f"{sum(second.calls.values())} paid calls, {rerun_seconds:.2f}s (target $0.00)")
    print(f"waterfall calls: {first.calls}; hits: {first.hits}; answers replayed free: {first.replayed}")


if __name__ == "__main__":
    main()
