"""Asset keys and pool names of this sprint: the one place that names them.

Two code locations in one workspace cannot define the same asset key, so a multi-sprint
deployment (LEAD_SPRINT_ID set explicitly, one code location per sprint) prefixes every asset
and check key with the sprint id (`["perf-marketing-us", "raw_leads"]`) and gives the sprint
its own CRM pool. Unset (the demo, the tests, a single sprint), keys stay bare.
"""

from __future__ import annotations

import dagster as dg

from lead_assets.config.settings import explicit_sprint_id


def sprint_key_prefix() -> list[str]:
    """`[sprint id]` when LEAD_SPRINT_ID is set, else `[]` (read at call time: tests change the env)."""
    sprint = explicit_sprint_id()
    return [sprint] if sprint else []


def sprint_asset_key(name: str) -> dg.AssetKey:
    """The key of this sprint's asset `name` (`raw_leads`, `crm_exports`, `final_report`, ...)."""
    return dg.AssetKey([*sprint_key_prefix(), name])


def sprint_pool(name: str) -> str:
    """A concurrency pool of this sprint: `crm_sync`, or `crm_sync_<sprint>` in a multi-sprint deployment."""
    prefix = sprint_key_prefix()
    return f"{name}_{prefix[0]}" if prefix else name
