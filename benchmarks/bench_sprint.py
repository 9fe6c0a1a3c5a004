"""The sprint as operators run it, at the brief's scale: wall time against the vendors' minimum.

Starts a sandbox (the full population by default: 20,000+ Apollo people behind the plan's
slices), a Dagster daemon on PostgreSQL instance storage with the shipped dagster.yaml, a lead
store on PostgreSQL and the dedup index and rate windows on Redis, then runs
`lead-sprint run --sources apollo` (24 hours by default) exactly as an operator would: a
backfill through the instance, exports by automation. Prints, measured in this one run:

- wall time from submission to the last partition scored, and to the last partition exported;
- the vendor-imposed minimum for the calls the run made (`core/vendor_minimum.py`: every
  endpoint class filled to its fixed windows from the first second, classes in parallel) and
  the ratio wall / minimum (target <= 1.5), with the binding endpoint class;
- rate-limit refusals the sandbox counted (429s), people bought twice, leads, qualified.

    python benchmarks/bench_sprint.py [--hours 24] [--sources apollo] [--population full] [--latency 0]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
import redis
import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from scratch_databases import drop, scratch  # noqa: E402

sys.path.insert(0, str(REPO))
REDIS_URL = os.environ.get("LEADS_BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")

# vendor_calls (vendor, path) -> the endpoint class whose windows limit it (sprint.yaml, enrichment.yaml)
ENDPOINT_CLASSES = {
    ("apollo", "/api/v1/mixed_people/api_search"): "apollo.search",
    ("apollo", "/api/v1/people/bulk_match"): "apollo.enrichment",
    ("hunter", "/v2/email-finder"): "hunter.search",
    ("hunter", "/v2/email-verifier"): "hunter.verifier",
    ("neverbounce", "/v4/single/check"): "neverbounce.single",
    ("clearbit", "/v2/companies/find"): "clearbit.find",
}


def endpoint_class(vendor: str, path: str) -> str | None:
    if vendor == "zoominfo":
        return "zoominfo.api"
    return ENDPOINT_CLASSES.get((vendor, path))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=int, default=24, help="hours of the sprint to run (default 24)")
    ap.add_argument("--sources", default="apollo", help="comma-separated sources (default apollo)")
    ap.add_argument("--population", default="full", help="sandbox population: full or a number of records")
    ap.add_argument("--latency", type=int, default=0, help="ms every sandbox vendor takes to answer")
    ap.add_argument("--keep", action="store_true", help="keep the scratch databases and folder")
    args = ap.parse_args()

    from lead_assets.config.settings import sprint_config
    from lead_assets.core.enrichment_config import load_enrichment_config
    from lead_assets.core.vendor_minimum import minimum_by_class, windows_by_class

    tag = uuid.uuid4().hex[:8]
    dag_db, lead_db = f"leadsprint_sprint_dagster_{tag}", f"leadsprint_sprint_leads_{tag}"
    dag_url, lead_url = scratch(dag_db), scratch(lead_db)
    tmp = Path(tempfile.mkdtemp(prefix="lead_sprint_bench_"))
    home = tmp / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    redis.Redis.from_url(REDIS_URL).flushdb()
    pg = psycopg.conninfo.conninfo_to_dict(dag_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEADS_", "REDIS_URL", "DAGSTER_", "LEAD_SPRINT_"))}
    env.update(DAGSTER_HOME=str(home), DAGSTER_PG_HOST=pg.get("host", "127.0.0.1"),
               DAGSTER_PG_PORT=str(pg.get("port", 5432)), DAGSTER_PG_USER=pg.get("user", "root"),
               DAGSTER_PG_PASSWORD=pg.get("password", ""), DAGSTER_PG_DB=dag_db, LEADS_DATABASE_URL=lead_url,
               REDIS_URL=REDIS_URL, LEAD_SPRINT_SANDBOX="1", LEAD_SPRINT_STATE_DIR=str(tmp / "state"),
               LEAD_SPRINT_SANDBOX_POPULATION=str(args.population), SALES_NAVIGATOR_IMPORT_DIR=str(tmp / "imports"))
    os.environ.update({k: v for k, v in env.items() if k.startswith("DAGSTER_")})
    bin_dir = Path(sys.executable).parent

    def cli(*cli_args: str, timeout: float = 7200) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "lead_assets.cli", *cli_args], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=timeout)

    setup = cli("crm", "setup", timeout=600)  # starts the sandbox with the population asked for
    if setup.returncode != 0:
        print(setup.stdout[-2000:], setup.stderr[-2000:])
        return
    base = json.loads((tmp / "state" / "sandbox.json").read_text())["url"]
    if args.latency:
        requests.post(f"{base}/__sandbox/config", json={"latency": args.latency}, timeout=10)
    daemon = subprocess.Popen([str(bin_dir / "dagster-daemon"), "run", "-w", "workspace.yaml"], cwd=REPO, env=env,
                              stdout=open(tmp / "daemon.log", "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        import dagster as dg

        from lead_assets.sprint_runs import daemon_problem

        with dg.DagsterInstance.from_config(str(home)) as instance:
            deadline = time.monotonic() + 300
            while daemon_problem(instance) and time.monotonic() < deadline:
                time.sleep(1)
        started = time.time()
        run = cli("run", "--hours", str(args.hours), "--sources", args.sources, "--crm-wait", "1800")
        finished = time.time()
        print(run.stdout[-1500:])
        with dg.DagsterInstance.from_config(str(home)) as instance:
            def last(asset: str) -> float | None:
                records = instance.fetch_materializations(dg.AssetKey(asset), limit=10_000).records
                return max((r.timestamp for r in records), default=None)

            first_run = min((r.start_time for r in instance.get_run_records() if r.start_time), default=started)
            last_scored, last_exported = last("scored_leads"), last("crm_exports")

        from lead_assets.store.lead_store import LeadStore

        store = LeadStore(lead_url)
        calls = store.read_sql("SELECT vendor, endpoint, COUNT(*) AS n, SUM(attempts) AS attempts "
                               "FROM vendor_calls GROUP BY vendor, endpoint")
        per_class: dict[str, int] = {}
        for vendor, path, n in calls[["vendor", "endpoint", "n"]].itertuples(index=False):
            cls = endpoint_class(vendor, path)
            if cls:
                per_class[cls] = per_class.get(cls, 0) + int(n)
        cfg = sprint_config()
        enrichment = load_enrichment_config(sprint=cfg)
        windows = windows_by_class(cfg.rate_limits, {n: p.rate_limits for n, p in enrichment.providers.items()
                                                     if p.rate_limits})
        minima = minimum_by_class(per_class, windows)
        binding = max(minima, key=minima.get)
        minimum = max(minima[binding], 1.0)
        scored_wall = (last_scored or finished) - started
        collection_minimum = max(minima.get("apollo.search", 0.0), minima.get("apollo.enrichment", 0.0), 1.0)
        leads = store.read_sql("SELECT COUNT(*) AS n, SUM(CASE WHEN is_qualified THEN 1 ELSE 0 END) AS q FROM leads")
        stats = requests.get(f"{base}/__sandbox/stats", timeout=30).json()["vendors"]
        refused = {v: sum((stats[v].get("rate_limited") or {}).values()) for v in ("apollo", "zoominfo", "hunter")
                   if v in stats}
        rebought = {v: len(stats[v].get("rebought") or {}) for v in ("apollo", "zoominfo", "hunter", "neverbounce",
                                                                     "clearbit") if v in stats}
        print(f"machine: {os.cpu_count()} cores; {args.hours} h x {args.sources}; population {args.population}; "
              f"vendor latency {args.latency} ms")
        print(f"leads                {int(leads['n'].iloc[0]):,} ({int(leads['q'].iloc[0] or 0):,} qualified)")
        print(f"calls per class      {json.dumps(per_class)}")
        print(f"minimum per class    {json.dumps({k: round(v, 1) for k, v in minima.items()})} s")
        print(f"wall to last scored  {scored_wall:,.0f} s (first run started {first_run - started:,.0f} s after submit)")
        if last_exported:
            print(f"wall to last export  {last_exported - started:,.0f} s (CRM lag after the last scored partition "
                  f"{last_exported - (last_scored or last_exported):,.0f} s)")
        print(f"vendor minimum       {minimum:,.0f} s (binding: {binding})")
        print(f"ratio                {scored_wall / minimum:.2f} x the vendor minimum (target <= 1.5)")
        print(f"collection only      Apollo's windows allow {collection_minimum:,.0f} s for its "
              f"{per_class.get('apollo.search', 0)} searches and {per_class.get('apollo.enrichment', 0)} bulk_match calls")
        print(f"rate-limit refusals  {json.dumps(refused)}")
        print(f"bought twice         {json.dumps(rebought)}")
        store.dispose()
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        daemon.wait(timeout=120)
        cli("sandbox", "stop", timeout=60)
        if args.keep:
            print(f"kept: {tmp} {dag_url} {lead_url}")
        else:
            drop(dag_db)
            drop(lead_db)
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
