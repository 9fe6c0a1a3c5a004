"""Scoring: each partition's leads scored again once enrichment has filled what it could."""


import dagster as dg

from lead_assets.core.for_people import for_people
from lead_assets.defs.keys import sprint_asset_key, sprint_key_prefix
from lead_assets.defs.partitions import sprint_partitions
from lead_assets.defs.resources import LeadStoreResource, SprintBriefResource
from lead_assets.pipeline.partition_work import rescore_partition
from lead_assets.store.metrics import sprint_metrics


@dg.asset(key_prefix=sprint_key_prefix(), partitions_def=sprint_partitions, deps=[sprint_asset_key("enriched_leads")],
          group_name="leads",
          kinds={"python", "sql"})
def scored_leads(context: dg.AssetExecutionContext, lead_store: LeadStoreResource, sprint: SprintBriefResource):
    """This partition's leads re-scored with everything now known, plus the sprint's running totals.

    Grain: one lead per person (table `leads`): `data_quality_score` 0-100 (required
    fields 30, email 30, company 20, title 10, location 10) and `is_qualified`. The
    metadata carries the partition's numbers and the whole sprint's, plotted over time.
    """
    store = lead_store.store()
    scored = rescore_partition(store, context.partition_key)
    cfg = sprint.brief()
    m = sprint_metrics(store)
    n = len(scored)
    meta = {
        "dagster/row_count": n,
        "partition_mean_score": round(float(scored["data_quality_score"].mean()), 2) if n else None,
        "partition_qualified": int(scored["is_qualified"].sum()) if n else 0,
        "sprint_progress_pct": round(100 * m["collected"] / cfg.targets.collected, 2),
    }
    meta.update({f"sprint_{k}": v for k, v in m.items() if isinstance(v, int | float) and v is not None})
    return dg.MaterializeResult(metadata=for_people({k: v for k, v in meta.items() if v is not None}))
