"""The real daemon on PostgreSQL instance storage: a schedule and a sensor fire and their runs succeed.

Slow by nature (the daemon ticks on wall-clock minutes): one test, bounded by a deadline.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from lead_assets.sandbox.population import Population
from lead_assets.sandbox.sales_navigator_export import export_csv

REPO = Path(__file__).resolve().parents[1]
ADMIN_URL = os.environ.get("LEADS_TEST_PG_ADMIN_URL", "postgresql://root@127.0.0.1:5432/postgres")
DEADLINE_S = 240


@pytest.fixture
def dagster_pg():
    name = f"leadsprint_dagster_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        # dagster-postgres needs the psycopg2 driver named (SQLAlchemy 2.1 defaults to psycopg 3)
        yield ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg2://") + "/" + name
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_daemon_fires_a_schedule_and_a_sensor_for_real(tmp_path, dagster_pg):
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        "storage:\n  postgres:\n    postgres_url: {env: LEADS_TEST_DAGSTER_PG_URL}\n"
        "run_monitoring:\n  enabled: true\n  free_slots_after_run_end_seconds: 60\ntelemetry:\n  enabled: false\n"
    )
    imports = tmp_path / "imports"
    imports.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEADS_DATABASE", "REDIS_URL", "DAGSTER_"))}
    env.update(
        DAGSTER_HOME=str(home),
        LEADS_TEST_DAGSTER_PG_URL=dagster_pg,
        LEAD_SPRINT_STATE_DIR=str(tmp_path / "state"),
        LEAD_SPRINT_SANDBOX="1",
        SALES_NAVIGATOR_IMPORT_DIR=str(imports),
        LEAD_SPRINT_HOURLY_REPORT_CRON="* * * * *",
    )
    bin_dir = Path(sys.executable).parent
    started = subprocess.run(
        [str(bin_dir / "dagster"), "schedule", "start", "hourly_report_schedule", "-w", "workspace.yaml"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )
    assert started.returncode == 0, started.stderr[-2000:]
    (imports / "team_list.csv").write_bytes(export_csv(Population.generate(7, 1500, None), share=0.05))

    daemon = subprocess.Popen(
        [str(bin_dir / "dagster-daemon"), "run", "-w", "workspace.yaml"], cwd=REPO, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    os.environ["LEADS_TEST_DAGSTER_PG_URL"] = dagster_pg
    try:
        deadline = time.monotonic() + DEADLINE_S
        done: dict[str, dg.DagsterRun] = {}
        with dg.DagsterInstance.from_config(str(home)) as instance:
            while time.monotonic() < deadline and len(done) < 2:
                time.sleep(5)
                for run in instance.get_runs(limit=20):
                    if run.status in (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE):
                        if run.job_name == "hourly_report_job" and run.tags.get("dagster/schedule_name"):
                            done["schedule"] = run
                        if run.tags.get("dagster/sensor_name") == "sales_navigator_files_sensor":
                            done["sensor"] = run
        assert set(done) == {"schedule", "sensor"}, f"daemon launched only {sorted(done)} in {DEADLINE_S}s"
        assert all(run.status == dg.DagsterRunStatus.SUCCESS for run in done.values())
        assert done["sensor"].tags["dagster/partition"].endswith("|sales_navigator")
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        daemon.wait(timeout=60)
        subprocess.run([sys.executable, "-m", "lead_assets.cli", "sandbox", "stop"], cwd=REPO, env=env,
                       capture_output=True, timeout=60)
        os.environ.pop("LEADS_TEST_DAGSTER_PG_URL", None)
