"""The CRM part of `lead-sprint status`."""

from __future__ import annotations

from typing import Any

from lead_assets.core.crm_config import CrmConfig
from lead_assets.store.crm_sync_state import state_counts
from lead_assets.store.lead_store import LeadStore


def crm_status(store: LeadStore, config: CrmConfig) -> dict[str, Any]:
    """Target, whether sync is on, the state counts of the target CRM and the synced leads."""
    if config.target is None:
        return {"target": None, "enabled": False, "message": "CRM_TARGET is unset: no CRM sync", "states": {}}
    counts = state_counts(store, config.target).get(config.target, {})
    synced = store.read_sql("SELECT count(*) AS n FROM leads WHERE crm_synced = :t", {"t": True})
    return {
        "target": config.target,
        "enabled": True,
        "message": f"syncing to {config.target}",
        "states": counts,
        "crm_synced": int(synced["n"].iloc[0]) if len(synced) else 0,
    }
