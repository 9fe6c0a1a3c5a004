"""Two sprints side by side on one Dagster instance, in the production topology (loopback only).

Each sprint is its own code location: a `dagster code-server start` process with its own env
(LEAD_SPRINT_ID, brief, lead store, CRM portal and token). One daemon on PostgreSQL instance
storage with the shipped dagster.yaml serves both through a workspace of two `grpc_server`
entries; runs are launched by each code server in processes of their own. Both sprints'
backfills are submitted at once with `lead-sprint run` and run concurrently, after a third
sprint with east's brief ran alone on the same instance (the wall-time baseline). Then: each store
holds exactly its own sandbox ground truth, each CRM portal holds exactly its own sprint's
exported leads, Redis holds only the two sprints' namespaces and the shared per-key rate
buckets (the dedup keys of each sprint lead to its own store's leads), the Apollo key both
sprints share was never answered 429, reports land under each sprint's folder of the shared
storage, and every sensor tick succeeded.

HubSpot's sandbox keeps one contact table for every token, so the two CRM portals are two
sandboxes; sprint B's Apollo calls go to sprint A's sandbox with the same key, so the two
sprints spend one Apollo budget there.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import psycopg
import pytest
import redis
import requests
import yaml

from lead_assets.config.environment import SANDBOX_BASE_URL_VARS, SANDBOX_DEFAULTS
from lead_assets.config.settings import load_sprint_config
from lead_assets.sandbox.launcher import ensure_sandbox, stop_sandbox
from lead_assets.sprint_runs import daemon_problem
from lead_assets.store.lead_store import LeadStore
from lead_assets_tests.ground_truth import compare, reachable
from lead_assets_tests.test_daemon_e2e import drop_database, failed_ticks, scratch_database, wait_for

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
HOURS = 2
SPRINTS = {  # sprint id -> (roles, metros) of its brief: other titles and other metros
    "sprint-east": (slice(0, 2), slice(0, 2)),
    "sprint-west": (slice(2, 4), slice(2, 4)),
    "sprint-solo": (slice(0, 2), slice(0, 2)),  # east's brief, run alone first: the wall-time baseline
}
CONCURRENT = ("sprint-east", "sprint-west")
# One Apollo key for both sprints, on sprint-east's sandbox: a tight per-minute search limit that
# each brief declares too, so only a budget the two sprints share keeps both under it.
SHARED_APOLLO_MINUTE = 40


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_brief(path: Path, sprint_id: str, roles: slice, metros: slice) -> Path:
    brief = yaml.safe_load((REPO / "lead_assets" / "config" / "sprint.yaml").read_text())
    brief["sprint"].update(id=sprint_id, hours=HOURS)
    brief["target_roles"] = brief["target_roles"][roles]
    brief["locations"] = brief["locations"][metros]
    brief["rate_limits"]["apollo"]["search"]["minute"] = SHARED_APOLLO_MINUTE
    path.write_text(yaml.safe_dump(brief))
    return path


def cli(env: dict, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lead_assets.cli", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def stats(url: str) -> dict:
    return requests.get(f"{url}/__sandbox/stats", timeout=10).json()["vendors"]


@pytest.fixture
def topology(tmp_path, redis_url):
    """Scratch databases, two sandboxes, per-sprint env and briefs; everything torn down after."""
    dagster_db, dagster_url = scratch_database("leadsprint_two_dagster")
    made = [dagster_db]
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    pg = psycopg.conninfo.conninfo_to_dict(dagster_url)
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("LEADS_DATABASE", "REDIS_URL", "DAGSTER_", "LEAD_SPRINT_", "SALES_NAVIGATOR",
                                 *SANDBOX_BASE_URL_VARS, *SANDBOX_DEFAULTS))}
    base.update(DAGSTER_HOME=str(home), DAGSTER_PG_HOST=pg.get("host", "127.0.0.1"),
                DAGSTER_PG_PORT=str(pg.get("port", 5432)), DAGSTER_PG_USER=pg.get("user", "root"),
                DAGSTER_PG_PASSWORD=pg.get("password", ""), DAGSTER_PG_DB=dagster_db,
                LEAD_SPRINT_STATE_DIR=str(tmp_path / "state"))
    sandboxes = {}
    sprints = {}
    try:
        for sprint_id, (roles, metros) in SPRINTS.items():
            state = tmp_path / f"sandbox-{sprint_id}.json"
            token = f"{sprint_id}-hubspot-token"
            sandboxes[sprint_id] = (state, ensure_sandbox(
                state, keys={"hubspot": {"valid": [token]}},
                limits={"apollo": {"search": {"minute": SHARED_APOLLO_MINUTE}}}))
            leads_db, leads_url = scratch_database(f"leadsprint_two_{sprint_id.replace('-', '_')}")
            made.append(leads_db)
            url = sandboxes[sprint_id][1].rstrip("/")
            env = {**base, **SANDBOX_DEFAULTS, **{var: url + p for var, p in SANDBOX_BASE_URL_VARS.items()}}
            env.update(
                LEAD_SPRINT_ID=sprint_id, LEADS_DATABASE_URL=leads_url, REDIS_URL=redis_url,
                LEAD_SPRINT_CONFIG=str(write_brief(tmp_path / f"{sprint_id}.yaml", sprint_id, roles, metros)),
                LEAD_SPRINT_STORAGE_URL=str(tmp_path / "storage"), HUBSPOT_ACCESS_TOKEN=token,
            )
            sprints[sprint_id] = env
        east_url = sandboxes["sprint-east"][1].rstrip("/")
        sprints["sprint-west"]["APOLLO_BASE_URL"] = east_url + SANDBOX_BASE_URL_VARS["APOLLO_BASE_URL"]
        yield base, sprints, {s: u.rstrip("/") for s, (_, u) in sandboxes.items()}, tmp_path
    finally:
        for state, _ in sandboxes.values():
            stop_sandbox(state)
        for name in made:
            drop_database(name)


def start(argv: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(argv, cwd=REPO, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def run_sprints(sprints: dict, ids) -> float:
    """`lead-sprint run` for each sprint at once, each with its own env; the wall time until all finished."""
    started = time.monotonic()
    runs = {sprint_id: subprocess.Popen([sys.executable, "-m", "lead_assets.cli", "run", "--crm-wait", "300"],
                                        cwd=REPO, env=sprints[sprint_id], stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)
            for sprint_id in ids}
    outputs = {sprint_id: proc.communicate(timeout=600) for sprint_id, proc in runs.items()}
    seconds = time.monotonic() - started
    for sprint_id, (out, err) in outputs.items():
        print(f"--- {sprint_id}\n{out[-1200:]}")
        assert runs[sprint_id].returncode == 0 and "Traceback" not in err, out[-3000:] + err[-3000:]
    return seconds


def redis_namespaces(url: str) -> dict[str, list[str]]:
    """Every key in the test database, by its hash tag (`{ls:<sprint>}`, `{rl:<vendor>:...}`)."""
    client = redis.Redis.from_url(url, decode_responses=True)
    out: dict[str, list[str]] = {}
    for key in client.scan_iter("*", count=1000):
        tag = key[: key.index("}") + 1] if key.startswith("{") and "}" in key else key
        out.setdefault(tag, []).append(key)
    client.close()
    return out


@pytest.mark.timeout(900)
def test_two_sprints_run_concurrently_on_one_instance(topology, redis_url):
    base, sprints, sandbox_urls, tmp_path = topology
    for env in sprints.values():
        setup = cli(env, "crm", "setup")  # the sprint's HubSpot portal gets its properties once
        assert setup.returncode == 0, setup.stdout[-2000:] + setup.stderr[-2000:]

    ports = {sprint_id: free_port() for sprint_id in sprints}
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(yaml.safe_dump({"load_from": [
        {"grpc_server": {"host": "127.0.0.1", "port": port, "location_name": sprint_id}}
        for sprint_id, port in ports.items()]}))
    procs = [start([str(BIN / "dagster"), "code-server", "start", "-h", "127.0.0.1", "-p", str(port),
                    "-m", "lead_assets.definitions", "-d", str(REPO), "--location-name", sprint_id],
                   sprints[sprint_id], tmp_path / f"code-server-{sprint_id}.log")
             for sprint_id, port in ports.items()]
    os.environ.update({k: base[k] for k in base if k.startswith("DAGSTER_PG_")})  # this process reads the instance
    try:
        for sprint_id, port in ports.items():
            wait_for(lambda port=port: subprocess.run(
                [str(BIN / "dagster"), "api", "grpc-health-check", "-p", str(port), "-h", "127.0.0.1"],
                capture_output=True, timeout=30).returncode == 0, 240, f"{sprint_id}'s code server", interval=2)
        procs.append(start([str(BIN / "dagster-daemon"), "run", "-w", str(workspace)], base, tmp_path / "daemon.log"))
        with dg.DagsterInstance.from_config(base["DAGSTER_HOME"]) as instance:
            wait_for(lambda: daemon_problem(instance) is None, 180, "the daemon's first heartbeat", interval=1.0)

        alone_seconds = run_sprints(sprints, ["sprint-solo"])
        # Both sprints' backfills at once, each submitted with its own env.
        both_seconds = run_sprints(sprints, CONCURRENT)

        with dg.DagsterInstance.from_config(base["DAGSTER_HOME"]) as instance:
            for sprint_id, env in sprints.items():
                cfg = load_sprint_config(env["LEAD_SPRINT_CONFIG"])
                scored = instance.get_materialized_partitions(dg.AssetKey([sprint_id, "scored_leads"]))
                exported = instance.get_materialized_partitions(dg.AssetKey([sprint_id, "crm_exports"]))
                assert len(scored) == HOURS * 3 and exported == scored, (sprint_id, scored, exported)

                # The store holds exactly this sprint's ground truth (its brief's slices), nothing of the other's.
                store = LeadStore(env["LEADS_DATABASE_URL"])
                truth = {v: reachable(sandbox_urls[sprint_id], v, cfg=cfg) for v in ("apollo", "zoominfo")}
                verdict = compare(store, truth)
                print(f"{sprint_id}: {verdict.summary()}")
                assert verdict.people > 0 and verdict.exact, verdict.summary()

                # Its CRM portal holds its exported leads and nobody else's.
                synced = int(store.read_sql("SELECT count(*) AS n FROM crm_sync_state "
                                            "WHERE state IN ('created', 'updated')").iloc[0]["n"])
                hubspot = stats(sandbox_urls[sprint_id])["hubspot"]
                assert hubspot["contacts_total"] == synced > 0 and hubspot["duplicate_emails"] == 0

                # Redis: this sprint's dedup keys all lead to this sprint's leads.
                leads = set(store.read_sql("SELECT lead_id FROM leads")["lead_id"])
                client = redis.Redis.from_url(redis_url, decode_responses=True)
                keys = [k for k in client.scan_iter(f"{{ls:{sprint_id}}}:k:*", count=1000)]
                values = {v for v in client.mget(keys) if v is not None} if keys else set()
                client.close()
                assert keys and values <= leads, f"{sprint_id}: {len(values - leads)} dedup keys lead elsewhere"
                store.dispose()

                # Its reports under the sprint's own folder of the shared storage.
                wait_for(lambda s=sprint_id: (tmp_path / "storage" / s / "reports" / "final-report.html").exists(),
                         180, f"{sprint_id}'s final report in its storage folder")

            assert sorted(p.name for p in (tmp_path / "storage").iterdir()) == sorted(sprints)
            namespaces = redis_namespaces(redis_url)
            print("redis namespaces:", {tag: len(keys) for tag, keys in sorted(namespaces.items())})
            sprint_tags = {f"{{ls:{s}}}" for s in sprints}
            assert sprint_tags <= set(namespaces)
            stray = [t for t in namespaces if t not in sprint_tags and not t.startswith("{rl:")]
            assert not stray, f"keys outside the two sprints' namespaces and the rate buckets: {stray}"
            apollo_buckets = {t for t in namespaces if t.startswith("{rl:apollo:search:")}
            assert len(apollo_buckets) == 1, f"one shared Apollo key is one budget: {apollo_buckets}"

            apollo = stats(sandbox_urls["sprint-east"])["apollo"]
            print(f"shared Apollo key: {apollo['credits_consumed']} credits, 429s {apollo['rate_limited']}")
            assert sum(apollo["rate_limited"].values()) == 0

            ticks, failed, failures = failed_ticks(instance)
            print(f"sensor and schedule ticks: {ticks}, failed: {failed}")
            assert ticks > 0 and failed == 0, failures
        print(f"wall time (backfill + CRM exports): one sprint alone {alone_seconds:.0f}s, two sprints "
              f"concurrently {both_seconds:.0f}s ({both_seconds / alone_seconds:.2f}x)")
    finally:
        for proc in reversed(procs):
            stop(proc)
