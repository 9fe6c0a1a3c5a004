"""The sprint as an operator runs it: the real daemon on PostgreSQL storage with the shipped dagster.yaml.

`lead-sprint run` submits a backfill of every hour x source of a two-hour brief; the daemon runs
it; automation exports each scored partition to the sandbox HubSpot, except the one whose
blocking check fails (a lead without a name, seeded in the store). The alert sensor posts the
failure to the sandbox Slack; the lead is fixed, the partition re-run, the alert clears, the
partition is exported and the final report goes out once. Every sensor and schedule tick the
instance recorded along the way succeeded or skipped: none failed. Slow by nature (the daemon
ticks on wall-clock intervals): one test, bounded by deadlines.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import dagster as dg
import pandas as pd
import psycopg
import pytest
import requests
import yaml

from lead_assets.sandbox.population import Population
from lead_assets.sandbox.sales_navigator_export import export_csv
from lead_assets.sprint_runs import daemon_problem
from lead_assets.store.lead_store import LeadStore
from lead_assets_tests.test_crm_sync import make_leads

REPO = Path(__file__).resolve().parents[1]
ADMIN_URL = os.environ.get("LEADS_TEST_PG_ADMIN_URL", "postgresql://root@127.0.0.1:5432/postgres")
HOURS = ("2026-11-27-00:00", "2026-11-27-01:00")
SOURCES = ("apollo", "zoominfo", "sales_navigator")
BROKEN = "2026-11-27-00:00|zoominfo"


def scratch_database(prefix: str) -> tuple[str, str]:
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name, ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def drop_database(name: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def operated(tmp_path, redis_url):
    """DAGSTER_HOME with the shipped dagster.yaml on a scratch PostgreSQL, a two-hour brief, env for every process."""
    dagster_db, dagster_url = scratch_database("leadsprint_e2e_dagster")
    leads_db, leads_url = scratch_database("leadsprint_e2e_leads")
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    brief = yaml.safe_load((REPO / "lead_assets" / "config" / "sprint.yaml").read_text())
    brief["sprint"]["hours"] = len(HOURS)
    brief["target_roles"] = brief["target_roles"][:2]  # a small plan: 2 roles x 2 metros over 2 hours
    brief["locations"] = brief["locations"][:2]
    (tmp_path / "sprint.yaml").write_text(yaml.safe_dump(brief))
    pg = psycopg.conninfo.conninfo_to_dict(dagster_url)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LEADS_DATABASE", "REDIS_URL", "DAGSTER_", "LEAD_SPRINT_", "SALES_NAVIGATOR"))}
    env.update(
        DAGSTER_HOME=str(home), DAGSTER_PG_HOST=pg.get("host", "127.0.0.1"), DAGSTER_PG_PORT=str(pg.get("port", 5432)),
        DAGSTER_PG_USER=pg.get("user", "root"), DAGSTER_PG_PASSWORD=pg.get("password", ""), DAGSTER_PG_DB=dagster_db,
        LEADS_DATABASE_URL=leads_url, REDIS_URL=redis_url, LEAD_SPRINT_CONFIG=str(tmp_path / "sprint.yaml"),
        LEAD_SPRINT_STATE_DIR=str(tmp_path / "state"), LEAD_SPRINT_SANDBOX="1",
        SALES_NAVIGATOR_IMPORT_DIR=str(tmp_path / "imports"), LEAD_SPRINT_HOURLY_REPORT_CRON="* * * * *",
    )
    (tmp_path / "imports").mkdir()
    try:
        yield env, leads_url, tmp_path
    finally:
        cli(env, "sandbox", "stop")
        drop_database(dagster_db)
        drop_database(leads_db)


def cli(env: dict, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lead_assets.cli", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def sandbox_stats(env: dict) -> dict:
    state = yaml.safe_load((Path(env["LEAD_SPRINT_STATE_DIR"]) / "sandbox.json").read_text())
    return requests.get(f"{state['url']}/__sandbox/stats", timeout=10).json()["vendors"]


def wait_for(predicate, timeout: float, what: str, interval: float = 3.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def seed_a_lead_without_a_name(leads_url: str) -> str:
    """A stored lead of partition BROKEN whose name was lost (a hand edit, an older version's bug)."""
    store = LeadStore(leads_url)
    store.ensure_schema()
    lead = make_leads(1, start=900000)
    lead["is_qualified"] = False
    store.upsert_leads(lead)
    store.record_sources(pd.DataFrame({"source": ["zoominfo"], "vendor_person_id": ["seeded-broken-1"],
                                       "lead_id": lead["lead_id"], "partition_key": [BROKEN]}))
    set_name(store, lead["lead_id"].iloc[0], None)
    store.dispose()
    return lead["lead_id"].iloc[0]


def set_name(store: LeadStore, lead_id: str, name: str | None) -> None:
    with store.transaction() as conn:
        conn.exec_driver_sql("UPDATE leads SET full_name = %(n)s WHERE lead_id = %(id)s", {"n": name, "id": lead_id})


def failed_ticks(instance: dg.DagsterInstance) -> tuple[int, int, list[str]]:
    """(ticks, failed ticks, what failed) over every sensor and schedule the instance knows."""
    from dagster._core.scheduler.instigation import TickStatus

    total, failures = 0, []
    for state in instance.all_instigator_state():
        ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=10_000)
        total += len(ticks)
        failures += [f"{state.instigator_name}: {t.error.message[:300] if t.error else '?'}"
                     for t in ticks if t.status == TickStatus.FAILURE]
    return total, len(failures), failures


@pytest.mark.timeout(900)
def test_an_operated_sprint_backfill_automation_alerts_and_reports(operated):
    env, leads_url, tmp_path = operated
    setup = cli(env, "crm", "setup")  # the sandbox starts here; the HubSpot properties are created once
    assert setup.returncode == 0, setup.stdout[-2000:] + setup.stderr[-2000:]
    broken_lead = seed_a_lead_without_a_name(leads_url)
    for schedule in ("hourly_report_schedule", "hourly_sprint_schedule"):
        started = subprocess.run([str(Path(sys.executable).parent / "dagster"), "schedule", "start", schedule,
                                  "-w", "workspace.yaml"], cwd=REPO, env=env, capture_output=True, text=True,
                                 timeout=180)
        assert started.returncode == 0, started.stderr[-2000:]

    # Without a daemon, `run` says how to get one instead of a traceback.
    refused = cli(env, "run")
    assert refused.returncode == 2 and "no Dagster daemon is running" in refused.stdout, refused.stdout[-1500:]
    assert "Traceback" not in refused.stderr

    daemon = subprocess.Popen([str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", "workspace.yaml"],
                              cwd=REPO, env=env, stdout=open(tmp_path / "daemon.log", "wb"),
                              stderr=subprocess.STDOUT, start_new_session=True)
    os.environ.update({k: env[k] for k in env if k.startswith("DAGSTER_PG_")})  # this process reads the instance
    try:
        (Path(env["SALES_NAVIGATOR_IMPORT_DIR"]) / "team_list.csv").write_bytes(
            export_csv(Population.generate(7, 1500, None), share=0.05))
        with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
            wait_for(lambda: daemon_problem(instance) is None, 120, "the daemon's first heartbeat", interval=1.0)
        started = time.monotonic()
        run = cli(env, "run", "--crm-wait", "240")
        print(run.stdout[-3000:])
        assert "submitted backfill" in run.stdout and "Traceback" not in run.stderr, run.stderr[-3000:]
        keys = [f"{h}|{s}" for h in HOURS for s in SOURCES]
        with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
            scored = set(instance.get_materialized_partitions(dg.AssetKey("scored_leads")))
            assert set(keys) <= scored, f"backfill left {set(keys) - scored} unscored"
            exported = set(instance.get_materialized_partitions(dg.AssetKey("crm_exports")))
            assert exported & set(keys) == set(keys) - {BROKEN}, "every partition but the failing one is exported"
            assert "held back by a failed blocking check" in run.stdout
            last_scored = max(e.timestamp for e in instance.fetch_materializations(
                dg.AssetKey("scored_leads"), limit=100).records)
            last_exported = max(e.timestamp for e in instance.fetch_materializations(
                dg.AssetKey("crm_exports"), limit=100).records)
            print(f"backfill + exports: {time.monotonic() - started:.0f}s; CRM lag after the last scored "
                  f"partition: {last_exported - last_scored:.0f}s")

            hubspot = sandbox_stats(env)["hubspot"]
            store = LeadStore(leads_url)
            exported_leads = store.read_sql(
                "SELECT count(*) AS n FROM crm_sync_state WHERE state IN ('created', 'updated')").iloc[0]["n"]
            assert hubspot["contacts_total"] == exported_leads > 0 and hubspot["duplicate_emails"] == 0

            # The alert sensor posts the blocking check's failure to Slack.
            def alert(kind: str):
                return [m for m in sandbox_stats(env)["slack"]["messages"]
                        if f"[{kind}]" in str(m) and "required_fields" in str(m)]
            wait_for(lambda: alert("FIRING"), 180, "the failing check's alert in Slack")

            # The operator fixes the lead and re-runs the partition: the check passes, the alert
            # clears, automation exports it, and with every partition exported the final report goes.
            set_name(store, broken_lead, "Pat Fixed")
            again = cli(env, "run", "--start", HOURS[0], "--hours", "1", "--sources", "zoominfo", "--force",
                        "--crm-wait", "240")
            print(again.stdout[-2000:])
            assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-2000:]
            wait_for(lambda: alert("RESOLVED"), 180, "the alert to clear in Slack")
            wait_for(lambda: instance.get_latest_materialization_event(dg.AssetKey("final_report")), 240,
                     "the final report")
            assert BROKEN in set(instance.get_materialized_partitions(dg.AssetKey("crm_exports")))
            time.sleep(35)  # one more automation tick: the report must not go twice
            reports = instance.fetch_materializations(dg.AssetKey("final_report"), limit=10).records
            assert len(reports) == 1
            assert any("final" in str(m).lower() for m in sandbox_stats(env)["slack"]["messages"])

            ticks, failed, failures = failed_ticks(instance)
            print(f"sensor and schedule ticks: {ticks}, failed: {failed}")
            assert ticks > 0 and failed == 0, failures
            store.dispose()
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        daemon.wait(timeout=60)
