"""Load: a backfill of every hour x source launched through the real daemon, 12 runs at a time.

Prints figures, asserts nothing: wall time, peak concurrent runs, peak memory of the run
processes, run outcomes, rate-limit refusals the sandbox counted, the concurrency pools' peak
use and any slot still held at the end, and whether the lead store matches the sandbox's
ground truth for every source (every reachable record a lead's source or quarantined with a
reason, no person split or merged; `lead_assets_tests/ground_truth.py`). Dagster runs on
PostgreSQL instance storage (scratch database); the lead store on another scratch database;
the dedup index on Redis DB 12.

    python benchmarks/bench_backfill.py [--hours 24] [--latency 300]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import redis
import requests
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from scratch_databases import drop, scratch  # noqa: E402


def rss_mb_of_group(pgid: int) -> float:
    """Resident memory of every process in the daemon's session (the daemon, code server, runs)."""
    total = 0
    for status in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = status.read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) == pgid or int(fields[2]) == pgid:  # pgrp or session
                total += int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            continue
    return total / 2**20


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hours", type=int, default=24)
    ap.add_argument("--population", type=int, default=6000, help="the sandbox's (the runs start it with defaults)")
    ap.add_argument("--latency", type=int, default=0,
                    help="ms the sandbox waits before each answer (real vendors take a few hundred)")
    ap.add_argument("--keep", action="store_true", help="keep the scratch databases (printed) to look into")
    args = ap.parse_args()
    tag = uuid.uuid4().hex[:8]
    dag_db, lead_db = f"leadsprint_bench_dagster_{tag}", f"leadsprint_bench_leads_{tag}"
    dag_url = scratch(dag_db).replace("postgresql://", "postgresql+psycopg2://")
    lead_url = scratch(lead_db)
    tmp = Path(tempfile.mkdtemp(prefix="lead_backfill_"))
    home = tmp / "dagster_home"
    home.mkdir()
    # The shipped dagster.yaml's concurrency and run monitoring, on this run's own storage.
    shipped = yaml.safe_load((REPO / "dagster.yaml").read_text())
    limits = shipped["concurrency"]["runs"]
    instance = {"storage": {"postgres": {"postgres_url": dag_url}}, "concurrency": shipped["concurrency"],
                "run_monitoring": {**shipped.get("run_monitoring", {}), "free_slots_after_run_end_seconds": 30},
                "telemetry": {"enabled": False}}
    (home / "dagster.yaml").write_text(yaml.safe_dump(instance))
    redis.Redis.from_url("redis://127.0.0.1:6379/12").flushdb()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEADS_", "REDIS_URL", "DAGSTER_"))}
    env.update(DAGSTER_HOME=str(home), LEADS_DATABASE_URL=lead_url, REDIS_URL="redis://127.0.0.1:6379/12",
               LEAD_SPRINT_SANDBOX="1", LEAD_SPRINT_STATE_DIR=str(tmp / "state"),
               SALES_NAVIGATOR_IMPORT_DIR=str(tmp / "imports"))
    sys.path.insert(0, str(REPO))
    from lead_assets.config.settings import sprint_config
    from lead_assets.pipeline.search_plan import hour_keys

    hours = hour_keys(sprint_config().start, 24)[: args.hours]
    bin_dir = Path(sys.executable).parent
    os.environ.update({k: env[k] for k in ("LEAD_SPRINT_STATE_DIR",)})
    from lead_assets.sandbox.launcher import ensure_sandbox

    # the runs reuse it
    base = ensure_sandbox(tmp / "state" / "sandbox.json", population=args.population, latency=args.latency)
    (tmp / "imports").mkdir(parents=True, exist_ok=True)
    from lead_assets.sandbox.population import Population
    from lead_assets.sandbox.sales_navigator_export import export_csv_with_truth

    sn_file, sn_line_truth = export_csv_with_truth(Population.generate(7, args.population, None))
    (tmp / "imports" / "list.csv").write_bytes(sn_file)
    partitions = [f"{h}|{s}" for h in hours for s in ("apollo", "zoominfo", "sales_navigator")]
    daemon = subprocess.Popen([str(bin_dir / "dagster-daemon"), "run", "-w", "workspace.yaml"], cwd=REPO, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    started = time.monotonic()
    try:
        out = subprocess.run([str(bin_dir / "dagster"), "job", "backfill", "-j", "lead_sprint", "-w", "workspace.yaml",
                              "--partitions", ",".join(partitions), "--noprompt"],
                             cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
        if out.returncode != 0:
            print(out.stdout[-2000:], out.stderr[-2000:])
            return
        import dagster as dg

        os.environ["DAGSTER_HOME"] = str(home)
        from lead_assets.defs.partitions import CRM_POOL

        pools = (CRM_POOL,)
        peak_runs = peak_mb = 0.0
        peak_slots = dict.fromkeys(pools, 0)
        with dg.DagsterInstance.get() as instance:
            storage = instance.event_log_storage
            while True:
                runs = instance.get_runs()
                live = [r for r in runs if r.status == dg.DagsterRunStatus.STARTED]
                peak_runs = max(peak_runs, len(live))
                peak_mb = max(peak_mb, rss_mb_of_group(daemon.pid))
                for pool in pools:
                    peak_slots[pool] = max(peak_slots[pool], storage.get_concurrency_info(pool).active_slot_count)
                done = [r for r in runs if r.is_finished]
                if len(runs) >= len(partitions) and len(done) == len(runs):
                    break
                if time.monotonic() - started > 3600:
                    print("gave up after an hour")
                    break
                time.sleep(2)
            wall = time.monotonic() - started
            ok = sum(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
            took = sorted((r.end_time - r.start_time) for r in instance.get_run_records()
                          if r.start_time and r.end_time)
            failed = [f"{r.run_id[:8]} {r.tags.get('dagster/partition', r.job_name)}" for r in runs
                      if r.status != dg.DagsterRunStatus.SUCCESS]
            infos = {pool: storage.get_concurrency_info(pool) for pool in pools}
            held = {pool: {"limit": i.limit, "peak": peak_slots[pool], "held_at_end": i.active_slot_count,
                           "pending_at_end": len(i.pending_steps)} for pool, i in infos.items()}
        requests.post(f"{base}/__sandbox/config", json={"latency": 0}, timeout=10)  # for the truth queries
        stats = requests.get(f"{base}/__sandbox/stats", timeout=10).json()["vendors"]
        refused = {v: sum((stats[v].get("rate_limited") or {}).values()) for v in ("apollo", "zoominfo", "hunter")
                   if v in stats}
        rebought = {v: len(stats[v].get("rebought") or {}) for v in ("apollo", "zoominfo", "hunter", "neverbounce",
                                                                     "clearbit") if v in stats}
        from lead_assets.store.lead_store import LeadStore
        from lead_assets_tests.ground_truth import compare, reachable, sales_navigator_truth

        store = LeadStore(lead_url)
        sn_people, sn_lines = sales_navigator_truth(sn_file, "list.csv", sn_line_truth)
        truth = {"apollo": reachable(base, "apollo", set(hours)), "zoominfo": reachable(base, "zoominfo", set(hours)),
                 "sales_navigator": sn_people}
        verdict = compare(store, truth, sn_lines)
        leads = verdict.leads
        sources = store.read_sql("SELECT source, COUNT(*) AS n FROM lead_sources GROUP BY source")
        dup_li = store.read_sql("SELECT COUNT(*) AS n FROM (SELECT linkedin_url FROM leads WHERE linkedin_url IS "
                                "NOT NULL GROUP BY linkedin_url HAVING COUNT(*) > 1) d").iloc[0]["n"]
        print(f"machine: {os.cpu_count()} cores; {len(partitions)} partitions ({args.hours} h x 3 sources), "
              f"population {args.population}, vendor latency {args.latency} ms")
        print(f"wall time            {wall:,.0f} s")
        print(f"runs                 {ok}/{len(runs)} succeeded{'; not: ' + ', '.join(failed) if failed else ''}")
        if took:
            print(f"run durations        min {took[0]:,.0f} s, median {took[len(took) // 2]:,.0f} s, "
                  f"max {took[-1]:,.0f} s")
        per_source = next(t["limit"] for t in limits["tag_concurrency_limits"] if t["key"] == "dagster/partition/source")
        print(f"peak concurrent runs {peak_runs:.0f} (limit {limits['max_concurrent_runs']}; {per_source} per source)")
        print(f"peak memory          {peak_mb:,.0f} MiB (daemon, code server and run processes)")
        print(f"rate-limit refusals  {json.dumps(refused)}")
        print(f"concurrency pools    {json.dumps(held)}")
        print(f"bought twice         {json.dumps(rebought)} (people; Clearbit: company domains)")
        print(f"leads                {leads:,}; sources {dict(zip(sources['source'], sources['n'], strict=True))}; "
              f"duplicate LinkedIn URLs {dup_li}")
        print(f"ground truth         {verdict.summary()}")
        for label, sample in (("missing", verdict.missing[:5]), ("split", list(verdict.split.items())[:5]),
                              ("merged", list(verdict.merged.items())[:5])):
            if sample:
                print(f"  {label} (first 5): {sample}")
        store.dispose()
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        daemon.wait(timeout=60)
        subprocess.run([sys.executable, "-m", "lead_assets.cli", "sandbox", "stop"], cwd=REPO, env=env,
                       capture_output=True, timeout=60)
        if args.keep:
            print(f"kept: {dag_url} {lead_url}")
        else:
            drop(dag_db)
            drop(lead_db)


if __name__ == "__main__":
    main()
