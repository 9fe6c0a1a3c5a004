"""CRM export against the sandbox CRMs: speed against the rate limit, duplicates, lost records.

Prints figures, asserts nothing. For HubSpot and then Salesforce, on the same leads:

1. a full sync of N qualified leads (default 20,000) with 5 % of records made to fail by the
   sandbox (half of them transiently, half permanently);
2. two full re-runs (the transient failures are retried once, the rest is unchanged);
3. a read-back of everything the sandbox CRM holds: duplicate contacts/leads, and leads that are
   neither in the CRM nor rejected with a reason ("lost").

HubSpot runs against the sandbox's rolling window of 100 requests per 10 s (`--window` scales
it down proportionally). The theoretical minimum is the time that window needs for the fewest
requests possible: one property list plus ceil(sendable / 100) batch upserts, of which
`limit` may go every window, so ((requests - 1) // limit) * window seconds. Salesforce prints
jobs used and time to completion; the sandbox processes a job in `--sf-base` seconds plus
`--sf-per-1000` seconds per thousand rows (its model, not Salesforce's measured speed).

    python benchmarks/bench_crm.py [--leads 20000] [--window 10] [--limit 100] [--sqlite]

Uses a scratch PostgreSQL database (LEADS_BENCH_PG_URL, default
postgresql://root@127.0.0.1:5432/postgres), dropped afterwards; `--sqlite` uses a temporary file.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without install

from lead_assets.core.crm_config import CrmConfig, load_crm_config  # noqa: E402
from lead_assets.crm import build_crm_client, crm_setup, sync_to_crm  # noqa: E402
from lead_assets.sandbox import SandboxConfig, start_sandbox  # noqa: E402
from lead_assets.store.crm_sync_state import read_states  # noqa: E402
from lead_assets.store.lead_store import LeadStore  # noqa: E402

PG_ADMIN_URL = os.environ.get("LEADS_BENCH_PG_URL", "postgresql://root@127.0.0.1:5432/postgres")
FAIL_RATE = 0.05


def synthetic_leads(n: int, seed: int = 11) -> pd.DataFrame:
    """`n` qualified leads with every mapped field; 60 % with an email."""
    rng = np.random.default_rng(seed)
    idx = np.arange(n)
    email = np.array([f"lead{i}@company{i % 997}.com" for i in idx], dtype=object)
    email[rng.random(n) >= 0.6] = None
    df = pd.DataFrame(
        {
            "lead_id": [f"ld_{i:08d}" for i in idx],
            "full_name": [f"Sam Example{i}" for i in idx],
            "first_name": "Sam",
            "last_name": [f"Example{i}" for i in idx],
            "linkedin_url": [f"https://www.linkedin.com/in/sam-example-{i}" for i in idx],
            "job_title": rng.choice(["PPC Manager", "Media Buyer", "Paid Social Manager"], n),
            "company_name": [f"Company {i % 997}" for i in idx],
            "location_city": "Austin",
            "location_state": "TX",
            "location_country": "US",
            "email": email,
            "phone": "+15125550100",
            "company_website": [f"company{i % 997}.com" for i in idx],
            "company_industry": "Marketing & Advertising",
            "company_size": pd.array(rng.integers(10, 5000, n), dtype="Int64"),
            "data_source": "apollo",
            "data_quality_score": pd.array(rng.integers(70, 100, n), dtype="Int64"),
            "is_qualified": True,
            "target_role": "PPC Manager",
        }
    )
    return df


def audit(store: LeadStore, crm: str, held: list[dict], key: str, n: int) -> dict:
    """Duplicates in the CRM and leads neither in it nor rejected with a reason."""
    st = read_states(store, crm).set_index("lead_id")
    lead_of = dict(
        store.read_sql("SELECT linkedin_url, lead_id FROM leads").itertuples(index=False, name=None)
    )
    keys = [r.get(key) for r in held]
    in_crm = set(st.index[st["state"].isin(["created", "updated"])])
    rejected = st[(st["state"] == "rejected") & st["reason"].notna()]
    return {
        "records_in_crm": len(held),
        "duplicates": len(keys) - len(set(keys)),
        "lost": n - len(in_crm | set(rejected.index)),
        "confirmed_but_missing_in_crm": len(in_crm - {lead_of.get(k) for k in keys}),
        "rejected_permanent": int(rejected["permanent"].sum()),
        "rejected_retryable": int((~rejected["permanent"]).sum()),
    }


def bench_hubspot(sandbox, store: LeadStore, cfg: CrmConfig, n: int, limit: int, window: float) -> None:
    cfg = cfg.with_target("hubspot").with_settings(
        "hubspot", base_url=sandbox.url("hubspot"), access_token="sandbox-hubspot-token"
    )
    sandbox.update_config(
        {
            "windows": {"ten_secondly": window},
            "limits": {"hubspot": {"api": {"ten_secondly": limit, "day": 1_000_000}}},
        }
    )
    crm_setup("hubspot", build_crm_client(cfg), cfg)
    app = sandbox.router.apps["hubspot"]
    app.configure({"crm_fail_rate": FAIL_RATE})
    time.sleep(window + 0.5)  # the setup calls leave the rolling window before the clock starts
    runs, too_many = [], []
    for run in range(3):
        if run:
            time.sleep(window + 0.5)  # runs are an hour apart in the sprint: the window is empty again
        before = sandbox.stats()["vendors"]["hubspot"]["responses_429"]
        started = time.perf_counter()
        report = sync_to_crm(store, "hubspot", build_crm_client(cfg), cfg, run_id="bench")
        runs.append((time.perf_counter() - started, report))
        too_many.append(sandbox.stats()["vendors"]["hubspot"]["responses_429"] - before)
    wall, first = runs[0]
    sendable = first.sent
    min_requests = 1 + math.ceil(sendable / cfg.hubspot.batch_size)
    theoretical = ((min_requests - 1) // limit) * window
    held = app.contacts_snapshot()
    result = audit(store, "hubspot", [c["properties"] for c in held], cfg.hubspot.linkedin_id_property, n)
    print(
        f"HubSpot: {n:,} qualified leads, {FAIL_RATE:.0%} made to fail, window {limit} requests / {window:g} s"
    )
    print(
        f"  first full sync: {wall:6.1f} s wall, {first.requests} requests (minimum {min_requests}), "
        f"theoretical minimum {theoretical:.1f} s -> {wall / theoretical:.2f}x (target <= 1.2x)"
        if theoretical
        else f"  first full sync: {wall:.1f} s, {first.requests} requests"
    )
    print(
        f"    created {first.created:,}, rejected {first.rejected:,} "
        f"({first.rejected_permanent} permanent, {first.rejected_fixable} retryable), "
        f"waited for the window {first.rate_limit_wait_s:.1f} s, 429s received {too_many[0]}"
    )
    for i, (w, r) in enumerate(runs[1:], 2):
        print(
            f"  re-run {i - 1}: {w:5.1f} s, sent {r.sent:,}, created {r.created:,}, updated {r.updated:,}, "
            f"unchanged {r.unchanged:,}, held {r.held:,}, requests {r.requests}, 429s {too_many[i - 1]}"
        )
    print(
        f"  after two re-runs: {result['records_in_crm']:,} contacts, duplicates {result['duplicates']}, "
        f"lost {result['lost']}, confirmed-but-missing {result['confirmed_but_missing_in_crm']}, "
        f"rejected with reason {result['rejected_permanent'] + result['rejected_retryable']:,}"
    )


def bench_salesforce(sandbox, store: LeadStore, cfg: CrmConfig, n: int, base: float, per_1000: float) -> None:
    cfg = cfg.with_target("salesforce").with_settings(
        "salesforce",
        login_url=sandbox.url("salesforce"),
        client_id="sandbox-salesforce-client",
        client_secret="sandbox-salesforce-secret",
        poll_interval=0.25,
        poll_max_interval=2.0,
    )
    app = sandbox.router.apps["salesforce"]
    app.configure({"crm_fail_rate": FAIL_RATE, "job_seconds_base": base, "job_seconds_per_1000": per_1000})
    runs = []
    for _ in range(3):
        started = time.perf_counter()
        report = sync_to_crm(store, "salesforce", build_crm_client(cfg), cfg, run_id="bench")
        runs.append((time.perf_counter() - started, report))
    wall, first = runs[0]
    held = app.leads_snapshot()
    result = audit(store, "salesforce", held, cfg.salesforce.external_id_field, n)
    ideal_jobs = math.ceil(first.sent / cfg.salesforce.job_size)
    print(
        f"Salesforce Bulk API 2.0: {n:,} qualified leads, {FAIL_RATE:.0%} made to fail, "
        f"sandbox job time {base:g} s + {per_1000:g} s per 1,000 rows"
    )
    print(
        f"  first full sync: {wall:6.1f} s to completion, {first.jobs} jobs (minimum {ideal_jobs}), "
        f"{first.requests} API requests, created {first.created:,}, rejected {first.rejected:,} "
        f"({first.rejected_permanent} permanent, {first.rejected_fixable} retryable)"
    )
    for i, (w, r) in enumerate(runs[1:], 2):
        print(
            f"  re-run {i - 1}: {w:5.1f} s, sent {r.sent:,}, jobs {r.jobs}, created {r.created:,}, "
            f"unchanged {r.unchanged:,}, held {r.held:,}, requests {r.requests}"
        )
    print(
        f"  after two re-runs: {result['records_in_crm']:,} Lead records, duplicates {result['duplicates']}, "
        f"lost {result['lost']}, confirmed-but-missing {result['confirmed_but_missing_in_crm']}, "
        f"rejected with reason {result['rejected_permanent'] + result['rejected_retryable']:,}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=20_000)
    parser.add_argument("--limit", type=int, default=100, help="HubSpot requests per rolling window")
    parser.add_argument("--window", type=float, default=10.0, help="HubSpot window length in seconds")
    parser.add_argument("--sf-base", type=float, default=1.0, help="sandbox seconds per Salesforce job")
    parser.add_argument("--sf-per-1000", type=float, default=0.2, help="sandbox seconds per 1,000 rows")
    parser.add_argument(
        "--sqlite", action="store_true", help="SQLite instead of a scratch PostgreSQL database"
    )
    args = parser.parse_args()

    tmp = tempfile.TemporaryDirectory()
    name = f"leadsprint_bench_crm_{os.getpid()}"
    if args.sqlite:
        url = f"sqlite:///{tmp.name}/leads.db"
    else:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        url = PG_ADMIN_URL.rpartition("/")[0] + f"/{name}"
    sandbox = start_sandbox(SandboxConfig(population=200))
    try:
        store = LeadStore(url)
        started = time.perf_counter()
        store.upsert_leads(synthetic_leads(args.leads))
        print(
            f"store: {store.dialect}; {args.leads:,} leads written in {time.perf_counter() - started:.1f} s\n"
        )
        cfg = load_crm_config(env={})
        bench_hubspot(sandbox, store, cfg, args.leads, args.limit, args.window)
        print()
        bench_salesforce(sandbox, store, cfg, args.leads, args.sf_base, args.sf_per_1000)
        store.dispose()
    finally:
        sandbox.stop()
        if not args.sqlite:
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        tmp.cleanup()


if __name__ == "__main__":
    main()
