"""A multi-sprint deployment: every asset and check key carries the sprint id, the CRM pool is the sprint's own.

Keys are fixed when the definitions are imported, so each case loads them in a fresh process
with its own environment (as each sprint's code server does).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

PROBE = """
import json
from lead_assets.definitions import defs
from lead_assets.defs.crm import crm_exports, lead_sprint_automation
from lead_assets import sprint_runs
graph = defs().resolve_asset_graph()
print(json.dumps({
    "assets": sorted(k.to_user_string() for k in graph.get_all_asset_keys()),
    "checks": sorted(c.asset_key.to_user_string() for c in graph.asset_check_keys),
    "pool": crm_exports.op.pool,
    "automation": sorted(k.to_user_string() for k in lead_sprint_automation.asset_selection.resolve(graph)),
    "backfill": [sprint_runs.DONE_ASSET.to_user_string(), sprint_runs.EXPORT_ASSET.to_user_string()],
}))
"""


def probe(sprint_id: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "LEAD_SPRINT_ID"}
    if sprint_id:
        env["LEAD_SPRINT_ID"] = sprint_id
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_explicit_sprint_id_prefixes_every_key_and_the_crm_pool():
    keys = probe("perf-marketing-us")
    assert keys["assets"] and all(k.startswith("perf-marketing-us/") for k in keys["assets"])
    assert "perf-marketing-us/raw_leads" in keys["assets"]
    assert keys["checks"] and all(k.startswith("perf-marketing-us/") for k in keys["checks"])
    assert keys["pool"] == "crm_sync_perf-marketing-us"
    assert keys["automation"] == ["perf-marketing-us/crm_exports", "perf-marketing-us/final_report"]
    assert keys["backfill"] == ["perf-marketing-us/scored_leads", "perf-marketing-us/crm_exports"]


def test_without_a_sprint_id_keys_stay_bare():
    keys = probe(None)
    assert "raw_leads" in keys["assets"] and not any("/" in k for k in keys["assets"])
    assert keys["pool"] == "crm_sync"
    assert keys["automation"] == ["crm_exports", "final_report"]


def test_alerts_watch_only_their_own_sprints_asset_runs():
    from types import SimpleNamespace

    import dagster as dg

    from lead_assets.defs.alerts import _this_sprints

    east = SimpleNamespace(asset_selection={dg.AssetKey(["sprint-east", "raw_leads"])})
    west = SimpleNamespace(asset_selection={dg.AssetKey(["sprint-west", "crm_exports"])})
    job_run = SimpleNamespace(asset_selection=None)  # a named job's run: no selection to tell by
    assert _this_sprints(east, ["sprint-east"]) and not _this_sprints(west, ["sprint-east"])
    assert _this_sprints(job_run, ["sprint-east"])
    assert _this_sprints(west, [])  # one sprint: every run is its own
